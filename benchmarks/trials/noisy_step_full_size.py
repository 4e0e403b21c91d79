"""Trial (issue 26): the kernel-aware data step on a whole real DICOM with realistic
noise, the learned step against Morozov's rule, given the true kernel.

Each file of ``--files`` (in ``../shared/data/dicom``; I/O test files, in no split) is
blurred at full size (``--blurs``: Gaussian sigma 2 px, straight motion 9 px at 30
degrees), given Poisson noise of ``--doses`` photons at full scale and stored on its own
bit depth. The blind network runs once per case; then Morozov's rule
(:func:`xraydeblur.infer.data_step.morozov_correction`, the former noisy-input rule) and
the shipped :func:`xraydeblur.infer.data_step.data_step` (the learned step, its solves
capped on noisy input) each correct its output. Prints PSNR (dB, against the stored
original, which carries its own noise) and seconds (two threads unless
``XRAYDEBLUR_THREADS`` says otherwise) and writes JSON.

    python benchmarks/trials/noisy_step_full_size.py --out benchmarks/results/trials/noisy_step_full_size.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

BLURS = {"gaussian2": ("gaussian", {"sigma": 2.0}), "motion9": ("motion", {"length": 9.0, "angle": 30.0})}


def main() -> None:
    from xraydeblur.classical import estimate_balance, kernel_noise_sigma
    from xraydeblur.data import data_root
    from xraydeblur.degrade import blur, make_kernel, quantize
    from xraydeblur.degrade.noise import poisson_gaussian_noise
    from xraydeblur.infer.data_step import data_step, morozov_correction, recording
    from xraydeblur.io import read_radiograph
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", nargs="+", default=["966_fixed.dcm"])
    p.add_argument("--blurs", nargs="+", choices=list(BLURS), default=list(BLURS))
    p.add_argument("--doses", type=float, nargs="+", default=[2e4, 1e6])
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    blind = get_method("nafnet-blind")
    records = []
    for name in args.files:
        rad = read_radiograph(data_root() / "dicom" / name)
        original = rad.pixels.astype(np.float32)
        bits = int(rad.bits_stored or 16)
        for blur_name in args.blurs:
            kind, params = BLURS[blur_name]
            kernel = make_kernel(kind, **params)
            blurred = blur(original, kernel)
            for dose in args.doses:
                degraded = quantize(poisson_gaussian_noise(blurred, dose, 0.0, seed=0), min(bits, 16)).astype(np.float32)
                started = time.perf_counter()
                z = blind(degraded)
                blind_s = time.perf_counter() - started
                noise = kernel_noise_sigma(degraded, kernel)
                started = time.perf_counter()
                balance = estimate_balance(degraded, kernel, "gradient", noise_sigma=noise)
                morozov = morozov_correction(degraded, z, kernel, noise, balance, "gradient")
                morozov_s = time.perf_counter() - started
                started = time.perf_counter()
                with recording() as steps:
                    shipped = data_step(degraded, z, kernel)
                shipped_s = time.perf_counter() - started
                record = {
                    "file": name, "shape": list(original.shape), "bits": bits, "blur": blur_name, "dose": dose, "noise": noise,
                    "rule": steps[-1]["rule"], "noisy": bool(steps[-1].get("noisy", True)),
                    "input": psnr(original, degraded), "blind": psnr(original, z), "morozov": psnr(original, morozov), "shipped": psnr(original, shipped),
                    "blind s": blind_s, "morozov s": morozov_s, "shipped s": shipped_s,
                }
                records.append(record)
                print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in record.items()}), flush=True)
    print("\n| file | blur | photons | noise rms | input | blind | Morozov | learned step (shipped) | seconds: blind / Morozov / learned |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in records:
        print(f"| {r['file']} | {r['blur']} | {r['dose']:g} | {r['noise']:.1e} | {r['input']:.2f} | {r['blind']:.2f} | {r['morozov']:.2f} | {r['shipped']:.2f} | "
              f"{r['blind s']:.1f} / {r['morozov s']:.1f} / {r['shipped s']:.1f} |")
    if args.out:
        args.out.write_text(json.dumps({"command": "python benchmarks/trials/noisy_step_full_size.py " + " ".join(sys.argv[1:]), "records": records}, indent=1) + "\n")


if __name__ == "__main__":
    main()

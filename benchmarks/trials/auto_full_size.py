"""Trial: ``nafnet-auto`` against ``nafnet-blind`` on whole real DICOMs, as users run them.

Every DICOM in ``../shared/data/dicom`` at full size, as stored and blurred (Gaussian
sigma 2 px, straight motion 9 px at 30 degrees, disk radius 2 px; stored on the file's
own bit depth; with ``--dose``, Poisson noise of that many photons at full scale is added
after the blur, as a detector adds it), through :func:`xraydeblur.pipeline.restore` (default settings: no-blur
rule, denoise strength 0, safeguard, and its veto of an identified PSF). Prints per case
the PSF the estimator found, its confidence (and its parameters before the spectral
refinement), whether it was used or rejected by the safeguard, whether the image was
left unchanged, PSNR against the original (as-stored
cases: against the input) and seconds, and writes JSON.

    python benchmarks/trials/auto_full_size.py --out benchmarks/results/trials/auto_full_size.json
    python benchmarks/trials/auto_full_size.py --dose 20000 --out benchmarks/results/trials/auto_full_size-dose20000.json
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

BLURS = [("none", {}), ("gaussian", {"sigma": 2.0}), ("motion", {"length": 9.0, "angle": 30.0}), ("disk", {"radius": 2.0})]


def main() -> None:
    from xraydeblur.data import data_root
    from xraydeblur.degrade import blur, make_kernel, quantize
    from xraydeblur.degrade.noise import poisson_gaussian_noise
    from xraydeblur.infer import identify
    from xraydeblur.infer.learned_psf import estimate_learned_psf
    from xraydeblur.io import read_radiograph
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr
    from xraydeblur.pipeline import restore

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", nargs="+", default=["nafnet-blind", "nafnet-auto"])
    p.add_argument("--dose", type=float, default=0.0, help="photons at full scale for Poisson noise after the blur (0: none)")
    p.add_argument("--out", default="benchmarks/results/trials/auto_full_size.json")
    args = p.parse_args()
    records = []
    for path in sorted((data_root() / "dicom").glob("*.dcm")):
        rad = read_radiograph(path)
        original = rad.pixels
        bits = int(rad.bits_stored or 16)
        for kind, params in BLURS:
            blurred = original if kind == "none" else blur(original, make_kernel(kind, **params))
            if args.dose:
                blurred = poisson_gaussian_noise(blurred, args.dose, 0.0, seed=0)
            degraded = original if kind == "none" and not args.dose else quantize(blurred, min(bits, 16))
            for name in args.methods:
                identify.clear_cache()
                started = time.perf_counter()
                result = restore(degraded, get_method(name))
                seconds = time.perf_counter() - started
                facts = result.facts
                psf = facts.get("psf_identified") or {}
                network_only = estimate_learned_psf(degraded, refine=False).params if psf else None  # before the spectral refinement
                record = {
                    "file": path.name[:24],
                    "size": f"{original.shape[1]}x{original.shape[0]}",
                    "bits": bits,
                    "blur": kind,
                    "method": name,
                    "unchanged": bool(facts.get("unchanged")),
                    "psf_found": psf.get("label"),
                    "confidence": psf.get("confidence"),
                    "network_params": network_only,
                    "used": psf.get("used", psf.get("trusted")),
                    # trusted, but its restoration failed the safeguard: restored blind (pipeline.blind_fallback)
                    "rejected": "psf_rejected" in facts,
                    "psnr_vs_original": psnr(original, result.pixels),
                    "psnr_input": psnr(original, degraded) if kind != "none" or args.dose else None,
                    "safeguard_consistent": (facts.get("safeguard") or {}).get("consistent"),
                    "seconds": round(seconds, 2),
                }
                records.append(record)
                print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in record.items()}), flush=True)
    print("\n| file | blur | method | unchanged | PSF found (confidence, used) | PSNR vs original | seconds |")
    print("|---|---|---|---|---|---|---|")
    for r in records:
        verdict = "rejected by the safeguard" if r["rejected"] else "used" if r["used"] else "not used"
        found = f"{r['psf_found']} ({r['confidence']:.2f}, {verdict})" if r["psf_found"] else "-"
        print(f"| {r['file']} | {r['blur']} | {r['method']} | {r['unchanged']} | {found} | {r['psnr_vs_original']:.2f} | {r['seconds']:.1f} |")
    Path(args.out).write_text(json.dumps({"methods": args.methods, "blurs": BLURS, "dose": args.dose, "records": records}, indent=1) + "\n")


if __name__ == "__main__":
    main()

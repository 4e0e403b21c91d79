"""Trial (issue 26): the learned data step's candidates solved as one regularisation
path (:func:`xraydeblur.classical.wiener_path`) instead of one independent solve each,
and with fewer conjugate-gradient iterations. VALIDATION split for the crops (the test
split is never read); the whole-image part uses a real DICOM outside the splits.

The step (:func:`xraydeblur.infer.learned_step.learned_step`) solves 14 masked Wiener
problems (7 corrections of the blind output, 7 plain Wiener) that differ only in the
balance. Solved one by one, each CG starts from its periodic solution (exact away from
the borders) and spends its iterations on the borders; solved as a path from the
largest balance down, each starts from its periodic solution plus the previous solve's
border correction, which barely changes between neighbouring balances.

``crops``: on the benchmark's validation crops (``--max-images`` images, ``--crop`` px,
the 14 degradations, input bit depths ``--bits``), the blind network's output put
through the step three ways, with the data step's own noisy/noise-free decision
(:func:`xraydeblur.infer.data_step.noise_free_under`; noisy input caps every solve):

* ``separate``: one solve per candidate (``step_candidates(..., path=False)``, the step
  before the path), the iterations the step's JSON names, noisy input capped at ``--separate-noisy`` (20: the shipped cap);
* ``path``: the same iterations as a path;
* ``fast``: a path at ``--fast STRONG NORMAL WIENER NOISY`` iterations (the step JSON's
  ``cg_iterations_strong``, ``cg_iterations``, ``cg_iterations_wiener`` and
  ``noisy_cg_iterations``); the default 200 50 100 10 are the shipped iterations. What
  ships is ``fast`` on noisy input and ``separate`` on noise-free input (the path lost
  on whole noise-free DICOMs with an estimated PSF: docs/results.md section 12).

Prints per row the mean PSNR (dB, against the sharp crop) of each and the differences,
with the step's mean seconds, and writes JSON.

``whole``: one whole radiograph (``--dicom``, default ``966_fixed.dcm``, 2128 x 2000,
12 bit), blurred by 9 px motion at 30 degrees, noise-free and at ``--dose`` photons,
rounded to 12 bit: the step's seconds and PSNR for ``separate`` and ``fast``, and the
distance (dB) of each correction candidate from a ``--reference``-iteration solve.

    python benchmarks/trials/regularisation_path.py crops --out benchmarks/results/trials/regularisation_path-crops.json
    python benchmarks/trials/regularisation_path.py whole --out benchmarks/results/trials/regularisation_path-whole.json

and with fewer noise-free iterations (not shipped: on the whole DICOM a little below
the shipped iterations, and on the crops it keeps less of the path's gain):

    python benchmarks/trials/regularisation_path.py crops --fast 40 30 30 10 --out benchmarks/results/trials/regularisation_path-crops-40-30-30.json
    python benchmarks/trials/regularisation_path.py whole --fast 40 30 30 10 --out benchmarks/results/trials/regularisation_path-whole-40-30-30.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))


def fast_settings(settings: dict, fast: list[int]) -> tuple[dict, int]:
    """(settings with ``fast``'s three iteration counts, its noisy cap)."""
    strong, normal, wiener_iterations, noisy = fast
    return {**settings, "cg_iterations_strong": strong, "cg_iterations": normal, "cg_iterations_wiener": wiener_iterations}, noisy


def run_step(blurred, z, kernel, settings, noisy_cap, separate=False):
    """(step output, seconds) with the data step's noisy/noise-free decision."""
    from xraydeblur.classical import kernel_noise_sigma
    from xraydeblur.infer.data_step import is_noise_free
    from xraydeblur.infer.learned_step import blend_candidates, capped_iterations, step_candidates

    start = time.perf_counter()
    noise = float(kernel_noise_sigma(blurred, kernel))
    chosen = settings if is_noise_free(blurred, noise) else capped_iterations(settings, noisy_cap)
    _, stack = step_candidates(blurred, z, kernel, noise_sigma=noise, settings=chosen, path=not separate)
    out = blend_candidates(blurred, kernel, noise, stack)
    return out, time.perf_counter() - start


def crops(args) -> dict:
    from xraydeblur.cli.evaluate import subset
    from xraydeblur.data.splits import split_rows
    from xraydeblur.evaluate import benchmark_iter
    from xraydeblur.infer.learned_step import step_settings
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    settings = step_settings()
    fast, fast_cap = fast_settings(settings, args.fast)
    blind = get_method("nafnet-blind")
    rows = subset(split_rows("val"), args.max_images)
    records = []
    for bits in args.bits:
        for key, family, sharp, degraded, kernel in benchmark_iter(rows, args.crop, bits or None):
            z = blind(degraded)
            record = {"case": key, "row": family}
            for name, chosen, cap, separate in (("separate", settings, args.separate_noisy, True), ("path", settings, args.separate_noisy, False), ("fast", fast, fast_cap, False)):
                out, seconds = run_step(degraded, z, kernel, chosen, cap, separate)
                record[name], record[f"{name} s"] = psnr(sharp, out), seconds
            records.append(record)
            print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in record.items()}), flush=True)
    by_row = defaultdict(list)
    for r in records:
        by_row[r["row"]].append(r)
    table = []
    print("\n| degradation | separate | path | fast | path - separate | fast - separate | separate s | fast s |")
    print("|---|---|---|---|---|---|---|---|")
    for row, items in by_row.items():
        mean = {k: float(np.mean([r[k] for r in items])) for k in ("separate", "path", "fast", "separate s", "path s", "fast s")}
        table.append({"row": row, "n": len(items), **mean})
        print(
            f"| {row} | {mean['separate']:.2f} | {mean['path']:.2f} | {mean['fast']:.2f} | {mean['path'] - mean['separate']:+.3f} | "
            f"{mean['fast'] - mean['separate']:+.3f} | {mean['separate s']:.2f} | {mean['fast s']:.2f} |"
        )
    worst = {k: min(t[k] - t["separate"] for t in table) for k in ("path", "fast")}
    print(f"\nworst row, path - separate: {worst['path']:+.3f} dB; fast - separate: {worst['fast']:+.3f} dB")
    return {"table": table, "worst_row": worst, "records": records}


def whole(args) -> dict:
    from xraydeblur.degrade import blur, make_kernel
    from xraydeblur.classical import kernel_noise_sigma, wiener_path
    from xraydeblur.infer.learned_step import candidate_balance, capped_iterations, step_candidates, step_settings
    from xraydeblur.io.read import read_radiograph
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    sharp = np.asarray(read_radiograph(args.dicom).pixels, np.float32)
    kernel = make_kernel("motion", length=9.0, angle=30.0)
    settings = step_settings()
    fast, fast_cap = fast_settings(settings, args.fast)
    blind = get_method("nafnet-blind")
    rng = np.random.default_rng(0)
    results = []
    for dose in (0.0, args.dose):
        blurred = blur(sharp, kernel)
        if dose:
            blurred = np.clip(rng.poisson(blurred * dose) / dose, 0, 1)
        blurred = (np.round(blurred * 4095) / 4095).astype(np.float32)
        z = blind(blurred)
        result = {"dose": dose}
        for name, chosen, cap, separate in (("separate", settings, args.separate_noisy, True), ("fast", fast, fast_cap, False)):
            out, seconds = run_step(blurred, z, kernel, chosen, cap, separate)
            result[name], result[f"{name} s"] = psnr(sharp, out), seconds
        if args.reference:
            noise = float(kernel_noise_sigma(blurred, kernel))
            balances = [candidate_balance(blurred, kernel, noise, settings) * g for g in settings["gains"]]
            reference = wiener_path(blurred, kernel, balances, cg_iterations=args.reference, estimate=z)
            for name, chosen, cap in (("separate", settings, args.separate_noisy), ("fast", fast, fast_cap)):
                chosen = capped_iterations(chosen, cap if dose else None)
                corrections = step_candidates(blurred, z, kernel, noise_sigma=noise, settings=chosen, path=name == "fast")[1][1 : 1 + len(balances)]
                result[f"{name} candidates dB from converged"] = [round(psnr(r, c), 1) for r, c in zip(reference, corrections)]
        results.append(result)
        print(json.dumps(result), flush=True)
    return {"image": Path(args.dicom).name, "shape": list(sharp.shape), "blur": "motion 9 px, 30 deg", "results": results}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("part", choices=("crops", "whole"))
    p.add_argument("--max-images", type=int, default=4)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--bits", type=int, nargs="+", default=[0, 8, 12])
    p.add_argument("--fast", type=int, nargs=4, default=[200, 50, 100, 10], metavar=("STRONG", "NORMAL", "WIENER", "NOISY"))
    p.add_argument("--separate-noisy", type=int, default=20, help="the noisy cap of the separate solves (the shipped CG_ITERATIONS_NOISY)")
    p.add_argument("--dicom", default=None, help="whole: the radiograph (default the shared data's dicom/966_fixed.dcm)")
    p.add_argument("--dose", type=float, default=1e6)
    p.add_argument("--reference", type=int, default=300, help="whole: iterations of the converged reference (0: skip)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.part == "whole" and args.dicom is None:
        from xraydeblur.data.manifest import data_root

        args.dicom = str(data_root() / "dicom" / "966_fixed.dcm")
    result = crops(args) if args.part == "crops" else whole(args)
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    Path(args.out).write_text(json.dumps({"settings": settings, **result}, indent=1) + "\n")


if __name__ == "__main__":
    main()

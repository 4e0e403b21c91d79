"""Trial (issue 26): how finely the spectral fit must refine the learned estimator's
disk radius and motion length/angle before ``nafnet-auto``'s data step uses them, on the
VALIDATION split (the test split is never read).

On noise-free input the data step with a small gain inverts the blur almost exactly, so
it is as good as the PSF it is given. Per case (``--images`` evenly spaced validation
images, 256 px crops, the benchmark's disk and motion degradations with and without
noise, at each of ``--bits``; 0 = float) it reports:

* the data step (known-kernel gains) with the true PSF, with the estimator's parameters
  refined by the former grids (disk radius to 1/16 px, motion length to 1/4 px and
  angle to 1/2 degree), by a joint fine grid for motion (:data:`JOINT_FINE_PASSES`) and
  by the shipped ones (:data:`xraydeblur.classical.psf_search.REFINE_PASSES`): PSNR
  against the sharp crop, and the refinement's seconds (64 px Welch tiles, so nearly
  independent of the image size);
* the absolute error of each refined parameter;
* the sensitivity: the data step with the true PSF but its radius or length off by
  ``--offset-px`` (either side, the worse of the two), as a PSNR loss against the true PSF.

Prints one table per row and writes JSON.

    python benchmarks/trials/psf_refinement_step.py --out benchmarks/results/trials/psf_refinement_step.json
"""

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

#: the refinement grids before this trial (half-width, step) per pass
FORMER_PASSES = {
    "disk": [{"radius": (0.75, 1 / 16)}],
    "motion": [{"length": (3.0, 1.0), "angle": (6.0, 2.0)}, {"length": (0.75, 0.25), "angle": (1.5, 0.5)}],
}
#: a finer joint grid for motion (length 1/32 px x angle 1/8 degree in one pass) and the
#: disk's shipped passes: the alternative to the shipped joint-then-length-alone passes
JOINT_FINE_PASSES = {
    "disk": [{"radius": (0.75, 1 / 16)}, {"radius": (1 / 16, 1 / 128)}],
    "motion": FORMER_PASSES["motion"] + [{"length": (0.25, 1 / 32), "angle": (0.5, 1 / 8)}],
}
#: the width parameter of each family
WIDTH = {"disk": "radius", "motion": "length"}


def variants(shipped: dict) -> tuple:
    """(name, passes) of the refinements compared."""
    return (("former grids", FORMER_PASSES), ("joint fine grid", JOINT_FINE_PASSES), ("shipped grids", shipped))


def angle_error(a: float, b: float) -> float:
    """Absolute difference of two line angles (degrees, modulo 180)."""
    d = abs(a - b) % 180.0
    return min(d, 180.0 - d)


def main() -> None:
    from _trial import crops_at_bits

    from xraydeblur.classical.psf_search import REFINE_PASSES, _kernel, refine_psf
    from xraydeblur.infer.data_step import data_step
    from xraydeblur.infer.learned_psf import estimate_learned_psf, image_spectrum
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=6)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--bits", type=int, nargs="+", default=[0, 8, 12])
    p.add_argument("--offset-px", type=float, nargs="+", default=[0.03, 0.06])
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    blind = get_method("nafnet-blind")
    records = []
    for suffix, case, sharp, degraded, kernel in crops_at_bits(args.images, args.crop, args.bits):
        family = case.degradation.kind
        if family in WIDTH:
            started = time.perf_counter()
            z = blind(degraded)
            found = estimate_learned_psf(degraded, refine=False)
            true = dict(case.degradation.params)
            rec = {"case": case.key + suffix, "row": case.family + suffix, "true": true, "found": found.family, "network": found.params,
                   "true psf": psnr(sharp, data_step(degraded, z, kernel))}
            for offset in args.offset_px:
                worst = min(psnr(sharp, data_step(degraded, z, _kernel(family, {**true, WIDTH[family]: true[WIDTH[family]] + sign * offset}))) for sign in (-1, 1))
                rec[f"loss at {offset} px"] = rec["true psf"] - worst
            if found.family == family:
                power = image_spectrum(degraded)
                for name, passes in variants(REFINE_PASSES):
                    t0 = time.perf_counter()
                    params = refine_psf(degraded, family, found.params, 64, power, passes=passes)
                    rec[f"{name} seconds"] = time.perf_counter() - t0
                    rec[name] = psnr(sharp, data_step(degraded, z, _kernel(family, params)))
                    rec[f"{name} params"] = params
                    rec[f"{name} width error"] = abs(params[WIDTH[family]] - true[WIDTH[family]])
                    if family == "motion":
                        rec[f"{name} angle error"] = angle_error(params["angle"], true["angle"])
            rec["seconds"] = round(time.perf_counter() - started, 2)
            records.append(rec)
            print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in rec.items() if not k.endswith("params")}), flush=True)
    by_row = defaultdict(list)
    for r in records:
        by_row[r["row"]].append(r)
    table = {}
    for row, items in by_row.items():
        named = [r for r in items if "shipped grids" in r]
        entry = {"cases": len(items), "family named": len(named), "true psf": float(np.mean([r["true psf"] for r in named])) if named else None}
        for name, _ in variants(REFINE_PASSES):
            entry[name] = float(np.mean([r[name] for r in named])) if named else None
            entry[f"{name} median seconds"] = float(np.median([r[f"{name} seconds"] for r in named])) if named else None
            entry[f"{name} median width error"] = float(np.median([r[f"{name} width error"] for r in named])) if named else None
            if named and "angle error" in " ".join(named[0]):
                entry[f"{name} median angle error"] = float(np.median([r[f"{name} angle error"] for r in named]))
        for offset in args.offset_px:
            entry[f"loss at {offset} px"] = float(np.mean([r[f"loss at {offset} px"] for r in items]))
        table[row] = entry
    offsets = " | ".join(f"loss at {o} px" for o in args.offset_px)
    print(f"\n| row | named | true PSF | former grids | joint fine grid | shipped grids | width error former / joint / shipped (px) | seconds former / joint / shipped | {offsets} |")
    print("|---|---|---|---|---|---|---|---|" + "---|" * len(args.offset_px))
    for row, t in table.items():
        f = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        names = [name for name, _ in variants(REFINE_PASSES)]
        print(f"| {row} | {t['family named']}/{t['cases']} | {f(t['true psf'])} | " + " | ".join(f(t[n]) for n in names) + " | "
              + " / ".join(f(t[f"{n} median width error"]) for n in names) + " | " + " / ".join(f(t[f"{n} median seconds"]) for n in names) + " | "
              + " | ".join(f"{t[f'loss at {o} px']:.2f}" for o in args.offset_px) + " |")
    if args.out:
        args.out.write_text(json.dumps({"command": "python benchmarks/trials/psf_refinement_step.py " + " ".join(sys.argv[1:]), "split": "val",
                                        "former_passes": FORMER_PASSES, "joint_fine_passes": JOINT_FINE_PASSES, "shipped_passes": {k: REFINE_PASSES[k] for k in WIDTH}, "table": table, "records": records}, indent=1) + "\n")


if __name__ == "__main__":
    main()

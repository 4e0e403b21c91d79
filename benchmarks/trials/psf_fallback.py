"""Trial (issue 26): how often the pipeline drops a PSF that ``nafnet-auto`` identified
because the restoration under it failed the safeguard, and what that costs or saves.

:func:`xraydeblur.pipeline.restore` restores blind instead when a PSF-identifying
method's restoration under its own PSF fails the safeguard
(:func:`xraydeblur.pipeline.blind_fallback`). The benchmark tables score the method
alone; this scores the pipeline too. On the ``--split`` radiographs (patient scheme):

* ``crops``: the fixed benchmark's ``--crop`` px crops of ``--images`` evenly spaced
  images under its 14 degradations, at each input bit depth of ``--bits`` (0 = float);
* ``full``: the first ``--full`` of those images at full size under 9 px straight motion
  at a random angle and Gaussian sigma 2 px, at each ``--doses`` (photons at full scale),
  stored on 12 bits.

Per case: whether the method used a PSF it identified, whether the pipeline rejected it,
and PSNR (dB, against the sharp image, full restoration: denoise strength 1, forced) of
the method alone and of the pipeline; where it was rejected, also whether the safeguard
passes ``nafnet-kernel`` given the true kernel (a wrong PSF, or an edge the data step
under-fits at that noise whatever the PSF). Prints a table per row and writes JSON.

    python benchmarks/trials/psf_fallback.py --out benchmarks/results/trials/psf_fallback-val.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))


def score(key: str, row: str, sharp, degraded, true_kernel, method, border: int = 0) -> dict:
    """One case: the method alone and the pipeline (only run where a PSF was used); where
    the pipeline rejected the PSF, also ``nafnet-kernel`` given the true kernel through
    the pipeline: does the safeguard pass the restoration under the right PSF?"""
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr
    from xraydeblur.pipeline import restore

    kernel, _ = method.kernel_in_use(degraded)
    alone = psnr(sharp, method(degraded), border=border)
    record = {"case": key, "row": row, "psf_used": kernel is not None, "method": alone, "pipeline": alone, "rejected": False}
    if kernel is not None:
        facts = (result := restore(degraded, method, denoise=1.0, force=True)).facts
        record.update(pipeline=psnr(sharp, result.pixels, border=border), rejected="psf_rejected" in facts)
        if record["rejected"]:
            record["rejected_check"] = facts["psf_rejected"]["safeguard"]
            true = restore(degraded, get_method("nafnet-kernel"), kernel=true_kernel, denoise=1.0, force=True)
            check = true.facts["safeguard"]
            record["true_kernel"] = {"psnr": psnr(sharp, true.pixels, border=border), "consistent": bool(check["consistent"]),
                                     "largest_flagged_region_px": check.get("largest_flagged_region_px")}
    return record


def main() -> None:
    from xraydeblur.cli.evaluate import subset
    from xraydeblur.data import load_image
    from xraydeblur.data.splits import split_rows
    from xraydeblur.degrade import blur, make_kernel, quantize
    from xraydeblur.degrade.noise import poisson_gaussian_noise
    from xraydeblur.evaluate import benchmark_iter
    from xraydeblur.methods import get_method

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", default="val", choices=("val", "test"))
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--bits", type=int, nargs="+", default=[0, 8, 12])
    p.add_argument("--full", type=int, default=8)
    p.add_argument("--doses", type=float, nargs="+", default=[20000.0, 2000.0])
    p.add_argument("--method", default="nafnet-auto")
    p.add_argument("--out", default="benchmarks/results/trials/psf_fallback-val.json")
    args = p.parse_args()

    method = get_method(args.method)
    rows = subset(split_rows(args.split), args.images)
    records = []
    for bits in args.bits:
        for key, row, sharp, degraded, kernel in benchmark_iter(rows, args.crop, bits or None):
            records.append({"set": "crops", **score(key, row, sharp, degraded, kernel, method)})
            print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in records[-1].items()}), flush=True)
    rng = np.random.default_rng(2026)
    for image_row in rows[: args.full]:
        sharp = load_image(image_row).astype(np.float64)
        for family, params in (("motion", {"length": 9.0, "angle": float(rng.uniform(0, 180))}), ("gaussian", {"sigma": 2.0})):
            kernel = make_kernel(family, **params)
            blurred = blur(sharp, kernel)
            for dose in args.doses:
                degraded = quantize(np.clip(poisson_gaussian_noise(blurred, dose, seed=int(rng.integers(1 << 30))), 0, 1), 12).astype(np.float32)
                name = f"{family}-full+dose{dose:g}"
                records.append({"set": "full", **score(f"{image_row.file}::{name}", name, sharp, degraded, kernel, method, border=16)})
                print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in records[-1].items()}), flush=True)
    by_row = defaultdict(list)
    for r in records:
        by_row[r["row"]].append(r)
    table = []
    print("\n| row | cases | PSF used | rejected | method alone (dB) | pipeline (dB) | rejected cases: method / pipeline (dB) |")
    print("|---|---|---|---|---|---|---|")
    for row, items in by_row.items():
        rejected = [r for r in items if r["rejected"]]
        entry = {"row": row, "cases": len(items), "psf_used": sum(r["psf_used"] for r in items), "rejected": len(rejected),
                 "method": float(np.mean([r["method"] for r in items])), "pipeline": float(np.mean([r["pipeline"] for r in items])),
                 "rejected_method": float(np.mean([r["method"] for r in rejected])) if rejected else None,
                 "rejected_pipeline": float(np.mean([r["pipeline"] for r in rejected])) if rejected else None}
        table.append(entry)
        tail = f"{entry['rejected_method']:.2f} / {entry['rejected_pipeline']:.2f}" if rejected else "-"
        print(f"| {row} | {entry['cases']} | {entry['psf_used']} | {entry['rejected']} | {entry['method']:.2f} | {entry['pipeline']:.2f} | {tail} |")
    used = sum(r["psf_used"] for r in records)
    dropped = sum(r["rejected"] for r in records)
    print(f"\nPSF used in {used} of {len(records)} cases; the pipeline rejected it in {dropped}")
    for r in records:
        if r["rejected"]:
            t = r["true_kernel"]
            print(f"rejected {r['case']}: method {r['method']:.2f} dB, pipeline (blind) {r['pipeline']:.2f} dB; nafnet-kernel with the true kernel "
                  f"{t['psnr']:.2f} dB, safeguard {'passed' if t['consistent'] else 'FAILED'}")
    Path(args.out).write_text(json.dumps({"command": "python benchmarks/trials/psf_fallback.py " + " ".join(sys.argv[1:]), "split": args.split,
                                          "method": args.method, "table": table, "records": records}, indent=1) + "\n")


if __name__ == "__main__":
    main()

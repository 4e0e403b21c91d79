"""Measure the given-PSF check (:mod:`xraydeblur.classical.given_psf`) at full size.

    python benchmarks/given_psf_rule.py --split val --out benchmarks/results/given_psf_rule.json
    python benchmarks/given_psf_rule.py --split test --out benchmarks/results/given_psf_rule-test.json

Every radiograph of the split (patient scheme) whole, at native resolution, rounded to
8 bit as the shared PNG/JPEG radiographs are: as stored (unblurred) and under each of
the benchmark's 14 degradations (Gaussian sigma 1/2/3, motion 5/9/15 px, disk 2 px,
each without and with dose noise; the benchmark's per-image angle and noise seed).

Claims checked, each a PSF a user could pass with ``--sigma`` / ``--psf``:

* ``true``: every degraded case with its own PSF (a flag is a false alarm);
* ``absent``: every unblurred radiograph with each of the benchmark's PSFs (the blur is
  not there: a flag is a catch);
* ``too wide``: the Gaussian sigma 1 cases (with and without noise) with sigma 3.

The table prints, per claim and degradation, the median fit ratio (given PSF over no
blur) and the share flagged (per cent) at the shipped :data:`MAX_FIT_RATIO` and at a few other
ratios, so the threshold's trade-off is visible.
"""

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from xraydeblur.classical.given_psf import MAX_FIT_RATIO, given_psf_check
from xraydeblur.data import benchmark_cases, load_image
from xraydeblur.data.splits import split_rows
from xraydeblur.degrade import gaussian_kernel, quantize

RATIOS = (1.0, 1.25, 1.5, 2.0, 3.0)


def measure(rows) -> list[dict]:
    cases = []
    for row in rows:
        image = load_image(row)
        sharp = quantize(image, 8)
        degraded_cases = benchmark_cases([row])
        for case in degraded_cases:
            if case.degradation.dose:
                continue
            check = given_psf_check(sharp, case.degradation.kernel())
            cases.append({"file": row.file, "claim": "absent", "case": case.degradation.name, "family": case.family, **check})
        for case in degraded_cases:
            degraded, kernel = case.degradation.apply(image, seed=case.seed)
            x = quantize(degraded, 8)
            cases.append({"file": row.file, "claim": "true", "case": case.degradation.name, "family": case.family, **given_psf_check(x, kernel)})
            if case.degradation.kind == "gaussian" and case.degradation.params.get("sigma") == 1:
                cases.append({"file": row.file, "claim": "too wide (sigma 3)", "case": case.degradation.name, "family": case.family,
                              **given_psf_check(x, gaussian_kernel(3.0))})
        print(f"{row.file}: {len(cases)} checks", file=sys.stderr, flush=True)
    return cases


def summarise(cases: list[dict]) -> dict:
    groups = defaultdict(list)
    for c in cases:
        if c.get("ratio") is not None:
            groups[(c["claim"], c["family"])].append(c["ratio"])
    out = {}
    for (claim, family), ratios in sorted(groups.items()):
        r = np.asarray(ratios)
        out.setdefault(claim, {})[family] = {"n": int(r.size), "median_ratio": round(float(np.median(r)), 3),
                                             "min_ratio": round(float(r.min()), 3), "max_ratio": round(float(r.max()), 3),
                                             "flagged_percent": {f"{t:g}": round(100 * float(np.mean(r > t)), 2) for t in RATIOS}}
    for claim in list(out):
        r = np.asarray([c["ratio"] for c in cases if c["claim"] == claim and c.get("ratio") is not None])
        out[claim]["all"] = {"n": int(r.size), "flagged_percent": {f"{t:g}": round(100 * float(np.mean(r > t)), 2) for t in RATIOS}}
    return out


def print_table(summary: dict) -> None:
    header = f"{'claim':20} {'degradation':26} {'n':>4} {'median':>7} " + " ".join(f"{'>' + format(t, 'g'):>6}" for t in RATIOS)
    print(header)
    print("-" * len(header))
    for claim, rows in summary.items():
        for family, row in rows.items():
            median = f"{row['median_ratio']:7.2f}" if "median_ratio" in row else " " * 7
            print(f"{claim:20} {family:26} {row['n']:4d} {median} " + " ".join(f"{row['flagged_percent'][f'{t:g}']:6.1f}" for t in RATIOS))
    print(f"\nshipped rule: contradicted when the ratio exceeds {MAX_FIT_RATIO} "
          "(true: share flagged = false alarms; absent / too wide: share flagged = caught)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="val", choices=("val", "test"))
    parser.add_argument("--max-images", type=int, default=0, help="0: every radiograph of the split")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    rows = split_rows(args.split)
    rows = rows[: args.max_images] if args.max_images else rows
    started = time.time()
    cases = measure(rows)
    summary = summarise(cases)
    print_table(summary)
    if args.out:
        args.out.write_text(json.dumps({
            "command": "python benchmarks/given_psf_rule.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "split": f"{args.split} (patient)", "images": len(rows), "size": "whole radiographs, 8-bit",
            "max_fit_ratio": MAX_FIT_RATIO, "summary": summary, "seconds": round(time.time() - started, 1), "cases": cases,
        }, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Choose the "no blur worth removing" threshold of the default pipeline on validation.

    python benchmarks/no_blur_rule.py --out benchmarks/results/no_blur_rule.json

On every validation-split radiograph (patient scheme): a centre crop of ``--crop`` px at
native resolution, as stored (unblurred) and under each of the benchmark's 14
degradations (Gaussian sigma 1/2/3, motion 5/9/15 px, disk 2 px, each without and with
dose noise), rounded to 8 bit as the shared PNG/JPEG radiographs are. For each case the
blur evidence of :func:`xraydeblur.classical.estimate.blur_evidence` is recorded: the
Gaussian-equivalent width in the most blurred direction and the high-frequency
anisotropy.

Rule (fixed before looking at the test split): an image shows blur worth removing when
its width exceeds ``--margin`` x the largest width of any unblurred validation crop, or
its anisotropy falls below the smallest anisotropy of any unblurred crop / ``--margin``:
every unblurred validation crop is judged sharp. The table prints the share of blurred
crops judged sharp (false negatives) per degradation. The two thresholds are written to
``src/xraydeblur/classical/no_blur_rule.json``, which the pipeline reads.
"""

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from xraydeblur.classical.estimate import blur_evidence
from xraydeblur.classical.no_blur import RULE_PATH, shows_blur
from xraydeblur.data import benchmark_cases, load_image
from xraydeblur.data.splits import split_rows
from xraydeblur.degrade import quantize



def measure(rows, crop: int) -> list[dict]:
    cases = []
    for row in rows:
        image = load_image(row)
        for i, case in enumerate(benchmark_cases([row], crop=crop)):
            sharp, degraded, _ = case.load(image)
            if i == 0:
                cases.append({"file": row.file, "family": "unblurred", **blur_evidence(quantize(sharp, 8))})
            cases.append({"file": row.file, "family": case.family, **blur_evidence(quantize(degraded, 8))})
    return cases


def choose(cases: list[dict], margin: float) -> dict:
    sharp = [c for c in cases if c["family"] == "unblurred"]
    rule = {
        "max_sigma_px": round(margin * max(c["sigma_px"] for c in sharp), 3),
        "min_hf_anisotropy": round(min(c["hf_anisotropy"] for c in sharp) / margin, 3),
    }
    by_family = defaultdict(list)
    for c in cases:
        by_family[c["family"]].append(c)
    table = {
        f: {"n": len(v), "median_sigma_px": float(np.median([c["sigma_px"] for c in v])), "median_hf_anisotropy": float(np.median([c["hf_anisotropy"] for c in v])),
            "judged_sharp": float(np.mean([not shows_blur(c, rule) for c in v]))}
        for f, v in by_family.items()
    }
    blurred = [not shows_blur(c, rule) for c in cases if c["family"] != "unblurred"]
    return {"rule": rule, "false_negative_rate": float(np.mean(blurred)), "per_family": table}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--crop", type=int, default=512)
    p.add_argument("--limit", type=int, default=None, help="first N validation images (smoke runs)")
    p.add_argument("--margin", type=float, default=1.5)
    p.add_argument("--write-rule", action="store_true", help=f"write the thresholds to {RULE_PATH}")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/no_blur_rule.json"))
    args = p.parse_args()
    rows = split_rows("val")[: args.limit]
    t0 = time.time()
    cases = measure(rows, args.crop)
    result = {"split": "val (patient)", "images": len(rows), "crop": args.crop, "margin": args.margin, **choose(cases, args.margin), "seconds": round(time.time() - t0, 1), "cases": cases}
    print(f"rule {result['rule']}; blurred judged sharp: {100 * result['false_negative_rate']:.1f} %")
    print(f"{'degradation':34s} {'n':>4s} {'width px':>9s} {'anisotropy':>10s} {'judged sharp':>12s}")
    for family, row in result["per_family"].items():
        print(f"{family:34s} {row['n']:4d} {row['median_sigma_px']:9.3f} {row['median_hf_anisotropy']:10.3f} {100 * row['judged_sharp']:11.1f}%")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    if args.write_rule:
        RULE_PATH.write_text(json.dumps({**result["rule"], "chosen_by": "python benchmarks/no_blur_rule.py --write-rule", "split": result["split"], "images": len(rows), "crop": args.crop, "margin": args.margin}, indent=2) + "\n")


if __name__ == "__main__":
    main()

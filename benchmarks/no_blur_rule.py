"""Choose the "no blur worth removing" threshold of the default pipeline on validation.

    python benchmarks/no_blur_rule.py --out benchmarks/results/no_blur_rule.json

On every validation-split radiograph (patient scheme): a centre crop of ``--crop`` px at
native resolution, as stored (unblurred) and under each of the benchmark's 14
degradations (Gaussian sigma 1/2/3, motion 5/9/15 px, disk 2 px, each without and with
dose noise), rounded to 8 bit as the shared PNG/JPEG radiographs are. For each case the
blur evidence of :func:`xraydeblur.classical.estimate.blur_evidence` is recorded: the
Gaussian-equivalent width in the most blurred direction and the high-frequency
anisotropy.

Rule (fixed before looking at the test split): of the unblurred validation crops at
least ``--sharp-pass`` (95 %) must be judged sharp, the allowed rest split evenly between
the two criteria: an image shows blur worth removing when its width exceeds the
(1 - (1 - pass) / 2) quantile of the unblurred crops' widths, or its anisotropy falls
below their (1 - pass) / 2 quantile. Some real radiographs are soft themselves (a
requirement that all of them pass would put the width threshold at their softest,
1.6 px, and miss 65 % of the blurred crops). The table prints the share of blurred
crops judged sharp (false negatives) per degradation. The two thresholds are written to
``src/xraydeblur/classical/no_blur_rule.json``, which the pipeline reads;
``--from-json`` re-chooses from a previous run's measurements.
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


def choose(cases: list[dict], sharp_pass: float) -> dict:
    sharp = [c for c in cases if c["family"] == "unblurred"]
    tail = (1.0 - sharp_pass) / 2
    rule = {
        "max_sigma_px": round(float(np.quantile([c["sigma_px"] for c in sharp], 1.0 - tail)), 3),
        "min_hf_anisotropy": round(float(np.quantile([c["hf_anisotropy"] for c in sharp], tail)), 3),
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
    p.add_argument("--sharp-pass", type=float, default=0.95, help="share of unblurred validation crops that must be judged sharp")
    p.add_argument("--from-json", type=Path, help="re-choose the rule from this earlier output (no new measurements)")
    p.add_argument("--write-rule", action="store_true", help=f"write the thresholds to {RULE_PATH}")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/no_blur_rule.json"))
    args = p.parse_args()
    rows = split_rows("val")[: args.limit]
    t0 = time.time()
    if args.from_json:
        earlier = json.loads(args.from_json.read_text())
        cases, seconds = earlier["cases"], earlier["seconds"]
    else:
        cases, seconds = measure(rows, args.crop), round(time.time() - t0, 1)
    result = {"split": "val (patient)", "images": len({c["file"] for c in cases}), "crop": args.crop, "sharp_pass": args.sharp_pass, **choose(cases, args.sharp_pass), "seconds": seconds, "cases": cases}
    print(f"rule {result['rule']}; blurred judged sharp: {100 * result['false_negative_rate']:.1f} %")
    print(f"{'degradation':34s} {'n':>4s} {'width px':>9s} {'anisotropy':>10s} {'judged sharp':>12s}")
    for family, row in result["per_family"].items():
        print(f"{family:34s} {row['n']:4d} {row['median_sigma_px']:9.3f} {row['median_hf_anisotropy']:10.3f} {100 * row['judged_sharp']:11.1f}%")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    if args.write_rule:
        RULE_PATH.write_text(json.dumps({**result["rule"], "chosen_by": "python benchmarks/no_blur_rule.py --write-rule", "split": result["split"], "images": result["images"], "crop": args.crop, "sharp_pass": args.sharp_pass, "false_negative_rate": result["false_negative_rate"]}, indent=2) + "\n")


if __name__ == "__main__":
    main()

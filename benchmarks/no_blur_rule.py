"""Choose the "no blur worth removing" rule of the default pipeline on validation, at full size.

    python benchmarks/no_blur_rule.py --write-rule --out benchmarks/results/no_blur_rule.json

Every validation-split radiograph (patient scheme) whole, at native resolution, as
stored (unblurred) and under each of the benchmark's 14 degradations (Gaussian sigma
1/2/3, motion 5/9/15 px, disk 2 px, each without and with dose noise; the benchmark's
per-image motion angle and noise seed), rounded to 8 bit as the shared PNG/JPEG
radiographs are. Whole images, because that is what users send: the rule was first
chosen on 512 px centre crops, and on the whole radiographs a third of the unblurred
ones then counted as blurred (the periphery's collimator edges, background and labels
make the high frequencies anisotropic).

Per case: the blur evidence (:func:`xraydeblur.classical.no_blur.image_blur_evidence`:
width in the most blurred direction, high-frequency anisotropy) on the central region
of each margin of ``--margins``, as the pipeline reads it, and the
learned PSF estimator's motion cue on the whole image
(:func:`xraydeblur.classical.no_blur.motion_cue`: straight motion at
``--motion-min-confidence`` or more, 0.3; it is kept in the rule so that re-choosing
``nafnet-auto``'s own thresholds does not move the default pipeline).

Rule (fixed before looking at the test split), per margin: of the unblurred radiographs
at least ``--sharp-pass`` (95 %) must be judged sharp by the evidence, the allowed rest
split evenly between the two criteria (an image shows blur when its width exceeds the
(1 - (1 - pass) / 2) quantile of the unblurred images' widths, or its anisotropy falls
below their (1 - pass) / 2 quantile); an image also shows blur when the motion cue
finds straight motion. The margin with the fewest blurred images judged sharp is
chosen (the smaller margin on a tie). The table prints, per margin, the unblurred share
judged blurred and the blurred share judged sharp, then per degradation at the chosen
margin, and how the former rule (``--former``: chosen on 512 px crops, read on the
whole image, no motion cue) calls the same images. ``--write-rule`` writes the rule to ``src/xraydeblur/classical/no_blur_rule.json``,
which the pipeline reads; ``--from-json`` re-chooses from a previous run's measurements.
"""

import argparse
import json
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

from xraydeblur.classical.no_blur import RULE_PATH, image_blur_evidence, motion_cue, shows_blur
from xraydeblur.data import benchmark_cases, load_image
from xraydeblur.data.splits import split_rows
from xraydeblur.degrade import quantize

MARGINS = (0.0, 0.05, 0.1, 0.15, 0.2)
#: the motion cue's confidence: nafnet-auto's motion threshold when the cue and the blind
#: add-back PSF were chosen (written into the rule, which the pipeline reads)
MOTION_MIN_CONFIDENCE = 0.3


def _case(row, family: str, pixels: np.ndarray, margins, motion_min_confidence: float) -> dict:
    x = quantize(pixels, 8)
    evidence = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for m in margins:
            e = image_blur_evidence(x, m)
            evidence[f"{m:g}"] = {"sigma_px": float(e["sigma_px"]), "hf_anisotropy": float(e["hf_anisotropy"])}
    return {"file": row.file, "family": family, "shape": list(x.shape), "evidence": evidence, "motion": motion_cue(x, min_confidence=motion_min_confidence)}


def measure(rows, margins, motion_min_confidence: float) -> list[dict]:
    cases = []
    for row in rows:
        image = load_image(row)
        cases.append(_case(row, "unblurred", image, margins, motion_min_confidence))
        for case in benchmark_cases([row]):
            degraded, _ = case.degradation.apply(image, seed=case.seed)
            cases.append(_case(row, case.family, degraded, margins, motion_min_confidence))
        print(f"{row.file}: {len(cases)} cases", file=sys.stderr, flush=True)
    return cases


def choose(cases: list[dict], sharp_pass: float, margin: str) -> dict:
    """The rule at one margin, and how it calls every case."""
    sharp = [c["evidence"][margin] for c in cases if c["family"] == "unblurred"]
    tail = (1.0 - sharp_pass) / 2
    rule = {
        "max_sigma_px": round(float(np.quantile([e["sigma_px"] for e in sharp], 1.0 - tail)), 3),
        "min_hf_anisotropy": round(float(np.quantile([e["hf_anisotropy"] for e in sharp], tail)), 3),
        "evidence_margin": float(margin),
    }

    def blurred(c, with_motion=True):
        return shows_blur(c["evidence"][margin], rule) or (with_motion and c["motion"]["shows_motion"])

    by_family = defaultdict(list)
    for c in cases:
        by_family[c["family"]].append(c)
    table = {
        f: {"n": len(v),
            "median_sigma_px": float(np.median([c["evidence"][margin]["sigma_px"] for c in v])),
            "median_hf_anisotropy": float(np.median([c["evidence"][margin]["hf_anisotropy"] for c in v])),
            "judged_sharp_evidence_only": float(np.mean([not blurred(c, False) for c in v])),
            "judged_sharp": float(np.mean([not blurred(c) for c in v]))}
        for f, v in by_family.items()
    }
    blur_cases = [c for c in cases if c["family"] != "unblurred"]
    return {
        "rule": rule,
        "unblurred_judged_blurred": float(np.mean([blurred(c) for c in cases if c["family"] == "unblurred"])),
        "false_negative_rate": float(np.mean([not blurred(c) for c in blur_cases])),
        "false_negative_rate_evidence_only": float(np.mean([not blurred(c, False) for c in blur_cases])),
        "per_family": table,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--limit", type=int, default=None, help="first N validation images (smoke runs)")
    p.add_argument("--margins", type=float, nargs="+", default=list(MARGINS))
    p.add_argument("--sharp-pass", type=float, default=0.95, help="share of unblurred validation radiographs the evidence must judge sharp")
    p.add_argument("--from-json", type=Path, help="re-choose the rule from this earlier output (no new measurements)")
    p.add_argument("--write-rule", action="store_true", help=f"write the rule to {RULE_PATH}")
    p.add_argument("--motion-min-confidence", type=float, default=MOTION_MIN_CONFIDENCE,
                   help="confidence the motion cue needs (default: the motion threshold nafnet-auto had when the cue and the blind add-back PSF were chosen)")
    p.add_argument("--former", type=float, nargs=2, default=[1.29, 0.712], metavar=("MAX_SIGMA_PX", "MIN_HF_ANISOTROPY"),
                   help="also score this rule as it was used before (whole image, no motion cue): the one chosen on 512 px crops")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/no_blur_rule.json"))
    args = p.parse_args()
    t0 = time.time()
    if args.from_json:
        earlier = json.loads(args.from_json.read_text())
        cases, seconds = earlier["cases"], earlier["seconds"]
    else:
        cases, seconds = measure(split_rows("val")[: args.limit], args.margins, args.motion_min_confidence), round(time.time() - t0, 1)
    margins = list(cases[0]["evidence"])
    per_margin = {m: choose(cases, args.sharp_pass, m) for m in margins}
    best = min(margins, key=lambda m: (per_margin[m]["false_negative_rate"], float(m)))
    print(f"{'margin':>6s} {'max width':>9s} {'min aniso':>9s} {'sharp judged blurred':>21s} {'blurred judged sharp':>21s} {'(evidence only)':>16s}")
    for m, r in per_margin.items():
        print(f"{m:>6s} {r['rule']['max_sigma_px']:9.3f} {r['rule']['min_hf_anisotropy']:9.3f} {100 * r['unblurred_judged_blurred']:20.1f}% "
              f"{100 * r['false_negative_rate']:20.1f}% {100 * r['false_negative_rate_evidence_only']:15.1f}%")
    chosen = per_margin[best]
    former_rule = {"max_sigma_px": args.former[0], "min_hf_anisotropy": args.former[1]}
    former = {"rule": former_rule, "evidence_margin": 0.0, "motion_cue": False,
              "unblurred_judged_blurred": float(np.mean([shows_blur(c["evidence"]["0"], former_rule) for c in cases if c["family"] == "unblurred"])),
              "false_negative_rate": float(np.mean([not shows_blur(c["evidence"]["0"], former_rule) for c in cases if c["family"] != "unblurred"]))}
    print(f"former rule {former_rule} on whole images: sharp judged blurred {100 * former['unblurred_judged_blurred']:.1f} %, "
          f"blurred judged sharp {100 * former['false_negative_rate']:.1f} %")
    result = {"split": "val (patient)", "images": len({c["file"] for c in cases}), "size": "whole radiographs", "sharp_pass": args.sharp_pass,
              "chosen_margin": best, **chosen, "former": former, "per_margin": {m: {k: v for k, v in r.items() if k != "per_family"} for m, r in per_margin.items()},
              "seconds": seconds, "cases": cases}
    print(f"\nchosen: margin {best}, rule {chosen['rule']}")
    print(f"{'degradation':34s} {'n':>4s} {'width px':>9s} {'anisotropy':>10s} {'judged sharp':>12s} {'(evidence only)':>16s}")
    for family, row in chosen["per_family"].items():
        print(f"{family:34s} {row['n']:4d} {row['median_sigma_px']:9.3f} {row['median_hf_anisotropy']:10.3f} {100 * row['judged_sharp']:11.1f}% {100 * row['judged_sharp_evidence_only']:15.1f}%")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    if args.write_rule:
        RULE_PATH.write_text(json.dumps({**chosen["rule"], "motion_cue": "learned PSF estimator: a straight-motion PSF at motion_min_confidence or more",
                                         "motion_min_confidence": args.motion_min_confidence,
                                         "chosen_by": "python benchmarks/no_blur_rule.py --write-rule", "split": result["split"], "images": result["images"],
                                         "size": result["size"], "sharp_pass": args.sharp_pass, "false_negative_rate": chosen["false_negative_rate"],
                                         "unblurred_judged_blurred": chosen["unblurred_judged_blurred"]}, indent=2) + "\n")


if __name__ == "__main__":
    main()

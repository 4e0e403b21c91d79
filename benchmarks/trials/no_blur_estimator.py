"""Does the learned PSF estimator catch the blur the no-blur rule misses? (issue 26, do no harm)

    python benchmarks/trials/no_blur_estimator.py --out benchmarks/results/trials/no_blur_estimator.json

The default pipeline returns an image unchanged when its blur evidence
(:func:`xraydeblur.classical.estimate.blur_evidence`: width and high-frequency
anisotropy) shows no blur worth removing (:mod:`xraydeblur.classical.no_blur`). That rule
misses straight motion: on validation 22 % of 9 px and 47 % of 15 px motion-blurred
crops are judged sharp (``benchmarks/results/no_blur_rule.json``), because a motion
PSF keeps the high frequencies along its path. The learned PSF estimator
(:mod:`xraydeblur.infer.learned_psf`) reads the spectrum's lines of zeros and names
"none" with a calibrated probability.

On the validation split (patient scheme; the test split is never read): every
radiograph's ``--crop`` px centre crop, as stored and under each of the benchmark's 14
degradations, rounded to each bit depth of ``--bits`` (as no_blur_rule.py rounds to 8).
Per case: the blur evidence, the shipped rule's call, and the estimator's family,
confidence and probability of "none" (no refinement: only the family is used). The table:
for thresholds ``t`` on that probability (the image shows blur when P(none) < t, or
when the shipped rule says so), the share of unblurred crops judged blurred and of
blurred crops judged sharp, per degradation.
"""

import argparse
import json
import sys
import time
import warnings
from collections import defaultdict

import numpy as np

THRESHOLDS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)


def _round(value) -> float:
    return float(f"{float(value):.5g}")


def measure(images: int | None, crop: int, bits_list: list[int]) -> list[dict]:
    from xraydeblur.classical.estimate import blur_evidence
    from xraydeblur.classical.no_blur import shows_blur
    from xraydeblur.data import benchmark_cases, load_image
    from xraydeblur.data.splits import split_rows
    from xraydeblur.degrade import quantize
    from xraydeblur.infer.learned_psf import estimate_learned_psf

    cases = []
    for row in split_rows("val")[:images]:
        image = load_image(row)
        for i, case in enumerate(benchmark_cases([row], crop=crop)):
            sharp, degraded, _ = case.load(image)
            pairs = ([("unblurred", sharp)] if i == 0 else []) + [(case.family, degraded)]
            for family, pixels in pairs:
                for bits in bits_list:
                    x = quantize(pixels, bits)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)
                        evidence = blur_evidence(x)
                    found = estimate_learned_psf(x, refine=False)
                    cases.append({
                        "file": row.file, "family": family, "bits": bits,
                        "rule_shows_blur": bool(shows_blur(evidence)),
                        "sigma_px": _round(evidence["sigma_px"]), "hf_anisotropy": _round(evidence["hf_anisotropy"]),
                        "estimator_family": found.family, "confidence": _round(found.confidence),
                        "p_none": _round(found.probabilities.get("none", 0.0)),
                    })
        print(f"{row.file}: {len(cases)} cases", file=sys.stderr, flush=True)
    return cases


def table(cases: list[dict]) -> dict:
    """Per bit depth and threshold: share judged blurred among unblurred crops, and share
    judged sharp per degradation (rule alone as threshold 0)."""
    out = {}
    for bits in sorted({c["bits"] for c in cases}):
        mine = [c for c in cases if c["bits"] == bits]
        by_family = defaultdict(list)
        for c in mine:
            by_family[c["family"]].append(c)
        rows = {}
        for t in (0.0, *THRESHOLDS):
            def blurred(c):
                return c["rule_shows_blur"] or c["p_none"] < t
            rows[f"{t:g}"] = {f: float(np.mean([blurred(c) != (f != "unblurred") for c in v])) for f, v in by_family.items()}
        out[str(bits)] = rows
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=None, help="first N validation images (default all)")
    p.add_argument("--crop", type=int, default=512)
    p.add_argument("--bits", type=int, nargs="+", default=[8, 12])
    p.add_argument("--out", default=None)
    args = p.parse_args()
    t0 = time.time()
    cases = measure(args.images, args.crop, args.bits)
    result = table(cases)
    for bits, rows in result.items():
        families = list(next(iter(rows.values())))
        print(f"\n{bits}-bit: share of wrong calls (unblurred: judged blurred; others: judged sharp); t = 0 is the shipped rule alone")
        print(f"{'degradation':24s}" + "".join(f"{'t=' + t:>8s}" for t in rows))
        for f in families:
            print(f"{f:24s}" + "".join(f"{100 * row[f]:7.1f}%" for row in rows.values()))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"command": "python benchmarks/trials/no_blur_estimator.py " + " ".join(sys.argv[1:]), "split": "val (patient)",
                       "crop": args.crop, "seconds": round(time.time() - t0, 1), "table": result, "cases": cases}, fh, separators=(",", ":"))


if __name__ == "__main__":
    main()

"""What the trust rule of blind PSF identification does on the validation trials.

Reads the per-sample JSONs of ``benchmarks/trials/blind_psf_trial.py`` (validation split:
in-family float, in-family 8-bit, out-of-family float and 8-bit) and, for the shipped
rule (:attr:`xraydeblur.classical.psf_search.PsfEstimate.trusted`) and a few others,
prints per degradation row the mean PSNR change of ``nafnet-psf`` over the blind
flagship (the data step with the identified PSF where the rule trusts it, the blind
output elsewhere), the worst single case and how many cases lose more than 0.05 dB.
Writes JSON with ``--out``. No network runs: the trial JSONs hold every PSNR.

    python benchmarks/trials/psf_trust_rule.py --out benchmarks/results/trials/psf_trust_rule.json
"""

import argparse
import json
import sys
from collections import defaultdict

import numpy as np

TRIALS = ("blind_psf.json", "blind_psf-8bit.json", "blind_psf-other.json")
#: (max score, min no-blur ratio) pairs compared; the first is the shipped rule
RULES = ((0.2, 1.5), (float("inf"), 0.0), (0.2, 0.0), (float("inf"), 1.5), (0.1, 1.5), (0.2, 2.5))


def change(sample: dict, max_score: float, min_ratio: float) -> float:
    """PSNR of nafnet-psf minus blind on one trial sample under a rule (dB)."""
    found = sample["found"]["family"]
    none = sample["runner_up"].get("none", np.inf)
    ratio = none / max(sample["score"], 1e-12)
    trusted = found != "none" and sample["score"] < max_score and ratio >= min_ratio
    psnr = sample["psnr"]
    return psnr["blind + step, found k"] - psnr["blind"] if trusted else 0.0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", default="benchmarks/results/trials")
    p.add_argument("--out")
    args = p.parse_args()
    from xraydeblur.classical.psf_search import MAX_TRUSTED_SCORE, MIN_NO_BLUR_RATIO

    assert RULES[0] == (MAX_TRUSTED_SCORE, MIN_NO_BLUR_RATIO), "the first rule must be the shipped one"
    samples = [s for name in TRIALS for s in json.load(open(f"{args.trials}/{name}"))["samples"]]
    result = {"command": "python benchmarks/trials/psf_trust_rule.py " + " ".join(sys.argv[1:]), "split": "val", "trials": TRIALS, "rules": {}}
    for max_score, min_ratio in RULES:
        label = f"score < {max_score:g}, no-blur ratio >= {min_ratio:g}"
        rows = defaultdict(list)
        for s in samples:
            rows[s["family"]].append(change(s, max_score, min_ratio))
        every = [v for values in rows.values() for v in values]
        summary = {
            "mean": float(np.mean(every)),
            "worst": float(min(every)),
            "losses": int(sum(v < -0.05 for v in every)),
            "cases": len(every),
            "rows": {f: {"mean": float(np.mean(v)), "worst": float(min(v)), "losses": int(sum(x < -0.05 for x in v)), "cases": len(v)} for f, v in rows.items()},
        }
        result["rules"][label] = summary
        print(f"{label:40s} mean {summary['mean']:+.2f} dB, worst {summary['worst']:+.2f}, {summary['losses']}/{summary['cases']} cases lose > 0.05 dB")
    shipped = next(iter(result["rules"].values()))
    print("\nshipped rule, per row (nafnet-psf − blind, dB):\n\n| degradation | cases | mean | worst | losses > 0.05 dB |\n|---|---|---|---|---|")
    for family, row in shipped["rows"].items():
        print(f"| {family} | {row['cases']} | {row['mean']:+.2f} | {row['worst']:+.2f} | {row['losses']} |")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

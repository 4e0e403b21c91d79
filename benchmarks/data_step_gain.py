"""Choose the balance gains of the kernel-aware data step on the VALIDATION split.

The data step (:func:`xraydeblur.infer.data_step`) corrects the kernel-aware network's
output ``z`` towards consistency with the input, with the tuned Wiener balance times a
gain. This script scores, for 12 validation images (every 5th) x the 14 benchmark
degradations (256 px crops; the test split is never read):

- ``blind``: the blind flagship (what the kernel-aware result must beat),
- ``z``: the kernel-aware network alone (true kernel, no data step),
- ``wiener``: tuned Wiener with the true kernel,
- ``gain G``: ``z`` after the data step with balance gain G (``inf`` = no step),
- ``discrepancy T``: the gain chosen per image by Morozov's discrepancy principle
  (:func:`xraydeblur.infer.data_step.discrepancy_correction`) with residual target
  ``T`` (tau squared) from :data:`TARGETS`,

and picks the discrepancy target with the best mean PSNR over all noisy samples (the
rule is meant for noisy input; the choice is ``discrepancy_target``), then, per run-time
class (blur family from the kernel, noise class from the input, both judged as
:func:`xraydeblur.infer.data_step` judges them), the fixed gain or the
discrepancy rule with the best mean PSNR over the samples of that class. Prints the
table and the choices; writes JSON whose ``gains`` are copied into
:data:`xraydeblur.infer.data_step.GAINS`.

    python benchmarks/data_step_gain.py --out benchmarks/results/data_step_gain.json

``--kernel-weights STEM`` scores other kernel-aware weights (``STEM.safetensors`` +
``STEM.json``, e.g. a training run's ``best``) instead of the shipped ones.
"""

import argparse
import json
import math
import sys

import numpy as np

from xraydeblur.infer.data_step import DISCREPANCY

GAINS = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, math.inf)
#: residual targets (Morozov's tau squared) tried for the discrepancy rule
TARGETS = (1.0, 1.05, 1.1, 1.2, 1.3)


def gain_label(gain: float) -> str:
    return f"gain {gain:g}"


def rule_label(gain, target: float = 1.0) -> str:
    """The table column of a data-step rule as the JSON's ``gains`` stores it: a balance
    gain (``None`` for inf: the network output unchanged) or ``"discrepancy"``, whose
    column carries its residual target (the JSON's ``discrepancy_target``)."""
    if gain == DISCREPANCY:
        return f"{DISCREPANCY} {target:g}"
    return gain_label(math.inf if gain is None else float(gain))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=12, help="validation images (every 5th row)")
    p.add_argument("--kernel-weights", help="kernel-aware weights stem (default: the shipped nafnet-kernel)")
    p.add_argument("--out")
    args = p.parse_args()
    from xraydeblur.classical import tuned_balance, wiener_correction
    from xraydeblur.classical._defaults import is_noisy, kernel_family
    from xraydeblur.data import benchmark_cases, load_image, split_rows
    from xraydeblur.infer.data_step import discrepancy_correction
    from xraydeblur.infer.network import NetworkMethod
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    blind, wiener = get_method("nafnet-blind"), get_method("wiener")
    kernel_net = NetworkMethod(args.kernel_weights or get_method("nafnet-kernel").run.stem, data_step=False)
    scores: dict = {}
    by_class: dict = {}  # run-time class ("motion+noise"...) -> {name: [PSNR per sample]}
    classes: dict = {}  # degradation row -> {run-time class: count}
    for row in split_rows("val")[::5][: args.images]:
        image = load_image(row)
        for case in benchmark_cases([row], crop=256):
            sharp, y, k = case.load(image)
            z = kernel_net(y, k)
            balance, reg = tuned_balance(y, k)
            key = kernel_family(k) + ("+noise" if is_noisy(y) else "")
            classes.setdefault(case.family, {}).setdefault(key, 0)
            classes[case.family][key] += 1
            outs = [("blind", blind(y)), ("z", z), ("wiener", wiener(y, k))]
            outs += [(gain_label(g), z if math.isinf(g) else wiener_correction(y, z, k, balance * g, reg)) for g in GAINS]
            outs += [(rule_label(DISCREPANCY, t), discrepancy_correction(y, z, k, balance, reg, target=t)) for t in TARGETS]
            cell, per_class = scores.setdefault(case.family, {}), by_class.setdefault(key, {})
            for name, out in outs:
                value = psnr(sharp, out)
                cell.setdefault(name, []).append(value)
                per_class.setdefault(name, []).append(value)
    table = {fam: {name: float(np.mean(v)) for name, v in cells.items()} for fam, cells in scores.items()}
    row_class = {fam: max(c, key=c.get) for fam, c in classes.items()}  # most frequent run-time class
    noisy = [v for cls, v in by_class.items() if cls.endswith("+noise")]
    target = max(TARGETS, key=lambda t: np.mean([x for v in noisy for x in v[rule_label(DISCREPANCY, t)]]))
    rules = [gain_label(g) for g in GAINS] + [rule_label(DISCREPANCY, target)]
    chosen = {cls: max(rules, key=lambda r: np.mean(v[r])) for cls, v in sorted(by_class.items())}
    gains = {cls: (DISCREPANCY if r.startswith(DISCREPANCY) else float(r.split()[1])) for cls, r in chosen.items()}
    cols = list(next(iter(table.values())))
    print("| degradation | class (most samples) | " + " | ".join(cols) + " |\n|---|---|" + "---|" * len(cols))
    for fam, cells in table.items():
        print(f"| {fam} | {row_class[fam]} | " + " | ".join(f"{cells[c]:.2f}" for c in cols) + " |")
    print("\n| run-time class | samples | " + " | ".join(cols) + " | chosen |\n|---|---|" + "---|" * (len(cols) + 1))
    for cls, cells in sorted(by_class.items()):
        print(f"| {cls} | {len(cells['z'])} | " + " | ".join(f"{np.mean(cells[c]):.2f}" for c in cols) + f" | {gains[cls]} |")
    print(f"\ndiscrepancy target (tau^2, best over the noisy samples): {target:g}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(
                {
                    "command": "python benchmarks/data_step_gain.py " + " ".join(sys.argv[1:]),
                    "split": "val",
                    "images": args.images,
                    "table": table,
                    "row_class": row_class,
                    "class_table": {cls: {name: float(np.mean(v)) for name, v in cells.items()} for cls, cells in by_class.items()},
                    "class_samples": {cls: len(cells["z"]) for cls, cells in by_class.items()},
                    "gains": {c: (None if isinstance(g, float) and math.isinf(g) else g) for c, g in gains.items()},
                    "discrepancy_target": target,
                },
                fh,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

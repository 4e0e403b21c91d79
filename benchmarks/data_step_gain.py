"""Choose the balance gains of the kernel-aware data step on the VALIDATION split.

For 6 validation images (every 10th) x the 14 benchmark degradations (256 px crops):
the blind flagship's output z, Wiener with the true kernel, and z after
:func:`xraydeblur.infer.data_step` 's correction with the tuned Wiener balance times
each gain. Prints mean PSNR per row and per noise group; writes JSON.

    python benchmarks/data_step_gain.py --out benchmarks/results/data_step_gain.json
"""

import argparse
import json
import sys

import numpy as np

GAINS = (1.0, 3.0, 10.0, 30.0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out")
    args = p.parse_args()
    from xraydeblur.classical import tuned_balance, wiener_correction
    from xraydeblur.data import benchmark_cases, load_image, split_rows
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    net, wiener = get_method("nafnet-blind"), get_method("wiener")
    scores: dict = {}
    for row in split_rows("val")[::10][:6]:
        image = load_image(row)
        for case in benchmark_cases([row], crop=256):
            sharp, y, k = case.load(image)
            z = net(y)
            balance, reg = tuned_balance(y, k)
            cell = scores.setdefault(case.family, {})
            for name, out in [("input", y), ("z", z), ("wiener", wiener(y, k))] + [(f"gain {g:g}", wiener_correction(y, z, k, balance * g, reg)) for g in GAINS]:
                cell.setdefault(name, []).append(psnr(sharp, out))
    table = {fam: {name: float(np.mean(v)) for name, v in cells.items()} for fam, cells in scores.items()}
    cols = list(next(iter(table.values())))
    print("| degradation | " + " | ".join(cols) + " |\n|---|" + "---|" * len(cols))
    for fam, cells in table.items():
        print(f"| {fam} | " + " | ".join(f"{cells[c]:.2f}" for c in cols) + " |")
    for group, noisy in (("noise-free, mean", False), ("noisy, mean", True)):
        rows = [cells for fam, cells in table.items() if fam.endswith("+noise") == noisy]
        print(f"| {group} | " + " | ".join(f"{np.mean([r[c] for r in rows]):.2f}" for c in cols) + " |")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"command": "python benchmarks/data_step_gain.py " + " ".join(sys.argv[1:]), "split": "val", "table": table}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

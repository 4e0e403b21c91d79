"""Trial: how far SRCNN's start (issue 22) is from what its architecture can reach.

Fits the least-squares 9 x 9 linear filter on training pairs of the paper protocol
(:func:`xraydeblur.train.linear_init.least_squares_filter`, the start that
``configs/srcnn_paper.yaml`` now uses), puts it into the paper's SRCNN
(:meth:`xraydeblur.models.srcnn.SRCNN.init_linear`, no training) and scores it on the
*validation* split the way training validates (whole 224 px images, 4 px border left
out, mean PSNR over images), at the drawn sigma 0.5-3 and at fixed sigma 1, 1.5, 2, 3;
beside it the blurred input and, for the drawn sigma, the best validation PSNR of the
SRCNN trained from the identity start (``training/paper/srcnn-identity-init/plan.json``).

    python benchmarks/trials/srcnn_linear_init.py --out benchmarks/results/trials/srcnn_linear_init.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    import torch

    from xraydeblur.data.pairs import PaperPairs
    from xraydeblur.data.splits import split_rows
    from xraydeblur.models import build_model
    from xraydeblur.train.linear_init import least_squares_filter

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=300)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    torch.set_num_threads(1)
    train_rows = split_rows("train", "patient", "mhh", seed=0)
    val_rows = split_rows("val", "patient", "mhh", seed=0)
    # the training config's pairs: seed 0, random 96 px windows (configs/srcnn_paper.yaml)
    filt, bias = least_squares_filter(PaperPairs(train_rows, 224, (0.5, 3.0), seed=0, crop=96), 9, args.pairs)
    model = build_model("srcnn", paper_padding=True)
    model.init_linear(filt, bias)
    model.eval()

    def psnr(a, b):
        return 10 * np.log10(1.0 / np.mean((np.clip(a, 0, 1) - b)[4:-4, 4:-4] ** 2))

    rows = {}
    for label, sigma in (("sigma 0.5-3 (drawn)", (0.5, 3.0)), ("sigma 1", (1.0, 1.0)), ("sigma 1.5", (1.5, 1.5)), ("sigma 2", (2.0, 2.0)), ("sigma 3", (3.0, 3.0))):
        pairs = PaperPairs(val_rows, 224, sigma, seed=1, fixed=True)  # the training run's validation images (seed + 1)
        before, after = [], []
        for i in range(len(val_rows)):
            blurred, sharp, _ = pairs.pair(i)
            with torch.no_grad():
                out = model(torch.from_numpy(blurred)[None, None])[0, 0].numpy()
            before.append(psnr(blurred, sharp))
            after.append(psnr(out, sharp))
        rows[label] = {"blurred_input": round(float(np.mean(before)), 3), "least_squares_start": round(float(np.mean(after)), 3)}
    plan = ROOT / "training" / "paper" / "srcnn-identity-init" / "plan.json"
    if plan.exists():
        old = json.loads(plan.read_text())
        best = max([old["main"]["best_val_psnr"]] + [c["best_val_psnr"] for c in old.get("continuations", [])])
        rows["sigma 0.5-3 (drawn)"]["identity_start_trained_best"] = round(best, 3)
    print(f"{'validation':<22} {'blurred':>8} {'LS start':>9} {'identity start, trained':>24}")
    for label, row in rows.items():
        trained = row.get("identity_start_trained_best")
        print(f"{label:<22} {row['blurred_input']:>8.2f} {row['least_squares_start']:>9.2f} {'' if trained is None else f'{trained:.2f}':>24}")
    result = {"command": "python benchmarks/trials/srcnn_linear_init.py" + (f" --out {args.out}" if args.out else ""),
              "pairs": args.pairs, "validation_images": len(val_rows), "bias": bias, "rows": rows}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

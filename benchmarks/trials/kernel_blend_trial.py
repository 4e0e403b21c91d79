"""Trial: does a separately trained kernel-aware network beat the blind flagship
followed by the same data step? Scored on the VALIDATION split (the test split is never
read).

Up to commit 6a6b122, ``nafnet-kernel`` was a second network (2 input channels: the
image and its Wiener deconvolution with the known kernel, fine-tuned from the blind
weights) followed by the data step (:func:`xraydeblur.infer.data_step.data_step`).
With noise it landed level with the blind flagship or slightly below
(docs/results.md section 2). For 12 validation images x the 14 benchmark degradations
(256 px crops) this scores, per sample:

- ``blind`` (``z_b``) and ``z_k``, the 2-channel network given ``--kernel-weights``
  (its Wiener channel from the true kernel), both without a data step;
- ``blend W``: ``W * z_k + (1 - W) * z_b`` followed by the shipped data step.
  ``blend 0`` is the blind network plus the data step (what ``nafnet-kernel`` is now),
  ``blend 1`` the 2-channel network plus the data step (what it was), in between an
  average of the two (two networks with partly independent errors).

Prints mean PSNR per degradation and per run-time class, writes JSON. The 2-channel
weights are training runs (``configs/nafnet_kernel.yaml`` is the former shipped
recipe, ``configs/nafnet_kernel_stage2.yaml`` the same from the stage-2 blind weights):

    python benchmarks/trials/kernel_blend_trial.py --kernel-weights runs/nafnet-kernel-stage2/best --out benchmarks/results/trials/kernel_blend-stage2.json
"""

import argparse
import json
import sys

import numpy as np

from _trial import validation_crops

BLENDS = (0.0, 0.5, 0.75, 1.0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=12, help="validation images (every 5th row)")
    p.add_argument("--kernel-weights", required=True, help="2-channel kernel-aware network stem (STEM.safetensors + STEM.json)")
    p.add_argument("--out")
    args = p.parse_args()
    from xraydeblur.classical._defaults import run_time_class
    from xraydeblur.infer.data_step import data_step
    from xraydeblur.infer.network import NetworkMethod
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    blind = get_method("nafnet-blind")
    kernel_net = NetworkMethod(args.kernel_weights, data_step=False)
    scores: dict = {}
    by_class: dict = {}
    for row, case, sharp, y, k in validation_crops(args.images):
        z_b, z_k = blind(y), kernel_net(y, k)
        key = run_time_class(y, k)
        outs = [("blind", z_b), ("z_k", z_k)]
        for w in BLENDS:
            outs.append((f"blend {w:g}", data_step(y, (w * z_k + (1 - w) * z_b).astype(np.float32), k)))
        for name, out in outs:
            value = psnr(sharp, out)
            scores.setdefault(case.family, {}).setdefault(name, []).append(value)
            by_class.setdefault(key, {}).setdefault(name, []).append(value)
        print(f"done {row.file} {case.family}", file=sys.stderr, flush=True)
    table = {fam: {n: float(np.mean(v)) for n, v in cells.items()} for fam, cells in scores.items()}
    class_table = {cls: {n: float(np.mean(v)) for n, v in cells.items()} for cls, cells in by_class.items()}
    for title, tab in (("degradation", table), ("run-time class", class_table)):
        cols = sorted({c for cells in tab.values() for c in cells}, key=lambda c: (c != "blind", c != "z_k", c))
        print(f"\n| {title} | " + " | ".join(cols) + " |\n|---|" + "---|" * len(cols))
        for name, cells in tab.items():
            print(f"| {name} | " + " | ".join(f"{cells[c]:.2f}" if c in cells else "" for c in cols) + " |")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(
                {"command": "python benchmarks/trials/kernel_blend_trial.py " + " ".join(sys.argv[1:]), "split": "val", "images": args.images, "table": table, "class_table": class_table},
                fh,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

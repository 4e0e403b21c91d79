"""Trial (not shipped): a data step for the BLIND flagship with a blindly estimated
Gaussian kernel, scored on the VALIDATION split.

When no kernel is given, the blind network's output ``z`` could still be corrected
towards consistency with the input under a Gaussian PSF whose width is estimated from
the image (:func:`xraydeblur.classical.estimate.estimate_gaussian_sigma`), as the
kernel-aware data step does with a known kernel (:func:`xraydeblur.classical.wiener_correction`,
tuned balance times a gain). This script measures, for 12 validation images x the 14
benchmark degradations (256 px crops; the test split is never read), mean PSNR of:

- ``input``, ``blind`` (the shipped blind flagship),
- ``blind + step G``: ``z`` corrected with the estimated Gaussian, balance gain G,
- ``kernel net, estimated k``: the kernel-aware network given the estimated Gaussian
  (what ``nafnet-kernel`` does without a kernel; no data step),

plus the mean estimated width. Prints a table and writes JSON.

    python benchmarks/trials/blind_data_step_trial.py --out benchmarks/results/trials/blind_data_step_trial.json

The committed JSON's last column was made with the former 2-channel ``nafnet-kernel``
network (shipped up to commit 6a6b122; its files are in git at that commit): pass its
stem as ``--kernel-weights`` to re-make it. The ``nafnet-kernel`` shipped now runs the
blind network, so by default that column equals ``blind``.
"""

import argparse
import json
import sys

import numpy as np

from _trial import validation_crops

GAINS = (0.1, 1.0, 10.0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=12, help="validation images (every 5th row)")
    p.add_argument("--kernel-weights", help="network stem for the last column (default: the shipped nafnet-kernel's network)")
    p.add_argument("--out")
    args = p.parse_args()
    from xraydeblur.classical import tuned_balance, wiener_correction
    from xraydeblur.classical.estimate import estimate_gaussian_sigma
    from xraydeblur.degrade import gaussian_kernel
    from xraydeblur.infer.network import NetworkMethod
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    blind = get_method("nafnet-blind")
    kernel_net = NetworkMethod(args.kernel_weights or get_method("nafnet-kernel").run.stem, data_step=False)
    cols = ["input", "blind"] + [f"blind + step {g:g}" for g in GAINS] + ["kernel net, estimated k"]
    scores: dict = {}
    widths: dict = {}
    for _, case, sharp, y, _ in validation_crops(args.images):
        width = max(0.3, estimate_gaussian_sigma(y))
        k_hat = gaussian_kernel(width)
        z = blind(y)
        balance, reg = tuned_balance(y, k_hat)
        outs = [y, z] + [wiener_correction(y, z, k_hat, balance * g, reg) for g in GAINS] + [kernel_net(y, k_hat)]
        cell = scores.setdefault(case.family, {})
        for name, out in zip(cols, outs):
            cell.setdefault(name, []).append(psnr(sharp, out))
        widths.setdefault(case.family, []).append(width)
    table = {fam: {name: float(np.mean(v)) for name, v in cell.items()} for fam, cell in scores.items()}
    print("| degradation | estimated sigma (px) | " + " | ".join(cols) + " |\n|---|---|" + "---|" * len(cols))
    for fam, cell in table.items():
        print(f"| {fam} | {np.mean(widths[fam]):.2f} | " + " | ".join(f"{cell[c]:.2f}" for c in cols) + " |")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(
                {
                    "command": "python benchmarks/trials/blind_data_step_trial.py " + " ".join(sys.argv[1:]),
                    "split": "val",
                    "images": args.images,
                    "estimated_sigma": {fam: float(np.mean(v)) for fam, v in widths.items()},
                    "table": table,
                },
                fh,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

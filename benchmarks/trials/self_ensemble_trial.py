"""Trial: geometric self-ensemble of the blind flagship, scored on the VALIDATION split
(the test split is never read).

The network runs on the 8 flips and 90-degree rotations of the input; each output is
mapped back and the 8 are averaged (``x8``); ``x2`` averages the input and its
left-right mirror only. The blur of the benchmark is rotated with the image, so the
ensemble sees 8 differently oriented versions of the same problem. It costs 8 (or 2)
times the network's time; the question is what it buys, above all on the noisy rows
where the blind flagship is 0.3 dB above deconvolution with the true kernel and the
goal asks for 1.0-1.5 dB.

For each of ``--images`` validation images (every 5th row) x the 14 benchmark
degradations (256 px crops): PSNR of the input, the blind flagship, ``x2`` and ``x8``.
Prints per-row means and writes JSON with every sample.

    python benchmarks/trials/self_ensemble_trial.py --out benchmarks/results/trials/self_ensemble.json
"""

import argparse
import sys

import numpy as np
from _trial import row_means, validation_crops, write_trial

COLUMNS = ("input", "blind", "blind x2", "blind x8")


def transforms(count: int):
    """``count`` (2 or 8) pairs (forward, inverse) of flips / 90-degree rotations of an (H, W) array."""
    pairs = []
    for flip in (False, True):
        for turns in range(4 if count == 8 else 1):

            def forward(x, flip=flip, turns=turns):
                return np.rot90(x[:, ::-1] if flip else x, turns)

            def inverse(x, flip=flip, turns=turns):
                x = np.rot90(x, -turns)
                return x[:, ::-1] if flip else x

            pairs.append((forward, inverse))
    return pairs


def ensemble(method, image: np.ndarray, count: int) -> np.ndarray:
    """Mean of ``method`` over ``count`` orientations of ``image`` (float32 (H, W))."""
    outs = [inverse(method(np.ascontiguousarray(forward(image)))) for forward, inverse in transforms(count)]
    return np.mean(outs, axis=0).astype(np.float32)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=12, help="validation images (every 5th row)")
    p.add_argument("--out")
    args = p.parse_args()
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    blind = get_method("nafnet-blind")
    samples = []
    for row, case, sharp, y, _ in validation_crops(args.images):
        outs = (y, blind(y), ensemble(blind, y, 2), ensemble(blind, y, 8))
        samples.append({"case": f"{row.file}::{case.family}", "family": case.family, "psnr": {c: float(psnr(sharp, o)) for c, o in zip(COLUMNS, outs)}})
        print(f"{samples[-1]['case'][-48:]:48s} " + " ".join(f"{v:6.2f}" for v in samples[-1]["psnr"].values()), flush=True)
    print("\n| degradation | " + " | ".join(COLUMNS) + " | x8 − blind |\n|---|" + "---|" * (len(COLUMNS) + 1))
    table = row_means(samples, COLUMNS)
    for fam, means in table.items():
        print(f"| {fam} | " + " | ".join(f"{means[c]:.2f}" for c in COLUMNS) + f" | {means['blind x8'] - means['blind']:+.2f} |")
    write_trial(args.out, "benchmarks/trials/self_ensemble_trial.py", table, samples)
    return 0


if __name__ == "__main__":
    sys.exit(main())

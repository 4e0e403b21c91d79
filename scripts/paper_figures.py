"""Figures for the paper reproduction (docs/figures/):

* ``loss_curves.png`` - training and validation loss (MSE) and validation PSNR versus epoch for every
  shipped network (from the ``NAME.log.csv`` committed beside its weights);
* ``examples.png`` - blurred / ground truth / deblurred for test images of the paper
  protocol (224x224, Gaussian sigma 1.5 px), one column per method: 160 px crops of CC BY
  radiographs only (Kermany et al. 2018, CC BY 4.0; Hannover Medical School, CC BY 3.0).

    python scripts/paper_figures.py --methods srcnn dae unet --out docs/figures
"""

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from xraydeblur.models.registry import WEIGHTS_DIR  # noqa: E402


def _positive(value: str) -> float:
    """A logged loss as a float, NaN when it is not a positive MSE (a psnr-loss stage's)."""
    number = float(value)
    return number if number > 0 else np.nan


def loss_curves(names, out: Path) -> Path:
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for name in names:
        log = WEIGHTS_DIR / f"{name}.log.csv"
        if not log.exists():
            continue
        rows = list(csv.DictReader(log.open()))
        epoch = [int(r["epoch"]) for r in rows]
        # MSE throughout: a stage trained on the psnr loss (minus the mean PSNR, negative)
        # shows no training loss, and its validation MSE from the val_mse column
        train = [_positive(r["train_loss"]) for r in rows]
        val = [_positive(r.get("val_mse") or r["val_loss"]) for r in rows]
        axes[0].plot(epoch, train, label=name)
        axes[1].plot(epoch, val, label=name)
        axes[2].plot(epoch, [float(r["val_psnr"]) for r in rows], label=name)
    for ax, title in zip(axes, ("training loss (MSE; + KL for the VAEs)", "validation loss (MSE)", "validation PSNR (dB)")):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_yscale("log")
    axes[1].set_yscale("log")
    fig.tight_layout()
    path = out / "loss_curves.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def examples(names, out: Path, count: int = 2) -> Path:
    from xraydeblur.cli.evaluate import subset
    from xraydeblur.data import split_rows
    from xraydeblur.evaluate import paper_cases
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    licensed = [r for r in split_rows("test") if r.license.startswith("CC BY")]  # figures show CC BY images only
    rows = subset(licensed, count)
    crop = (slice(32, 192), slice(32, 192))
    cases = [(k, f, s[crop], b[crop], kern) for k, f, s, b, kern in paper_cases(rows, sigmas=(1.5,))]
    cols = ["blurred", "ground truth"] + list(names)
    fig, axes = plt.subplots(len(cases), len(cols), figsize=(2.6 * len(cols), 2.8 * len(cases)))
    axes = np.atleast_2d(axes)
    for i, (key, family, sharp, blurred, kernel) in enumerate(cases):
        images = {"blurred": blurred, "ground truth": sharp}
        for name in names:
            images[name] = get_method(name)(blurred, None)  # the crop, as a user would send it
        for j, col in enumerate(cols):
            ax = axes[i, j]
            ax.imshow(images[col], cmap="gray", vmin=0, vmax=1)
            label = col if col == "ground truth" else f"{col}\n{psnr(sharp, images[col]):.2f} dB"
            ax.set_title(label, fontsize=8)
            ax.axis("off")
    fig.text(0.5, 0.005, "Radiographs: Kermany et al. 2018 (CC BY 4.0); Hannover Medical School COVID-19 repository (CC BY 3.0)", ha="center", fontsize=7)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path = out / "examples.png"
    fig.savefig(path, dpi=55)
    plt.close(fig)
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", nargs="+", default=["srcnn", "dae", "unet"])
    p.add_argument("--out", default="docs/figures")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(loss_curves(args.methods, out))
    print(examples(args.methods, out))


if __name__ == "__main__":
    main()

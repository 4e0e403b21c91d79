"""Trial: SRCNN trained on the PSNR loss instead of the paper's MSE, and an SRCNN that
only has to handle sigma 1.5 (issue 22).

A continuation stage of the shipped SRCNN line on the loss ``psnr`` (minus the mean
per-image PSNR, :func:`xraydeblur.train.losses.log_mse`;
``scripts/train_paper_models.py --nets srcnn --continue-minutes 35 --loss psnr``),
state in ``training/paper/srcnn/cont2`` (and, held-out-source scheme,
``training/unseen-paper/srcnn/cont1``). Scored here against the shipped checkpoint it
started from (``training/paper/srcnn/cont1``, MSE) on the *validation* split the way
training validates (whole 224 px images, 4 px border left out, mean PSNR over images),
at the drawn sigma 0.5-3 and at fixed sigma 1, 1.5, 2, 3, with the blurred input. Beside
them, when its state is committed (``training/trials/srcnn-sigma1.5``), the same SRCNN
trained and validated at sigma 1.5 only (``configs/trials/srcnn_sigma1.5.yaml``): how
much the architecture gives at sigma 1.5 when it need not cover 0.5-3 px. And the
shipped SRCNN trained on 2000 more steps on a narrower range, sigma 0.75-3 or 1-3
(``configs/trials/srcnn_sigma0.75-3.yaml``, ``srcnn_sigma1.0-3.yaml``; states in
``training/trials/srcnn-sigma0.75-3`` and ``-sigma1.0-3``): does giving up the nearly
sharp images buy sigma 1.5 anything?

    python benchmarks/trials/srcnn_psnr_loss.py --out benchmarks/results/trials/srcnn_psnr_loss.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
#: the checkpoints compared: label -> run folder (best.safetensors + config.yaml)
RUNS = {"mse (shipped, cont1)": ROOT / "training/paper/srcnn/cont1", "psnr loss (cont2)": ROOT / "training/paper/srcnn/cont2",
        "sigma 1.5 only (mse)": ROOT / "training/trials/srcnn-sigma1.5",
        "sigma 0.75-3 (mse)": ROOT / "training/trials/srcnn-sigma0.75-3", "sigma 1-3 (mse)": ROOT / "training/trials/srcnn-sigma1.0-3"}
SIGMAS = (("sigma 0.5-3 (drawn)", (0.5, 3.0)), ("sigma 1", (1.0, 1.0)), ("sigma 1.5", (1.5, 1.5)), ("sigma 2", (2.0, 2.0)), ("sigma 3", (3.0, 3.0)))


def main() -> None:
    import torch

    from xraydeblur.data.pairs import PaperPairs
    from xraydeblur.data.splits import split_rows
    from xraydeblur.models import build_model
    from xraydeblur.train.weights import load_weights

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    torch.set_num_threads(1)
    val_rows = split_rows("val", "patient", "mhh", seed=0)
    models = {}
    for label, folder in RUNS.items():
        if not (folder / "best.safetensors").exists():
            continue
        model = build_model("srcnn", paper_padding=True)
        model.load_state_dict(load_weights(folder / "best")[0])
        models[label] = model.eval()

    def psnr(a, b):
        return 10 * np.log10(1.0 / np.mean((np.clip(a, 0, 1) - b)[4:-4, 4:-4] ** 2))

    rows = {}
    for label, sigma in SIGMAS:
        pairs = PaperPairs(val_rows, 224, sigma, seed=1, fixed=True)  # the training run's validation images (seed + 1)
        scores = {"blurred input": []} | {name: [] for name in models}
        for i in range(len(val_rows)):
            blurred, sharp, _ = pairs.pair(i)
            scores["blurred input"].append(psnr(blurred, sharp))
            for name, model in models.items():
                with torch.no_grad():
                    out = model(torch.from_numpy(blurred)[None, None])[0, 0].numpy()
                scores[name].append(psnr(out, sharp))
        rows[label] = {name: round(float(np.mean(v)), 3) for name, v in scores.items()}
    names = list(next(iter(rows.values())))
    print(f"{'validation PSNR (dB)':<22} " + " ".join(f"{n:>20}" for n in names))
    for label, row in rows.items():
        print(f"{label:<22} " + " ".join(f"{row[n]:>20.2f}" for n in names))
    result = {"command": "python benchmarks/trials/srcnn_psnr_loss.py" + (f" --out {args.out}" if args.out else ""),
              "split": "val", "validation_images": len(val_rows), "runs": {k: str(v.relative_to(ROOT)) for k, v in RUNS.items() if k in models}, "rows": rows}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

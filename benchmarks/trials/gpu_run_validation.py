"""Compare a GPU run's weights (scripts/train_on_gpu.sh) with the shipped ones on the
validation split only: NAFNet validation PSNR/SSIM on the training config's validation
crops (full validation split) and the PSF estimator's validation loss, family accuracy
and parameter errors on its full fixed validation set. Prints a table, writes JSON.

    python benchmarks/trials/gpu_run_validation.py runs/gpu --before STEM --out benchmarks/results/trials/gpu_run_validation.json

``--before`` names the NAFNet weights to compare with (default: the package's; for the
shipped stage 3, its start, the stage-2 weights of commit 5cde98d:
``git show 5cde98d:src/xraydeblur/weights/nafnet-blind.safetensors > /tmp/stage2/nafnet-blind.safetensors``
and ``--before /tmp/stage2/nafnet-blind``).

``--network nafnet-large`` compares the larger network of ``train_on_gpu.sh OUT large``
instead (no PSF estimator ran beside it, so that part is left out):

    python benchmarks/trials/gpu_run_validation.py runs/gpu-large --network nafnet-large \
        --benchmark runs/gpu/val-new.json runs/gpu-large/val-new.json \
        --out benchmarks/results/trials/gpu_run_validation-large.json

``--benchmark OLD.json NEW.json`` (repeatable) adds per-row PSNR of ``nafnet-blind`` from two
``xraydeblur evaluate --split val`` runs, before and after (the validation split's
benchmark crops; e.g. ``--weights-dir runs/gpu/weights`` for the new weights).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from xraydeblur.infer.learned_psf import ESTIMATOR_DIR, ESTIMATOR_NAME, estimator_meta  # noqa: E402
from xraydeblur.models.psf_labels import FAMILIES  # noqa: E402
from xraydeblur.models.psf_net import PsfNet, psf_loss  # noqa: E402
from xraydeblur.train.config import load_config  # noqa: E402
from xraydeblur.train.loop import validation_metrics  # noqa: E402
from xraydeblur.train.psf_estimator import TrainSettings, _state_dict, accuracy, fit_temperature, validation_set  # noqa: E402


def psf_scores(state: dict, width: int, hidden: int, val) -> dict:
    """Validation loss, family accuracy and median parameter errors of a PsfNet state."""
    model = PsfNet(width, hidden)
    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        output = model(torch.from_numpy(val[0]))
        loss = float(psf_loss(output, torch.from_numpy(val[1]), torch.from_numpy(val[2]))[0])
    output = output.numpy()
    temperature = fit_temperature(output[:, : len(FAMILIES)], val[1])
    metrics = accuracy(output, val[3], temperature)
    return {"val_loss": round(loss, 4), "family_accuracy": round(metrics["family_accuracy"], 4), **{k: (round(v, 4) if v is not None else None) for k, v in metrics["median_abs_error"].items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--before", default=str(ROOT / "src/xraydeblur/weights/nafnet-blind"), help="NAFNet weights stem to compare with (default: the shipped ones)")
    parser.add_argument("--network", default="nafnet-blind-gpu", help="the run's NAFNet folder (nafnet-large for `train_on_gpu.sh OUT large`)")
    parser.add_argument("--benchmark", nargs=2, action="append", default=[], metavar=("OLD", "NEW"), help="two evaluate JSONs (validation split)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(ROOT / "configs/nafnet_blind_stage2.yaml")
    nafnet = {
        "shipped": validation_metrics(cfg, args.before),
        "gpu run": validation_metrics(cfg, args.run / args.network / "best"),
    }
    print("| NAFNet (48 validation crops, 192 px) | val PSNR (dB) | val SSIM |\n| --- | --- | --- |")
    for name, m in nafnet.items():
        print(f"| {name} | {m['val_psnr']:.3f} | {m['val_ssim']:.4f} |")
    psf = {}
    if (args.run / "psf").is_dir():  # the PSF estimator ran beside it
        val = validation_set(TrainSettings())
        run_settings = json.loads((args.run / "psf/settings.json").read_text())
        psf = {
            "shipped": psf_scores(_state_dict(str(ESTIMATOR_DIR / f"{ESTIMATOR_NAME}.safetensors")), **estimator_meta()["arch_args"], val=val),
            "gpu run": psf_scores(_state_dict(str(args.run / "psf/best.pt")), *(run_settings[k] for k in ("width", "hidden")), val=val),
        }
        keys = list(psf["shipped"])
        print(f"\n| PSF estimator ({len(val[3])} validation samples) | " + " | ".join(keys) + " |\n| --- |" + " --- |" * len(keys))
        for name, m in psf.items():
            print(f"| {name} | " + " | ".join("-" if m[k] is None else str(m[k]) for k in keys) + " |")
    benchmarks = {}
    for old_path, new_path in args.benchmark:
        old, new = (json.loads(Path(p).read_text()) for p in (old_path, new_path))
        assert old["split"] == new["split"] == "val", "validation-split runs only"
        label = "nafnet-blind [blind]"  # new weights scored under the same name (--weights-dir)
        rows = {r: {k: round(run["summary"][r][label][k], 3) for run, k in ((old, "psnr"), (old, "psnr_s0"))} | {k + "_new": round(new["summary"][r][label][k], 3) for k in ("psnr", "psnr_s0")} for r in old["summary"]}
        benchmarks[f"{old['scheme']} ({old['images']} images, {old['crop']} px)"] = {"commands": [old["command"], new["command"]], "rows": rows}
        print(f"\n| {old['scheme']} validation benchmark, nafnet-blind | PSNR | new | S0 PSNR | new |\n| --- | --- | --- | --- | --- |")
        for r, v in rows.items():
            print(f"| {r} | {v['psnr']:.2f} | {v['psnr_new']:.2f} ({v['psnr_new'] - v['psnr']:+.2f}) | {v['psnr_s0']:.2f} | {v['psnr_s0_new']:.2f} ({v['psnr_s0_new'] - v['psnr_s0']:+.2f}) |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"command": " ".join(sys.argv), "split": "val", "nafnet": nafnet, "psf": psf, "benchmarks": benchmarks}, indent=2) + "\n")


if __name__ == "__main__":
    main()

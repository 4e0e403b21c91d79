"""Train the learned PSF estimator, resume it, or ship its best weights.

Train (or resume: the same ``--out`` continues from ``last.pt``) on one core::

    OMP_NUM_THREADS=1 python scripts/train_psf_estimator.py --out runs/psf/main --steps 6000 --minutes 80

Several processes (DDP)::

    torchrun --nproc_per_node 2 scripts/train_psf_estimator.py --out runs/psf/main --steps 6000

Ship the best weights into the package (``src/xraydeblur/weights/psf/``:
``psf-estimator.safetensors``, ``.onnx`` and ``.json`` with the training settings, the
data manifest hash, the validation metrics and the calibrated temperature; the rule's
``min_confidence`` is kept from the shipped JSON, or 1.0 = never used, until
``benchmarks/learned_psf_rule.py --write`` chooses it)::

    python scripts/train_psf_estimator.py --out runs/psf/main --ship

With a source held out (``--scheme source --held-out mhh``), ship beside the other
retrained networks: ``--ship --dest benchmarks/weights/unseen-mhh/psf``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from xraydeblur.train.psf_estimator import TrainSettings, train  # noqa: E402
from xraydeblur.train.worker_exit import leave_if_worker  # noqa: E402


def ship(out: Path, dest: Path | None = None) -> Path:
    """Export ``out/best.pt`` to ``dest`` (default the package's ``weights/psf`` folder);
    returns the JSON path."""
    import torch
    from safetensors.torch import save_file

    from xraydeblur import __version__
    from xraydeblur.data import manifest_sha256
    from xraydeblur.infer.learned_psf import ESTIMATOR_DIR, ESTIMATOR_NAME
    from xraydeblur.models.psf_labels import FAMILIES, PARAMS
    from xraydeblur.models.psf_net import PsfNet

    settings = json.loads((out / "settings.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    model = PsfNet(settings["width"], settings["hidden"])
    model.load_state_dict(torch.load(out / "best.pt", weights_only=True))
    model.eval()
    folder = Path(dest) if dest else ESTIMATOR_DIR
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / f"{ESTIMATOR_NAME}.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    weights.chmod(0o644)
    torch.onnx.export(model, (torch.zeros(1, 3, 64, 64),), str(folder / f"{ESTIMATOR_NAME}.onnx"), input_names=["features"], output_names=["output"], dynamic_axes={"features": {0: "n"}, "output": {0: "n"}}, dynamo=False)
    meta_path = folder / f"{ESTIMATOR_NAME}.json"
    old = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    best = summary["best"]
    meta = {
        "name": ESTIMATOR_NAME,
        "arch": "PsfNet",
        "arch_args": {"width": settings["width"], "hidden": settings["hidden"]},
        "families": list(FAMILIES),
        "regressions": [f"{f}.{n}" for f, n in PARAMS],
        "parameters": summary["params"],
        "config": settings,
        "steps_trained": summary["steps"],
        "best_step": best["step"],
        "temperature": best["temperature"],
        "validation": {"loss": round(best["val_loss"], 5), **{k: v for k, v in best["metrics"].items() if k != "confusion"}, "confusion": best["metrics"]["confusion"]},
        "rule": old.get("rule", {"min_confidence": 1.0, "chosen_by": "not chosen yet: never used"}),
        "package_version": __version__,
        "git_commit": commit,
        "data_manifest_sha256": manifest_sha256(),
        "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "trained_with": f"python scripts/train_psf_estimator.py --out {out} --steps {settings['steps']}",
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return meta_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = TrainSettings()
    for f in dataclasses.fields(TrainSettings):
        kind = type(getattr(defaults, f.name)) if getattr(defaults, f.name) is not None else int
        parser.add_argument("--" + f.name.replace("_", "-"), type=kind, default=getattr(defaults, f.name))
    parser.add_argument("--ship", action="store_true", help="export out/best.pt into the package instead of training")
    parser.add_argument("--dest", help="with --ship: export here instead (e.g. benchmarks/weights/unseen-mhh/psf)")
    args = vars(parser.parse_args())
    dest = args.pop("dest")
    if args.pop("ship"):
        print(ship(Path(args["out"]), dest))
        return
    print(json.dumps(train(TrainSettings(**args))["best"].get("metrics", {}).get("median_abs_error", {})))
    leave_if_worker(0)  # under torchrun: no interpreter teardown (gloo's threads aborted it now and then)


if __name__ == "__main__":
    main()

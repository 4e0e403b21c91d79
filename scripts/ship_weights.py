"""Copy a run's best weights into the package under a method name, with its training
log, a description and a rank (the highest rank is the default method).

    python scripts/ship_weights.py runs/nafnet-blind nafnet-blind --rank 100 \
        --description "NAFNet, blind, realistic degradations"

``--dest`` writes elsewhere than the package, e.g. the held-out-source weights that only
the benchmark uses (``benchmarks/weights/unseen-mhh``). ``--after`` names the earlier
stages of a continued run (``scripts/train_paper_models.py --continue-minutes``), oldest
first: their logs are put before the run's own in the shipped ``NAME.log.csv``, epochs and
steps counted on, with a ``stage`` column.
"""

import argparse
import csv
import hashlib
import json
import shutil
from pathlib import Path

from xraydeblur.models.registry import WEIGHTS_DIR


def write_history(stages: list[Path], path: Path) -> None:
    """The stages' log.csv rows, one after the other, epochs and steps counted on."""
    rows, epoch, step = [], 0, 0
    for stage in stages:
        own = list(csv.DictReader((stage / "log.csv").open()))
        for row in own:
            rows.append({**row, "epoch": int(row["epoch"]) + epoch, "step": int(row["step"]) + step, "stage": stage.name})
        if own:
            epoch, step = rows[-1]["epoch"], rows[-1]["step"]
    fields = list(dict.fromkeys(key for row in rows for key in row))  # stages may log different columns
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path)
    p.add_argument("name")
    p.add_argument("--rank", type=int, default=50)
    p.add_argument("--description", default="")
    p.add_argument("--dest", type=Path, default=WEIGHTS_DIR, help="folder (default: the package's weights)")
    p.add_argument("--after", type=Path, nargs="*", default=[], help="earlier stages of a continued run, oldest first")
    args = p.parse_args()
    args.dest.mkdir(parents=True, exist_ok=True)
    dst = args.dest / args.name
    shutil.copyfile(args.run / "best.safetensors", dst.with_suffix(".safetensors"))
    meta = json.loads((args.run / "best.json").read_text())
    assert meta["weights_sha256"] == hashlib.sha256(dst.with_suffix(".safetensors").read_bytes()).hexdigest()
    shipped = dst.with_suffix(".json")
    former = json.loads(shipped.read_text()).get("description", "") if shipped.exists() else ""
    description = args.description or meta.get("description") or former
    if not description:
        raise SystemExit(f"{args.name}: no description (users see it in 'xraydeblur deblur --method list'); pass --description")
    meta.update({"name": args.name, "rank": args.rank, "description": description})
    if meta.get("config", {}).get("init_weights"):
        # a continuation stage starts from init_weights (runs written before train.loop
        # knew this also claimed the least-squares start of their first stage)
        meta.pop("init", None)
    metrics = meta.setdefault("metrics", {})
    if "val_mse" not in metrics and (args.run / "config.yaml").exists():
        # the paper's validation loss, whatever the training loss (older logs lack it)
        from xraydeblur.train.loop import validation_metrics

        metrics["val_mse"] = validation_metrics(str(args.run / "config.yaml"), args.run / "best")["val_mse"]
    dst.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    if (args.run / "log.csv").exists():
        write_history([*args.after, args.run], args.dest / f"{args.name}.log.csv")
    print(f"shipped {dst.with_suffix('.safetensors')} ({dst.with_suffix('.safetensors').stat().st_size / 1e6:.1f} MB), sha256 {meta['weights_sha256'][:16]}…")


if __name__ == "__main__":
    main()

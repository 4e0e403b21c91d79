"""Train the paper's networks on the paper's protocol, choosing hyper-parameters on the
validation split first, then training each within a CPU-time budget (resumable).

    python scripts/train_paper_models.py --nets srcnn unet --minutes 40 --out runs/paper
    python scripts/train_paper_models.py --nets dae --minutes 25 --out runs/paper
    python scripts/train_paper_models.py --nets dae-fc --minutes 8 --out runs/paper

Per network (config ``configs/<net>_paper.yaml``; ``dae`` is the spatial-latent variant,
``dae-fc`` the faithful fully connected VAE):

1. a learning-rate sweep ({3e-4, 1e-3, 3e-3}; SRCNN, which starts at the least-squares
   linear filter, {1e-4, 3e-4, 1e-3}; ``--sweep-steps`` steps each) on the
   training split, scored by validation PSNR (whole 224 px validation images); for
   ``dae`` also the latent channels ({4, 16, 32}) at the chosen rate; for ``dae-fc`` the
   latent size ({256, 2048}) is studied with full runs instead (it decides nothing: both
   stay far below the blurred input);
2. the main run with the chosen settings, its step count set so that it takes about
   ``--minutes`` on this machine (measured in the sweep), cosine schedule; the plan is
   written to ``<out>/<net>/plan.json`` and reused when the run is resumed.

Writes ``<out>/summary.json`` (sweeps, choices, steps, CPU minutes); each run folder has
``log.csv``, TensorBoard events and ``best.safetensors``. Ship with
``scripts/ship_weights.py <out>/<net>/main <net>``. ``--scheme source`` trains with the
Hannover (mhh) source held out (configs/unseen-mhh).

The state of the shipped runs is committed in ``training/paper/<net>/`` (plan, the main
run's ``last.pt``, logs and TensorBoard events, the sweeps' logs): to go on training
from there, ``cp -r training/paper runs/`` and add continuation stages:

    python scripts/train_paper_models.py --nets unet --continue-minutes 70 --out runs/paper

A continuation stage ``cont<k>`` starts from the previous stage's best weights with a
fresh cosine schedule whose peak is a third of the chosen learning rate (a warm restart
below the rate that was best from scratch); its steps, CPU minutes and result are
appended to ``plan["continuations"]`` and ``plan["main_folder"]`` points at the last
stage that improved validation PSNR.
"""

import argparse
import copy
import csv
import json
import time
from pathlib import Path

from xraydeblur.train import train
from xraydeblur.train.config import load_config

LEARNING_RATES = (3e-4, 1e-3, 3e-3)
#: SRCNN starts at the least-squares linear filter (configs/srcnn_paper.yaml,
#: init_linear): rates ten times lower keep that start instead of shaking it off
RATES = {"srcnn": (1e-4, 3e-4, 1e-3)}
LATENT_CHANNELS = (4, 16, 32)
FC_LATENTS = (256, 2048)
CONFIG = {"srcnn": "srcnn_paper", "unet": "unet_paper", "dae": "dae_spatial_paper", "dae-fc": "dae_paper"}


def _with(cfg: dict, steps: int, **changes) -> dict:
    """A copy of ``cfg`` running ``steps`` optimiser steps over 4-20 validated epochs."""
    cfg = copy.deepcopy(cfg)
    epochs = 4 if steps <= 400 else 20
    per_epoch = max(1, steps // epochs)
    cfg["epochs"] = epochs
    cfg["data"]["samples_per_epoch"] = per_epoch * cfg["batch_size"]
    cfg["schedule"]["warmup_steps"] = min(cfg["schedule"]["warmup_steps"], per_epoch)
    for path, value in changes.items():
        node = cfg
        *parents, leaf = path.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return cfg


def _run(cfg: dict, out: Path) -> dict:
    """Train (resuming) and return the best row plus the seconds per training step."""
    t0 = time.process_time()
    best = train(cfg, out, resume=True, progress=False)
    rows = list(csv.DictReader(open(out / "log.csv")))
    steps = int(rows[-1]["step"])
    seconds = sum(float(r["seconds"]) for r in rows)
    return {"best_val_psnr": float(best["val_psnr"]), "best_val_ssim": float(best["val_ssim"]), "best_step": int(best["step"]),
            "steps": steps, "seconds_per_step": seconds / max(1, steps), "cpu_minutes_this_call": (time.process_time() - t0) / 60}


def plan_and_train(net: str, out: Path, minutes: float, sweep_steps: int, scheme: str) -> dict:
    cfg = load_config(f"configs/{CONFIG[net]}.yaml")
    if scheme == "source":
        cfg["data"].update({"scheme": "source", "held_out": "mhh"})
    folder = out / net
    plan_path = folder / "plan.json"
    if plan_path.exists():
        plan = json.loads(plan_path.read_text())
    else:
        plan = {"net": net, "sweep": []}
        if net == "dae-fc":
            plan["choice"] = {"model.kwargs.latent": max(FC_LATENTS)}
            plan["latent_study"] = [{"latent": z} for z in FC_LATENTS]
            plan["seconds_per_step"] = None
        else:
            for lr in RATES.get(net, LEARNING_RATES):
                r = _run(_with(cfg, sweep_steps, **{"optimizer.lr": lr}), folder / f"sweep-lr{lr:g}")
                plan["sweep"].append({"optimizer.lr": lr, **r})
            best = max(plan["sweep"], key=lambda r: r["best_val_psnr"])
            plan["choice"] = {"optimizer.lr": best["optimizer.lr"]}
            if net == "dae":
                for ch in LATENT_CHANNELS:
                    if ch == cfg["model"]["kwargs"]["latent_channels"]:
                        continue
                    r = _run(_with(cfg, sweep_steps, **{"optimizer.lr": best["optimizer.lr"], "model.kwargs.latent_channels": ch}), folder / f"sweep-latent{ch}")
                    plan["sweep"].append({"optimizer.lr": best["optimizer.lr"], "model.kwargs.latent_channels": ch, **r})
                best = max(plan["sweep"], key=lambda r: r["best_val_psnr"])
                plan["choice"]["model.kwargs.latent_channels"] = best.get("model.kwargs.latent_channels", cfg["model"]["kwargs"]["latent_channels"])
            # the first sweep run also decodes and resizes every image once: take the fastest
            plan["seconds_per_step"] = min(r["seconds_per_step"] for r in plan["sweep"])
            plan["steps"] = int(minutes * 60 / plan["seconds_per_step"])
        folder.mkdir(parents=True, exist_ok=True)
        plan_path.write_text(json.dumps(plan, indent=2))
    if net == "dae-fc":
        # whole 224 px images; a latent-size study of full runs (learning curves in each log.csv)
        steps = int(minutes * 60 / 0.75)
        for entry in plan["latent_study"]:
            entry.update(_run(_with(cfg, steps, **{"model.kwargs.latent": entry["latent"], "name": "dae-fc"}), folder / f"latent{entry['latent']}"))
        best = max(plan["latent_study"], key=lambda r: r["best_val_psnr"])
        plan["main_folder"] = str(folder / f"latent{best['latent']}")
    else:
        plan["main"] = _run(_with(cfg, plan["steps"], **plan["choice"]), folder / "main")
        plan["main_folder"] = str(folder / "main")
    plan_path.write_text(json.dumps(plan, indent=2))
    return plan


def continue_training(net: str, out: Path, minutes: float, loss: str | None = None) -> dict:
    """Run one more stage from the best weights so far (see the module docstring);
    ``loss`` replaces the config's loss kind for this stage (e.g. ``psnr``): such a stage
    is a variant (``"variant": true`` in the plan), reported but never made the
    ``main_folder`` that is shipped, since the config's loss is the paper's."""
    folder = out / net
    plan = json.loads((folder / "plan.json").read_text())
    stages = plan.setdefault("continuations", [])
    start = Path(plan.get("main_folder") or folder / "main")
    cfg = load_config(f"configs/{CONFIG[net]}.yaml")
    # the split of the run it continues (a held-out-source run stays on that scheme)
    first = load_config(folder / "main" / "config.yaml")
    cfg["data"].update({key: first["data"][key] for key in ("scheme", "held_out")})
    lr = float(plan["choice"]["optimizer.lr"]) / 3
    # the budget at the pace the latest stage measured (the sweep's pace, in the plan,
    # was taken while other work shared the cores)
    pace = (stages[-1] if stages else plan["main"])["seconds_per_step"]
    steps = int(minutes * 60 / pace)
    changes = {**plan["choice"], "optimizer.lr": lr, "init_weights": str(start / "best")}
    if loss:
        changes["loss.kind"] = loss
    stage = folder / f"cont{len(stages) + 1}"
    result = _run(_with(cfg, steps, **changes), stage)
    variant = bool(loss) and loss != cfg["loss"].get("kind")
    previous = max([plan["main"]["best_val_psnr"]] + [s["best_val_psnr"] for s in stages if not s.get("variant")])
    stages.append({"folder": stage.name, "from": start.name, "optimizer.lr": lr, "planned_steps": steps,
                   **({"loss.kind": loss, "variant": variant} if loss else {}), **result})
    if result["best_val_psnr"] > previous and not variant:
        # a stage on another loss than the config's (the paper's) is a variant: reported,
        # never what the recipe ships
        plan["main_folder"] = str(stage)
    (folder / "plan.json").write_text(json.dumps(plan, indent=2))
    return plan


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nets", nargs="+", choices=sorted(CONFIG), default=["srcnn", "unet", "dae", "dae-fc"])
    p.add_argument("--out", type=Path, default=Path("runs/paper"))
    p.add_argument("--minutes", type=float, default=40.0, help="CPU minutes of each main run")
    p.add_argument("--sweep-steps", type=int, default=200)
    p.add_argument("--scheme", choices=["patient", "source"], default="patient")
    p.add_argument("--continue-minutes", type=float, default=0.0,
                   help="instead of planning, add one continuation stage of this many CPU minutes")
    p.add_argument("--loss", choices=["mse", "psnr", "l1", "charbonnier"],
                   help="loss kind of the continuation stage (default: the config's)")
    args = p.parse_args()
    summary_path = args.out / "summary.json"
    for net in args.nets:
        if args.continue_minutes > 0:
            plan = continue_training(net, args.out, args.continue_minutes, args.loss)
        else:
            plan = plan_and_train(net, args.out, args.minutes, args.sweep_steps, args.scheme)
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
        summary[net] = plan
        summary_path.write_text(json.dumps(summary, indent=2))
        print(net, json.dumps(plan.get("main") or plan.get("latent_study")), flush=True)


if __name__ == "__main__":
    main()

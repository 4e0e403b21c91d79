"""Training of the learned PSF estimator (:class:`xraydeblur.models.psf_net.PsfNet`).

Samples are drawn on the fly (:mod:`xraydeblur.train.psf_data`) from crops of the
training split; a fixed validation set (crops of the validation split, its own seed)
picks the best weights and calibrates the confidence (one temperature, by grid search
on the validation negative log-likelihood). AdamW, cosine learning rate from ``lr`` to
``lr / 50`` over ``steps``; the state is saved to ``out/last.pt`` every
``checkpoint_every`` steps and at the end, and a later call with the same ``out``
resumes from it (model, optimiser, step and rank 0's sampler state). Logs:
``out/log.csv`` and TensorBoard in ``out/tb``. Runs multi-process under ``torchrun``
(DDP on gloo; every rank draws its own samples, rank 0 validates and saves).

>>> train(TrainSettings(out="runs/psf/main", steps=4000, minutes=60))   # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..models.psf_labels import FAMILIES, PARAMS, angle_difference, decode
from ..models.psf_net import PsfNet, psf_loss
from . import psf_data


@dataclass
class TrainSettings:
    """One training run. ``out``: run folder; ``steps``: length of the cosine schedule;
    ``minutes``: wall-clock budget of this call (0 = none); ``scheme`` / ``held_out``:
    the data split (:func:`xraydeblur.data.splits.split_rows`); ``max_rows``: use only
    the first rows of each split (tests); ``init``: a ``.safetensors`` or ``.pt`` state
    dict to start a new run from (a fine-tune with its own schedule; ignored when
    ``out/last.pt`` exists)."""

    out: str = "runs/psf/main"
    steps: int = 4000
    minutes: float = 0.0
    batch: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    width: int = 16
    hidden: int = 128
    seed: int = 0
    crops_per_image: int = 2
    val_samples: int = 768
    val_every: int = 250
    checkpoint_every: int = 100
    scheme: str = "patient"
    held_out: str = "mhh"
    max_rows: int | None = None
    init: str = ""


def _rows(settings: TrainSettings, part: str):
    from ..data.splits import split_rows

    rows = split_rows(part, settings.scheme, settings.held_out, seed=0)
    return rows[: settings.max_rows] if settings.max_rows else rows


def validation_set(settings: TrainSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict]]:
    """The fixed validation samples (features, families, targets, facts)."""
    pool = psf_data.CropPool(_rows(settings, "val"), per_image=4, seed=settings.seed + 1)
    return psf_data.batch(pool, np.random.default_rng([settings.seed, 1]), settings.val_samples)


def fit_temperature(logits: np.ndarray, families: np.ndarray) -> float:
    """The softmax temperature (0.5-5) that minimises the negative log-likelihood of
    ``families`` (N,) under ``logits`` (N, F)."""
    best, best_nll = 1.0, np.inf
    for t in np.arange(0.5, 5.0001, 0.05):
        z = logits / t
        z = z - z.max(1, keepdims=True)
        nll = float(-(z[np.arange(len(z)), families] - np.log(np.exp(z).sum(1))).mean())
        if nll < best_nll:
            best, best_nll = float(t), nll
    return round(best, 2)


def accuracy(outputs: np.ndarray, facts: list[dict], temperature: float = 1.0) -> dict:
    """Family accuracy, confusion counts and parameter errors of ``outputs`` (N, O)
    against the true degradations in ``facts`` (``kind``, ``params``; as
    :func:`xraydeblur.train.psf_data.sample` records them). Errors (px, degrees) are
    taken where the family is right: median absolute error of Gaussian sigma, disk
    radius, motion length and motion angle (angles modulo 180)."""
    confusion = {t: {p: 0 for p in FAMILIES} for t in FAMILIES}
    errors: dict[str, list[float]] = {"gaussian_sigma_px": [], "disk_radius_px": [], "motion_length_px": [], "motion_angle_deg": [], "exponential_scale_px": []}
    right = 0
    for row, fact in zip(outputs, facts):
        found = decode(row, temperature)
        confusion[fact["kind"]][found["family"]] += 1
        if found["family"] != fact["kind"]:
            continue
        right += 1
        p, q = found["params"], fact["params"]
        if fact["kind"] == "gaussian":
            errors["gaussian_sigma_px"].append(abs(p["sigma"] - q["sigma"]))
        elif fact["kind"] == "disk":
            errors["disk_radius_px"].append(abs(p["radius"] - q["radius"]))
        elif fact["kind"] == "motion":
            errors["motion_length_px"].append(abs(p["length"] - q["length"]))
            errors["motion_angle_deg"].append(angle_difference(p["angle"], q["angle"]))
        elif fact["kind"] == "exponential":
            errors["exponential_scale_px"].append(abs(p["scale"] - q["scale"]))
    return {
        "samples": len(facts),
        "family_accuracy": right / max(len(facts), 1),
        "median_abs_error": {k: (float(np.median(v)) if v else None) for k, v in errors.items()},
        "confusion": confusion,
    }


def _state_dict(path: str) -> dict:
    """A PsfNet state dict from ``.safetensors`` (shipped weights) or ``.pt`` (``best.pt``)."""
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path)
    return torch.load(path, weights_only=True)


def _distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("gloo")
    return (torch.distributed.get_rank() if world > 1 else 0), world


def train(settings: TrainSettings) -> dict:
    """Train (or resume) and return the run's summary (also ``out/summary.json``)."""
    rank, world = _distributed()
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(settings.seed)
    model = PsfNet(settings.width, settings.hidden)
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    rng = np.random.default_rng([settings.seed, 0, rank])
    step, best = 0, {"val_loss": math.inf}
    last = out / "last.pt"
    if last.exists():
        state = torch.load(last, weights_only=False)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        step, best = state["step"], state["best"]
        if rank == 0:
            rng.bit_generator.state = state["rng"]
        else:  # only rank 0's sampler state is saved: the others draw on from a seed of the step
            rng = np.random.default_rng([settings.seed, step, rank])
    elif settings.init:
        model.load_state_dict(_state_dict(settings.init))
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    pool = psf_data.CropPool(_rows(settings, "train"), settings.crops_per_image, seed=settings.seed + 7 * rank)
    val = validation_set(settings) if rank == 0 else None
    writer = None
    if rank == 0:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out / "tb"))
        (out / "settings.json").write_text(json.dumps(asdict(settings), indent=2))
    started = time.time()
    log_path = out / "log.csv"

    def lr_at(s: int) -> float:
        t = min(s / max(settings.steps, 1), 1.0)
        return settings.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))

    def save() -> None:
        if rank == 0:
            torch.save({"model": model.state_dict(), "optimiser": optimiser.state_dict(), "step": step, "best": best, "rng": rng.bit_generator.state}, out / "last.tmp")
            os.replace(out / "last.tmp", last)

    def out_of_time() -> bool:
        late = bool(settings.minutes) and time.time() - started > settings.minutes * 60
        if world > 1:
            # one decision for all ranks: a rank that stopped alone would leave the others
            # waiting in the gradient all-reduce
            flag = torch.tensor([float(late)])
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            late = bool(flag.item())
        return late

    running = []
    while step < settings.steps:
        if out_of_time():
            break
        features, families, targets, _ = psf_data.batch(pool, rng, settings.batch)
        for group in optimiser.param_groups:
            group["lr"] = lr_at(step)
        net.train()
        loss, ce, mse = psf_loss(net(torch.from_numpy(features)), torch.from_numpy(families), torch.from_numpy(targets))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        step += 1
        running.append((loss.item(), ce.item(), mse.item()))
        if rank == 0 and (step % settings.val_every == 0 or step == settings.steps):
            model.eval()
            with torch.no_grad():
                output = model(torch.from_numpy(val[0]))
                val_loss, val_ce, val_mse = (float(v) for v in psf_loss(output, torch.from_numpy(val[1]), torch.from_numpy(val[2])))
            output = output.numpy()
            temperature = fit_temperature(output[:, : len(FAMILIES)], val[1])
            metrics = accuracy(output, val[3], temperature)
            train_loss = float(np.mean([r[0] for r in running]))
            running = []
            row = {
                "step": step,
                "lr": lr_at(step - 1),
                "train_loss": round(train_loss, 5),
                "val_loss": round(val_loss, 5),
                "val_ce": round(val_ce, 5),
                "val_mse": round(val_mse, 5),
                "val_family_accuracy": round(metrics["family_accuracy"], 4),
                "temperature": temperature,
                **{f"val_{k}": (round(v, 4) if v is not None else "") for k, v in metrics["median_abs_error"].items()},
                "seconds": round(time.time() - started, 1),
            }
            new = not log_path.exists()
            with log_path.open("a", newline="") as handle:
                w = csv.DictWriter(handle, fieldnames=list(row))
                if new:
                    w.writeheader()
                w.writerow(row)
            for key, value in row.items():
                if key != "step" and value != "":
                    writer.add_scalar(key, value, step)
            writer.flush()
            print(json.dumps(row), flush=True)
            if val_loss < best["val_loss"]:
                best = {"val_loss": val_loss, "step": step, "temperature": temperature, "metrics": metrics}
                torch.save(model.state_dict(), out / "best.pt")
        if step % settings.checkpoint_every == 0:
            save()
    save()
    summary = {"steps": step, "world_size": world, "best": best, "params": sum(p.numel() for p in model.parameters()), "families": FAMILIES, "regressions": [f"{f}.{n}" for f, n in PARAMS]}
    if rank == 0:
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        writer.close()
    if world > 1:
        # every rank waits for rank 0's last validation and save, then the group is torn
        # down in order: a rank that exited while another still held the gloo group
        # aborted (SIGABRT) now and then, failing the run
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return summary

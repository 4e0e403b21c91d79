"""The training loop (single process or DDP under torchrun)."""

import csv
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from .. import __version__
from ..metrics import psnr, ssim
from ..models import build_model, count_parameters
from ..models.kernel_input import network_input
from .config import load_config
from .data import EpochIndexed, EpochSampler, build_datasets
from .losses import crop_border, restoration_loss
from .weights import save_weights, weights_sha256


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent, timeout=10).stdout.strip()
    except Exception:
        return ""


def _manifest_hash(cfg: dict) -> str:
    if cfg["data"]["preset"] == "synthetic":
        return "synthetic"
    from ..data import manifest_sha256

    return manifest_sha256()


def _setup_distributed() -> tuple[int, int, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    rank = dist.get_rank() if dist.is_initialized() else 0
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    return rank, world, device


def _load_init(model: torch.nn.Module, stem: str, zero: list[str] = ()) -> None:
    """Start from other weights. Input convolutions with fewer input channels (a blind
    model initialising a kernel-aware one) are copied into the first channels and the
    extra channels start at zero, so training starts from the blind model's output.
    Parameters whose names start with a prefix in ``zero`` are then set to zero (e.g.
    ``ending`` for a NAFNet whose residual base changes: it then starts as the identity
    on that base). A deeper model than the weights (a NAFNet with more blocks per
    level) keeps its extra blocks as initialised: whole blocks only, and a NAFBlock
    starts as the identity (zero ``beta`` / ``gamma``), so it starts as the given
    network, function for function."""
    from .weights import load_weights

    state = load_weights(stem)[0]
    own = model.state_dict()
    for key, value in state.items():
        if key in own and own[key].shape != value.shape and own[key].ndim == 4 and own[key].shape[1] > value.shape[1]:
            grown = torch.zeros_like(own[key])
            grown[:, : value.shape[1]] = value
            state[key] = grown
    extra = _extra_blocks(model, state)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as error:  # a tensor of another shape
        raise ValueError(f"weights {stem} do not fit the model: {str(error).splitlines()[-1].strip()}") from None
    if unexpected or set(missing) - extra:
        raise ValueError(f"weights {stem} do not fit the model: missing {sorted(set(missing) - extra)[:5]}, unexpected {sorted(unexpected)[:5]}")
    with torch.no_grad():
        for name, param in model.named_parameters():
            if any(name.startswith(prefix) for prefix in zero):
                param.zero_()


def _extra_blocks(model: torch.nn.Module, state: dict) -> set[str]:
    """Parameter names of the model's NAFBlocks that ``state`` has no key of at all
    (blocks a deeper model adds; they start as the identity)."""
    from ..models.nafnet import NAFBlock

    extra = set()
    for name, module in model.named_modules():
        if isinstance(module, NAFBlock) and not any(k.startswith(name + ".") for k in state):
            extra |= {f"{name}.{k}" for k in module.state_dict()}
    return extra


def _lr_at(step: int, total: int, cfg: dict, elapsed: float | None = None) -> float:
    """Learning rate at ``step`` of ``total``: linear warm-up, then cosine to ``min_lr``.
    With ``schedule.seconds`` set, the cosine runs over that many seconds of training
    (``elapsed``) instead of over steps: a run sized by a time budget (a lent GPU)."""
    base, warm, floor = cfg["optimizer"]["lr"], cfg["schedule"]["warmup_steps"], cfg["schedule"]["min_lr"]
    if step < warm:
        return base * (step + 1) / warm
    budget = cfg["schedule"].get("seconds")
    if budget and elapsed is not None:
        progress = min(1.0, elapsed / float(budget))
    else:
        progress = min(1.0, (step - warm) / max(1, total - warm))
    return floor + 0.5 * (base - floor) * (1 + math.cos(math.pi * progress))


def _out_of_time(budget, elapsed: float, world: int) -> bool:
    """Whether a time-budgeted run (``schedule.seconds``) is done; under DDP one decision
    for all ranks (a rank that stopped alone would leave the others in the all-reduce)."""
    if not budget:
        return False
    late = elapsed >= float(budget)
    if world > 1:
        flag = torch.tensor([float(late)], device="cuda" if torch.cuda.is_available() else "cpu")
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        late = bool(flag.item())
    return late


def _forward(model, degraded, kernel, cfg, train: bool):
    """Run the model; returns (restored, kl) where kl is None except for the VAE in training."""
    x = network_input(degraded, kernel if cfg["kernel_aware"] else None)
    core = model.module if isinstance(model, DistributedDataParallel) else model
    if train and hasattr(core, "forward_with_kl"):
        # Go through the (DDP) wrapper's forward so gradients are synchronised.
        core.return_kl = True
        try:
            return model(x)
        finally:
            core.return_kl = False
    return model(x), None


@torch.no_grad()
def validate(model, dataset, cfg, device) -> dict:
    """Mean validation loss (the training loss), PSNR, SSIM and MSE (the paper's
    validation loss, whatever the training loss) over the whole set (numpy metrics)."""
    model.eval()
    losses, psnrs, ssims, mses = [], [], [], []
    for i in range(len(dataset)):
        degraded, sharp, kernel = (t[None].to(device) for t in dataset[i])
        out, _ = _forward(model, degraded, kernel, cfg, train=False)
        out = out.clamp(0, 1)
        losses.append(float(restoration_loss(out, sharp, cfg["loss"])))
        border = int(cfg["loss"].get("border", 0))  # PSNR/SSIM over the same pixels as the loss
        a, b = crop_border(sharp[0, 0].cpu().numpy(), border), crop_border(out[0, 0].cpu().numpy(), border)
        psnrs.append(psnr(a, b))
        ssims.append(ssim(a, b))
        mses.append(float(np.mean((a.astype(np.float64) - b) ** 2)))
    model.train()
    return {"val_loss": float(np.mean(losses)), "val_psnr": float(np.mean(psnrs)), "val_ssim": float(np.mean(ssims)), "val_mse": float(np.mean(mses))}


def validation_metrics(config, weights_stem: str | Path) -> dict:
    """:func:`validate` of the weights ``<weights_stem>.safetensors`` on the validation
    split of ``config`` (a dict or YAML path): what a log written before ``val_mse``
    was recorded lacks (scripts/ship_weights.py fills it in). The network is built as
    the weights' JSON describes it (``arch``, ``kwargs``) when it does, else as the config's."""
    from .weights import load_weights

    cfg = load_config(config) if not isinstance(config, dict) else config
    meta = load_weights(weights_stem)[1]
    arch, kwargs = (meta["arch"], meta.get("kwargs") or {}) if "arch" in meta else (cfg["model"]["arch"], cfg["model"].get("kwargs", {}))
    model = build_model(arch, **kwargs)
    _load_init(model, str(weights_stem))
    _, val_set = build_datasets(cfg)
    return validate(model, val_set, cfg, torch.device("cpu"))


def train(config, out_dir: str | Path, resume: bool = True, max_steps: int | None = None, progress: bool | None = None) -> dict:
    """Train a model from a config (path or dict); returns the best validation metrics.

    Writes to ``out_dir``: ``config.yaml``, ``last.pt`` (resumable state), ``best.safetensors`` +
    ``best.json`` (weights and metadata of the best validation PSNR), ``log.csv`` and
    TensorBoard events in ``tb/``. Under torchrun every rank trains on different samples
    and gradients are averaged (DDP); rank 0 writes files. ``max_steps`` stops early
    (tests).
    """
    cfg = load_config(config)
    rank, world, device = _setup_distributed()
    torch.set_num_threads(int(cfg["threads"]))
    torch.manual_seed(int(cfg["seed"]))
    out = Path(out_dir)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        import yaml

        (out / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))

    if cfg["kernel_aware"]:
        cfg["model"].setdefault("kwargs", {})["in_channels"] = 2
    model = build_model(cfg["model"]["arch"], **cfg["model"].get("kwargs", {})).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg["optimizer"]["lr"], weight_decay=cfg["optimizer"]["weight_decay"], betas=tuple(cfg["optimizer"]["betas"]))
    train_set, val_set = build_datasets(cfg)
    steps_per_epoch = len(train_set) // (cfg["batch_size"] * world)
    total = steps_per_epoch * int(cfg["epochs"])
    state = {"epoch": 0, "step": 0, "best_psnr": -1.0, "best": {}}
    ckpt = out / "last.pt"
    if resume and ckpt.exists():
        saved = torch.load(ckpt, map_location=device, weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        state = saved["state"]
    elif cfg.get("init_weights"):
        _load_init(model, cfg["init_weights"], cfg.get("init_zero") or [])
    elif cfg.get("init_linear"):
        from .linear_init import least_squares_filter

        filt, bias = least_squares_filter(train_set.source, model.conv1.kernel_size[0], int(cfg["init_linear"]["pairs"]))
        model.init_linear(filt, bias)
    if world > 1:
        model = DistributedDataParallel(model)
    core = model.module if world > 1 else model
    meta_common = {
        "name": cfg["name"],
        "arch": cfg["model"]["arch"],
        "kwargs": cfg["model"].get("kwargs", {}),
        "kernel_aware": bool(cfg["kernel_aware"]),
        "config": cfg,
        "package_version": __version__,
        "git_commit": _git_commit(),
        "data_manifest_sha256": _manifest_hash(cfg),
        "parameters": count_parameters(core),
        "world_size": world,
    }
    if cfg.get("init_linear") and not cfg.get("init_weights"):
        # only a run that started at the filter (a continuation starts from init_weights)
        meta_common["init"] = f"least-squares linear filter on {int(cfg['init_linear']['pairs'])} training pairs"
    if cfg.get("init_weights"):
        # provenance of a continued run: which weights it started from, by content (None
        # when a resumed run's initial weights have since been removed)
        try:
            meta_common["init_weights_sha256"] = weights_sha256(cfg["init_weights"])
        except FileNotFoundError:
            meta_common["init_weights_sha256"] = None
    writer = None
    if rank == 0:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out / "tb"))
    show = (sys.stderr.isatty() if progress is None else progress) and rank == 0
    log_path = out / "log.csv"
    model.train()
    stop = False
    budget = cfg["schedule"].get("seconds")
    call_start, trained_before = time.time(), float(state.get("seconds_trained", 0.0))

    def elapsed() -> float:
        return trained_before + time.time() - call_start

    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    # one loader for the whole run: its worker processes (and the radiographs they have
    # decoded) live across epochs; the sampler hands them each epoch's own indices
    sampler = EpochSampler(len(train_set), steps_per_epoch * cfg["batch_size"], rank, world)
    workers = int(cfg["workers"])
    run_loader = DataLoader(EpochIndexed(train_set), batch_size=cfg["batch_size"], sampler=sampler, num_workers=workers, drop_last=True, persistent_workers=workers > 0, pin_memory=device.type == "cuda")
    while state["epoch"] < int(cfg["epochs"]) and not stop:
        epoch = state["epoch"]
        sampler.epoch = epoch
        loader = run_loader
        if show:
            from tqdm import tqdm

            loader = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg['epochs']}", leave=False)
        t0, running, data_wait = time.time(), [], 0.0
        batches = iter(loader)
        while True:
            waited = time.perf_counter()  # time blocked on the loader: the run is data-bound when it is large
            batch = next(batches, None)
            data_wait += time.perf_counter() - waited
            if batch is None:
                break
            degraded, sharp, kernel = batch
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(state["step"], total, cfg, elapsed())
            degraded, sharp, kernel = degraded.to(device, non_blocking=True), sharp.to(device, non_blocking=True), kernel.to(device, non_blocking=True)
            pred, kl = _forward(model, degraded, kernel, cfg, train=True)
            loss = restoration_loss(pred, sharp, cfg["loss"])
            if kl is not None:
                loss = loss + float(cfg["loss"].get("kl_beta", 1e-4)) * kl
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            running.append(loss.detach())  # read every 10 steps: a read waits for the device
            state["step"] += 1
            if writer and state["step"] % 10 == 0:
                running[-10:] = [float(v) for v in running[-10:]]
                writer.add_scalar("train/loss", float(np.mean(running[-10:])), state["step"])
            if (max_steps and state["step"] >= max_steps) or _out_of_time(budget, elapsed(), world):
                stop = True
                break
        state["epoch"] += 1
        state["seconds_trained"] = elapsed()
        metrics = validate(core, val_set, cfg, device) if rank == 0 else {}
        if rank == 0:
            row = {"epoch": state["epoch"], "step": state["step"], "train_loss": float(np.mean([float(v) for v in running])) if running else float("nan"), **metrics, "lr": optimizer.param_groups[0]["lr"], "seconds": round(time.time() - t0, 1), "data_wait_seconds": round(data_wait, 1)}
            new = not log_path.exists()
            # a resumed run keeps its log's columns (one written before val_mse existed)
            fields = list(row)
            if not new:
                with open(log_path, newline="") as existing:
                    fields = next(csv.reader(existing), fields)
            with open(log_path, "a", newline="") as handle:
                w = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
                if new:
                    w.writeheader()
                w.writerow(row)
            for key, value in metrics.items():
                writer.add_scalar(f"val/{key[4:]}", value, state["step"])
            print(json.dumps(row), flush=True)
            if metrics["val_psnr"] > state["best_psnr"]:
                state["best_psnr"], state["best"] = metrics["val_psnr"], row
                save_weights(core, out / "best", {**meta_common, "metrics": row, "steps": state["step"]})
            torch.save({"model": core.state_dict(), "optimizer": optimizer.state_dict(), "state": state}, out / "last.pt.tmp")
            os.replace(out / "last.pt.tmp", ckpt)
        if world > 1:
            dist.barrier()
    if rank == 0 and writer:
        writer.close()
    if world > 1:
        digest = float(sum(p.detach().double().sum() for p in core.parameters()))
        (out / f"rank{rank}.json").write_text(json.dumps({"rank": rank, "param_sum": digest, "step": state["step"]}))
        dist.barrier()
        dist.destroy_process_group()
    return state["best"]

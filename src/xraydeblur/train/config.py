"""Training configuration (YAML) with defaults.

Keys (all optional except ``model.arch``)::

    base: ../nafnet_blind.yaml    # optional: start from another config (path relative to this file)
    name: nafnet-small            # run / weights name
    model: {arch: nafnet, kwargs: {width: 16}}
    kernel_aware: false           # add a Wiener-deconvolved channel computed from the true kernel
    init_weights: path/stem       # optional: start from these weights (safetensors stem)
    init_zero: [ending]           # optional: parameter-name prefixes zeroed after init_weights
    init_linear: {pairs: 300}     # optional (srcnn): start at the least-squares linear filter
                                  # fitted on this many training pairs (train.linear_init)
    data:
      preset: realistic           # paper | realistic | synthetic (no files needed; for tests)
      scheme: patient             # patient | source
      held_out: mhh               # source kept out of training with scheme=source
      patch: 128                  # training crop (px); paper preset uses 224x224 whole images
      crop: null                  # paper preset: train on random crops of this size (px) of them
      samples_per_epoch: 2048
      val_samples: 64
      val_seed: null              # seed of the validation crops (null: seed + 1); fix it to
                                  # compare val_psnr between runs of different seeds
      degradation: {}             # overrides of the preset's distribution
    batch_size: 8
    epochs: 10
    optimizer: {lr: 1.0e-3, weight_decay: 0.0, betas: [0.9, 0.9]}
    schedule: {warmup_steps: 100, min_lr: 1.0e-6}   # cosine after warm-up
                                  # seconds: N (optional) - cosine over N s of training,
                                  # then stop (runs sized by a time budget: a lent GPU)
    loss: {kind: charbonnier, fft_weight: 0.05, kl_beta: 1.0e-4}
    seed: 0
    threads: 1                    # torch threads per process
    workers: 0                    # DataLoader worker processes
"""

import copy
from pathlib import Path

import yaml

DEFAULTS = {
    "name": "model",
    "model": {"arch": "nafnet", "kwargs": {}},
    "kernel_aware": False,
    "data": {
        "preset": "realistic",
        "scheme": "patient",
        "held_out": "mhh",
        "patch": 128,
        "samples_per_epoch": 2048,
        "val_samples": 64,
        "val_patch": 192,
        "val_seed": None,
        "degradation": {},
    },
    "batch_size": 8,
    "epochs": 10,
    "optimizer": {"lr": 1.0e-3, "weight_decay": 0.0, "betas": [0.9, 0.9]},
    "schedule": {"warmup_steps": 100, "min_lr": 1.0e-6},
    "loss": {"kind": "charbonnier", "fft_weight": 0.05, "kl_beta": 1.0e-4},
    "seed": 0,
    "threads": 1,
    "workers": 0,
}


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in ("kwargs", "degradation"):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read_yaml(path: Path, seen: tuple = ()) -> dict:
    """A YAML config with its ``base:`` chain merged in (the file's own keys win)."""
    path = path.resolve()
    if path in seen:
        raise ValueError(f"config base cycle at {path}")
    raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: not a YAML mapping")
    base = raw.pop("base", None)
    return _merge(_read_yaml(path.parent / base, seen + (path,)), raw) if base else raw


def load_config(source: str | Path | dict) -> dict:
    """Read a YAML file (or take a dict) and fill in :data:`DEFAULTS`.

    A file may name ``base: other.yaml`` (relative to itself): its keys are merged
    over that config's, so a variant states only what differs.
    """
    raw = source if isinstance(source, dict) else _read_yaml(Path(source))
    if not isinstance(raw, dict) or "model" not in raw or "arch" not in raw["model"]:
        raise ValueError("config needs model.arch")
    return _merge(DEFAULTS, raw)

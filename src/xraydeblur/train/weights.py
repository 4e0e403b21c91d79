"""Weights on disk: ``NAME.safetensors`` plus ``NAME.json`` metadata."""

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def save_weights(model: torch.nn.Module, stem: str | Path, metadata: dict) -> str:
    """Write ``stem.safetensors`` and ``stem.json``; returns the weights' sha256."""
    stem = Path(stem)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = stem.with_suffix(".safetensors.tmp")
    save_file(tensors, str(tmp))
    tmp.replace(stem.with_suffix(".safetensors"))
    digest = weights_sha256(stem)
    stem.with_suffix(".json").write_text(json.dumps({**metadata, "weights_sha256": digest}, indent=2, default=str))
    return digest


def _stem(stem: str | Path) -> Path:
    """``stem`` without a ``.safetensors`` / ``.json`` ending."""
    stem = Path(stem)
    return stem.with_suffix("") if stem.suffix in (".safetensors", ".json") else stem


def weights_sha256(stem: str | Path) -> str:
    """sha256 (hex) of ``stem.safetensors``'s bytes: the weights' identity by content."""
    return hashlib.sha256(_stem(stem).with_suffix(".safetensors").read_bytes()).hexdigest()


def load_weights(stem: str | Path) -> tuple[dict, dict]:
    """(state_dict, metadata) from ``stem.safetensors`` / ``stem.json``."""
    stem = _stem(stem)
    meta = json.loads(stem.with_suffix(".json").read_text()) if stem.with_suffix(".json").exists() else {}
    return load_file(str(stem.with_suffix(".safetensors"))), meta

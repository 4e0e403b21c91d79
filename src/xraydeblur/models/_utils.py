"""Small helpers shared by the models (padding to a size multiple, parameter count)."""

import torch
import torch.nn.functional as F
from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable, by default) scalar parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _exporting() -> bool:
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling()


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    """Pad ``x`` (N, C, H, W) at the bottom/right to H, W multiples of ``multiple`` px.

    Reflect padding (no dark borders); in eager mode replicate padding when the image
    is too small to reflect (pad >= size), and no copy when nothing is needed. While
    tracing / exporting, always a (possibly zero-size) reflect pad, so the graph stays
    valid for dynamic H, W. Returns ``(padded, H, W)`` with the original size; the
    caller crops with ``y[..., :H, :W]``.
    """
    h, w = x.shape[-2], x.shape[-1]
    ph = (multiple - h % multiple) % multiple
    pw = (multiple - w % multiple) % multiple
    if _exporting():
        return F.pad(x, (0, pw, 0, ph), mode="reflect"), h, w
    if ph == 0 and pw == 0:
        return x, h, w
    mode = "reflect" if (ph < h and pw < w) else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode), h, w

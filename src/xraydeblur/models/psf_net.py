"""PsfNet: a small CNN that reads a radiograph's power spectrum and names its blur.

Input: (N, 3, 64, 64) float32 spectrum features of the image
(:func:`xraydeblur.infer.learned_psf.spectrum_features`: the log Welch spectrum of
64 px tiles, once relative to its mid-band level and once absolute, plus the frequency
radius). Output: (N, len(FAMILIES) + len(PARAMS)) - the blur family's logits, then
the parameter regressions of :data:`PARAMS` (logs of widths in px, and ``cos 2a`` /
``sin 2a`` of an orientation ``a``: a blur and its spectrum look the same turned by
180 degrees). Only the true family's parameters enter the loss
(:func:`psf_loss`); :func:`xraydeblur.models.psf_labels.decode` turns one output row into a family and parameters
in pixels and degrees, the conventions of :func:`xraydeblur.degrade.make_kernel`.

About 0.2 M parameters; a forward pass on one spectrum takes well under 10 ms on a CPU.
"""

from __future__ import annotations

import torch
from torch import nn

from .psf_labels import FAMILIES, PARAMS

#: feature channels of the input
IN_CHANNELS = 3
#: spectrum side (px of the Welch tile)
SIDE = 64


def family_mask(families: torch.Tensor) -> torch.Tensor:
    """(N, len(PARAMS)) float mask: 1 where the parameter belongs to the row's family
    (``families``: (N,) int64 indices into :data:`FAMILIES`)."""
    owner = torch.tensor([FAMILIES.index(f) for f, _ in PARAMS], device=families.device)
    return (families[:, None] == owner[None, :]).float()


class PsfNet(nn.Module):
    """Four stride-2 3 x 3 convolutions (64 -> 4 px), then two fully connected layers.

    ``width``: channels of the first convolution (doubling to at most 4x width)."""

    def __init__(self, width: int = 16, hidden: int = 128):
        super().__init__()
        chans = [IN_CHANNELS, width, 2 * width, 4 * width, 4 * width]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.GELU(), nn.Conv2d(c_out, c_out, 3, padding=1), nn.GELU()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(chans[-1] * (SIDE // 16) ** 2, hidden), nn.GELU(), nn.Linear(hidden, len(FAMILIES) + len(PARAMS)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def psf_loss(output: torch.Tensor, families: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, classification, regression) losses: cross-entropy of the family logits
    plus the mean squared error of the true family's parameters (``targets``: (N,
    len(PARAMS)), only the entries of the row's family are read)."""
    logits, params = output[:, : len(FAMILIES)], output[:, len(FAMILIES) :]
    ce = nn.functional.cross_entropy(logits, families)
    mask = family_mask(families)
    mse = ((params - targets) ** 2 * mask).sum() / mask.sum().clamp(min=1.0)
    return ce + mse, ce, mse



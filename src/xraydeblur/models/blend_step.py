"""The learned data step's network: a per-pixel blend of data-consistent candidates.

Input: the candidates stacked (N, C, H, W) float32 in [0, 1] with the blind network's
output ``z`` first; the residual ``y - k * z`` (N, 1, H, W); ``log10(noise) + 3``
(N, 1, 1, 1), the noise measured where the kernel leaves no signal ([0, 1] units).
Output (N, 1, H, W) in [0, 1]: ``z`` plus a softmax-weighted sum of the candidates'
differences from ``z`` plus a small bounded residual. The weights come from a few
dilated 3x3 convolutions (receptive field 23 px) and, with ``image_context``, from the
features' mean over the whole image (so the choice can follow the image as a whole, as
a per-image tuned parameter does). It starts as ``z`` (zero head) and has about 29 k
parameters. Any H, W. ``extra_channels``: more conditions, passed to
:meth:`BlendStep.forward` as ``extra``, per image (N, E, 1, 1) or per pixel (N, E, H, W),
e.g. the local signal-to-noise map of :func:`xraydeblur.infer.learned_step.local_snr`.
"""

import torch
from torch import nn


class BlendStep(nn.Module):
    """Blend of ``candidates`` candidate images; see the module docstring."""

    def __init__(
        self, candidates: int, width: int = 24, dilations=(1, 2, 4, 2, 1), residual_bound: float = 0.02, image_context: bool = True, extra_channels: int = 0
    ):
        super().__init__()
        self.c = candidates
        self.bound = residual_bound
        layers, channels = [], candidates + 2 + extra_channels
        for dilation in dilations:
            layers += [nn.Conv2d(channels, width, 3, padding=dilation, dilation=dilation), nn.ReLU(inplace=True)]
            channels = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(width, candidates + 1, 3, padding=1)
        self.context = None
        if image_context:
            self.context = nn.Sequential(nn.Linear(width, width), nn.ReLU(inplace=True), nn.Linear(width, candidates + 1))
            nn.init.zeros_(self.context[2].weight)
            nn.init.zeros_(self.context[2].bias)
        nn.init.zeros_(self.head.weight)
        with torch.no_grad():  # start as z
            self.head.bias.zero_()
            self.head.bias[0] = 4.0

    def _features(self, stack, residual, log_noise, extra=None) -> torch.Tensor:
        z = stack[:, :1]
        parts = [(stack[:, 1:] - z) * 20.0, z - 0.5, residual * 50.0, log_noise.expand_as(z)]
        if extra is not None:
            parts.append(extra.expand(-1, -1, *z.shape[2:]))
        return self.body(torch.cat(parts, 1))

    def _blend(self, stack, features, context_logits) -> torch.Tensor:
        z = stack[:, :1]
        diffs = stack - z
        out = self.head(features)
        if context_logits is not None:
            out = out + context_logits
        weights = torch.softmax(out[:, : self.c], 1)
        return (z + (weights * diffs).sum(1, keepdim=True) + self.bound * torch.tanh(out[:, self.c :])).clamp(0, 1)

    def forward(self, stack: torch.Tensor, residual: torch.Tensor, log_noise: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        features = self._features(stack, residual, log_noise, extra)
        context = None if self.context is None else self.context(features.mean(dim=(2, 3)))[:, :, None, None]
        return self._blend(stack, features, context)

    #: half the receptive field (px) of the body and head together: 1 + 2 + 4 + 2 + 1 + 1
    #: for the default dilations; :meth:`forward_tiled` pads tiles by more
    TILE_MARGIN = 16
    #: :meth:`forward_tiled` keeps the windows' features between its two passes when they
    #: take at most this many bytes (24 float32 maps of 544 x 544 px per 512 px window,
    #: 28.4 MB: 20 windows, e.g. a 2128 x 2000 or 2560 x 2048 radiograph, 568 MB), instead
    #: of computing them again (2.57 against 3.38 s on 2 threads for 2128 x 2000 px,
    #: ``benchmarks/trials/blend_keep_features.py``); larger images compute them twice
    KEEP_FEATURES_BYTES = 640 * 2**20

    def forward_tiled(
        self, stack: torch.Tensor, residual: torch.Tensor, log_noise: torch.Tensor, tile: int = 512, extra: torch.Tensor | None = None
    ) -> torch.Tensor:
        """:meth:`forward` on ``tile`` px windows (plus :data:`TILE_MARGIN` px of context
        each side), for large images: the same result up to float rounding, with the
        memory of one window's 24 feature maps (or all windows', up to
        :data:`KEEP_FEATURES_BYTES`) instead of the whole image's at once. Two passes: the
        first sums the features over the image for the image context, the second blends.
        Batch size 1. ``extra``: as in :meth:`forward`; a per-pixel one is cut into the
        same windows."""
        h, w = stack.shape[2:]
        m = self.TILE_MARGIN
        if sum(d for d in self._dilations()) + 1 > m:
            raise ValueError("receptive field wider than the tile margin")
        windows = [(y, x) for y in range(0, h, tile) for x in range(0, w, tile)]

        def padded(y, x):
            y0, x0, y1, x1 = max(0, y - m), max(0, x - m), min(h, y + tile + m), min(w, x + tile + m)
            box = (slice(None), slice(None), slice(y0, y1), slice(x0, x1))
            inner = (slice(None), slice(None), slice(y - y0, y - y0 + min(tile, h - y)), slice(x - x0, x - x0 + min(tile, w - x)))
            return box, inner

        def extra_in(box):
            return extra if extra is None or extra.shape[2:] == (1, 1) else extra[box]

        kept: dict = {}
        keep = len(windows) * (tile + 2 * m) ** 2 * self.head.in_channels * 4 <= self.KEEP_FEATURES_BYTES
        context = None
        if self.context is not None:
            total = torch.zeros(stack.shape[0], self.head.in_channels)
            for y, x in windows:
                box, inner = padded(y, x)
                features = self._features(stack[box], residual[box], log_noise, extra_in(box))
                total += features[inner].sum(dim=(2, 3))
                if keep:
                    kept[y, x] = features
            context = self.context(total / (h * w))[:, :, None, None]
        out = torch.empty_like(stack[:, :1])
        for y, x in windows:
            box, inner = padded(y, x)
            features = kept.pop((y, x)) if (y, x) in kept else self._features(stack[box], residual[box], log_noise, extra_in(box))
            blended = self._blend(stack[box], features, context)
            out[:, :, y : y + tile, x : x + tile] = blended[inner]
        return out

    def _dilations(self):
        return [layer.dilation[0] for layer in self.body if isinstance(layer, nn.Conv2d)]

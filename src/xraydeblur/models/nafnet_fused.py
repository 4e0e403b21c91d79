"""Inference form of a trained :class:`~xraydeblur.models.nafnet.NAFNet`: the same
function, fewer operators.

Four exact rewrites of every block (outputs match to float rounding, ~1e-6):

* the LayerNorm's per-channel scale and shift are folded into the 1x1 conv after it;
* the zero-initialised residual scales (beta, gamma) are folded into the 1x1 conv
  before them;
* SimpleGate's channel split is removed: the 1x1 conv (c -> 2c) and depthwise conv
  that feed it become two convs producing each half directly;
* the channel attention pools with ``adaptive_avg_pool2d`` (ONNX GlobalAveragePool,
  which onnxruntime runs in its blocked channel layout) instead of a spatial mean
  (ReduceMean, which needs the plain layout);

and of every decoder level: the 1x1 conv (c -> 2c) + PixelShuffle(2) becomes one
ConvTranspose2d (c -> c/2, 2 x 2, stride 2), the same sums (onnxruntime's
DepthToSpace was 7-10 % of the network's time on a tile).

With onnxruntime on CPU this removes the Slice, scale, shift and DepthToSpace
operators and layout conversions around them, which made the shipped flagship
noticeably faster per megapixel on the 2-core target (the last two rewrites together:
1.055 x on a 2048 x 2048 image, medians of 15 alternating runs, 91 layout conversions
per tile instead of 109, outputs equal to 6.6e-7; ``benchmarks/trials/fused_graph.py``,
benchmarks/results/trials/fused_graph.json). Training uses the plain form.

>>> fast = fuse_nafnet(model).eval()     # doctest: +SKIP
"""

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .nafnet import NAFBlock, NAFNet


class ChannelNorm(nn.Module):
    """LayerNorm over channels without its affine part: (x - mean_c) / sqrt(var_c + eps)."""

    def __init__(self, eps: float):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xc = x - x.mean(dim=1, keepdim=True)
        return xc / torch.sqrt((xc * xc).mean(dim=1, keepdim=True) + self.eps)


def _conv(weight: torch.Tensor, bias: torch.Tensor, groups: int = 1) -> nn.Conv2d:
    out_c, in_per_group, k, _ = weight.shape
    conv = nn.Conv2d(in_per_group * groups, out_c, k, padding=k // 2, groups=groups)
    conv.weight.data.copy_(weight)
    conv.bias.data.copy_(bias)
    return conv


def _fold_norm(norm, conv: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor]:
    """1x1 conv(w * xhat + b) as (weight, bias) acting on xhat."""
    w = conv.weight.data[:, :, 0, 0]
    return (w * norm.weight.data.view(1, -1))[:, :, None, None], conv.bias.data + w @ norm.bias.data.view(-1)


class FusedNAFBlock(nn.Module):
    """A :class:`NAFBlock` after the three rewrites; (N, c, H, W) -> (N, c, H, W)."""

    def __init__(self, block: NAFBlock):
        super().__init__()
        c = block.conv3.in_channels
        w1, b1 = _fold_norm(block.norm1, block.conv1)
        w4, b4 = _fold_norm(block.norm2, block.conv4)
        dw = block.dwconv
        beta, gamma = block.beta.data.view(-1), block.gamma.data.view(-1)
        self.norm1, self.norm2 = ChannelNorm(block.norm1.eps), ChannelNorm(block.norm2.eps)
        self.gate_a = nn.Sequential(_conv(w1[:c], b1[:c]), _conv(dw.weight.data[:c], dw.bias.data[:c], groups=c))
        self.gate_b = nn.Sequential(_conv(w1[c:], b1[c:]), _conv(dw.weight.data[c:], dw.bias.data[c:], groups=c))
        self.sca = copy.deepcopy(block.sca)
        self.conv3 = _conv(block.conv3.weight.data * beta.view(-1, 1, 1, 1), block.conv3.bias.data * beta)
        self.ffn_a = _conv(w4[:c], b4[:c])
        self.ffn_b = _conv(w4[c:], b4[c:])
        self.conv5 = _conv(block.conv5.weight.data * gamma.view(-1, 1, 1, 1), block.conv5.bias.data * gamma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        y = self.gate_a(h) * self.gate_b(h)
        y = y * self.sca(F.adaptive_avg_pool2d(y, 1))  # = the spatial mean
        x = x + self.conv3(y)
        h = self.norm2(x)
        return x + self.conv5(self.ffn_a(h) * self.ffn_b(h))


def upsampler(up: nn.Sequential) -> nn.ConvTranspose2d:
    """A decoder's ``Sequential(Conv2d(c, 2c, 1, bias=False), PixelShuffle(2))`` as one
    ``ConvTranspose2d(c, c/2, 2, stride=2)``: (N, c, h, w) -> (N, c/2, 2h, 2w).

    PixelShuffle puts conv channel ``4 o + 2 a + b`` at output channel ``o``, offset
    ``(a, b)`` in each 2 x 2 cell, which is where a stride-2 transposed conv puts its
    kernel tap ``(a, b)`` of output channel ``o``."""
    conv, shuffle = up
    if shuffle.upscale_factor != 2 or conv.bias is not None or conv.kernel_size != (1, 1):
        raise ValueError("expected Conv2d(c, 2c, 1, bias=False) + PixelShuffle(2)")
    w = conv.weight.data[:, :, 0, 0]  # (2c, c)
    out_c = w.shape[0] // 4
    t = nn.ConvTranspose2d(w.shape[1], out_c, 2, stride=2, bias=False)
    t.weight.data.copy_(w.view(out_c, 2, 2, w.shape[1]).permute(3, 0, 1, 2))  # (c, c/2, 2, 2)
    return t


def fuse_nafnet(model: NAFNet) -> NAFNet:
    """A copy of ``model`` (in eval mode) with every block in its fused form and every
    decoder upsampler a transposed conv (:func:`upsampler`)."""
    fused = copy.deepcopy(model).eval()
    for levels in (fused.encoders, fused.decoders):
        for i, level in enumerate(levels):
            levels[i] = nn.Sequential(*[FusedNAFBlock(b) for b in level])
    fused.middle = nn.Sequential(*[FusedNAFBlock(b) for b in fused.middle])
    for i, up in enumerate(fused.ups):
        fused.ups[i] = upsampler(up)
    return fused.eval()

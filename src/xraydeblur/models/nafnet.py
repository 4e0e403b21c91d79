"""Grayscale NAFNet-style restoration network (Chen et al., "Simple Baselines for Image
Restoration", ECCV 2022), written from the paper's description.

Input: float32 (N, in_channels, H, W), values in [0, 1] (1.0 = dense/bright); channel 0
is the blurred image (for in_channels=2, channel 1 is a Wiener-deconvolved estimate
computed outside the network). Output: (N, 1, H, W) = the residual channel (0, or 1
for kernel-aware weights that correct the Wiener estimate) + predicted residual,
not clamped. Any H, W (reflect-padded to a multiple of 16 px and cropped back).
"""

import torch
from torch import nn

from ._utils import count_parameters, pad_to_multiple  # noqa: F401  (re-exported)


class LayerNorm2d(nn.Module):
    """LayerNorm over channels at each pixel of (N, C, H, W), plain ops (ONNX-friendly)."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(dim=1, keepdim=True)
        xc = x - mu
        var = (xc * xc).mean(dim=1, keepdim=True)
        return self.weight * (xc * torch.rsqrt(var + self.eps)) + self.bias


class SimpleGate(nn.Module):
    """(N, 2C, H, W) -> (N, C, H, W): split channels in halves and multiply."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * b


class NAFBlock(nn.Module):
    """Nonlinear-activation-free block on (N, c, H, W) -> (N, c, H, W).

    x + beta * conv(SCA(SG(dwconv(conv(LN(x)))))), then + gamma * conv(SG(conv(LN(.)))).
    beta and gamma are per-channel and zero-initialised, so the block starts as identity.
    """

    def __init__(self, c: int):
        super().__init__()
        self.norm1, self.norm2 = LayerNorm2d(c), LayerNorm2d(c)
        self.conv1 = nn.Conv2d(c, 2 * c, 1)
        self.dwconv = nn.Conv2d(2 * c, 2 * c, 3, padding=1, groups=2 * c)
        self.sg = SimpleGate()
        self.sca = nn.Conv2d(c, c, 1)
        self.conv3 = nn.Conv2d(c, c, 1)
        self.conv4 = nn.Conv2d(c, 2 * c, 1)
        self.conv5 = nn.Conv2d(c, c, 1)
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.sg(self.dwconv(self.conv1(self.norm1(x))))
        y = y * self.sca(y.mean(dim=(2, 3), keepdim=True))  # simplified channel attention
        x = x + self.beta * self.conv3(y)
        y = self.conv5(self.sg(self.conv4(self.norm2(x))))
        return x + self.gamma * y


class NAFNet(nn.Module):
    """UNet-shaped NAFNet: intro 3x3 conv, 4 encoder levels, middle, 4 decoder levels, ending 3x3 conv.

    Encoder level i: ``enc_blocks[i]`` NAFBlocks at width*2**i channels, then a 2x2
    stride-2 conv doubling channels and halving resolution. Middle: ``middle_blocks``
    blocks at width*16 channels (1/16 resolution). Decoder level: 1x1 conv c -> 2c,
    PixelShuffle(2) (-> c/2 channels, 2x resolution), additive skip from the matching
    encoder level, ``dec_blocks[i]`` blocks. Ending 3x3 conv width -> 1 is
    zero-initialised, so with the zero-initialised block scales the untrained network
    is exactly the identity on the residual channel: output = x[:, r] + ending(features).

    Args:
        in_channels: 1 (blurred image) or 2 (blurred + Wiener estimate; kernel-aware).
        residual_channel: the input channel the global residual is added to: 0 (the
            blurred image) or, kernel-aware, 1 (the Wiener estimate: the untrained
            network then returns the Wiener estimate, and learns to correct it).
        width: channels at full resolution (16 -> about 1.9 M parameters).
        enc_blocks, middle_blocks, dec_blocks: numbers of NAFBlocks per level.
    """

    def __init__(self, in_channels: int = 1, width: int = 16, enc_blocks=(1, 1, 1, 8),
                 middle_blocks: int = 1, dec_blocks=(1, 1, 1, 1), residual_channel: int = 0):
        super().__init__()
        if len(enc_blocks) != len(dec_blocks):
            raise ValueError("enc_blocks and dec_blocks must have the same length")
        if not 0 <= residual_channel < in_channels:
            raise ValueError(f"residual_channel must be an input channel (0..{in_channels - 1})")
        self.in_channels, self.residual_channel = in_channels, residual_channel
        self.multiple = 2 ** len(enc_blocks)
        self.intro = nn.Conv2d(in_channels, width, 3, padding=1)
        self.encoders, self.downs, self.ups, self.decoders = (nn.ModuleList() for _ in range(4))
        c = width
        for n in enc_blocks:
            self.encoders.append(nn.Sequential(*[NAFBlock(c) for _ in range(n)]))
            self.downs.append(nn.Conv2d(c, 2 * c, 2, stride=2))
            c *= 2
        self.middle = nn.Sequential(*[NAFBlock(c) for _ in range(middle_blocks)])
        for n in dec_blocks:
            self.ups.append(nn.Sequential(nn.Conv2d(c, 2 * c, 1, bias=False), nn.PixelShuffle(2)))
            c //= 2
            self.decoders.append(nn.Sequential(*[NAFBlock(c) for _ in range(n)]))
        self.ending = nn.Conv2d(width, 1, 3, padding=1)
        nn.init.zeros_(self.ending.weight)
        nn.init.zeros_(self.ending.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, in_channels, H, W) in [0, 1] -> (N, 1, H, W) restored image (unclamped)."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"NAFNet expects (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        xp, h, w = pad_to_multiple(x, self.multiple)
        f = self.intro(xp)
        skips = []
        for enc, down in zip(self.encoders, self.downs):
            f = enc(f)
            skips.append(f)
            f = down(f)
        f = self.middle(f)
        for up, dec, skip in zip(self.ups, self.decoders, reversed(skips)):
            f = dec(up(f) + skip)
        r = self.residual_channel
        return (xp[:, r : r + 1] + self.ending(f))[..., :h, :w]

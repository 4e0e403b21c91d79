"""UNet (Ronneberger et al., 2015) with reduced width, for deblurring.

Input/output: float32 (N, 1, H, W), values in [0, 1] (1.0 = dense/bright); any H, W;
sigmoid output in (0, 1).
"""

import torch
from torch import nn

from ._utils import pad_to_multiple


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """The paper's 23-layer UNet (for depth=4) with widths base*2**i instead of 64*2**i.

    Width is reduced from the paper's 64 to ``base`` (16 -> about 1.9 M parameters) to
    keep weights small. Layers: double 3x3 conv (+ReLU, no BatchNorm so train/eval are
    identical and ONNX export is plain) per level, ``depth`` 2x2 max-pool downsamplings,
    2x2 stride-2 transposed-conv upsampling, skip concatenation, final 1x1 conv and
    sigmoid. Convs use zero padding 1 ("same"), so the output has the input size.
    Any H, W: the input is reflect-padded to a multiple of 2**depth px and cropped back.

    Args:
        base: channels of the first level.
        depth: number of downsamplings (paper: 4).
    """

    def __init__(self, base: int = 16, depth: int = 4):
        super().__init__()
        self.depth = depth
        ch = [base * 2**i for i in range(depth + 1)]
        self.downs = nn.ModuleList([_double_conv(1, ch[0])] + [_double_conv(ch[i], ch[i + 1]) for i in range(depth)])
        self.pool = nn.MaxPool2d(2)
        self.ups = nn.ModuleList([nn.ConvTranspose2d(ch[i + 1], ch[i], 2, stride=2) for i in reversed(range(depth))])
        self.up_convs = nn.ModuleList([_double_conv(2 * ch[i], ch[i]) for i in reversed(range(depth))])
        self.final = nn.Conv2d(ch[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 1, H, W) blurred image in [0, 1] -> (N, 1, H, W) restored image in (0, 1)."""
        x, h, w = pad_to_multiple(x, 2**self.depth)
        skips = []
        for i, block in enumerate(self.downs):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        skips.pop()
        for up, conv in zip(self.ups, self.up_convs):
            x = conv(torch.cat([skips.pop(), up(x)], dim=1))
        return torch.sigmoid(self.final(x))[..., :h, :w]

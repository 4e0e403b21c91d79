"""SRCNN (Dong et al., 2014/2016) used as a deblurring network, faithful to the paper.

Input/output: float32 (N, 1, H, W), intensities in [0, 1] (1.0 = dense/bright);
the output has the same size and is *not* clamped in ``forward``.
"""

import torch
from torch import nn


class SRCNN(nn.Module):
    """Three convolutions: k1 x k1 conv 1->c1, ReLU, k2 x k2 conv c1->c2, ReLU, k3 x k3 conv c2->1.

    Args:
        channels: (c1, c2) feature channels, paper (64, 32).
        kernels: (k1, k2, k3) kernel sizes in pixels, paper (9, 1, 5).
        paper_padding: if True every conv uses zero padding 2 (the paper's setting).
            For the default kernels the sizes go H -> H-4 -> H -> H (e.g. 224 -> 220
            -> 224 -> 224) and the output stays aligned with the input: the 9x9
            layer's output pixel i is centred on input pixel i+2 (window i-2..i+6 of
            the input, padding 2), the 1x1 layer's zero padding of 2 shifts it back to
            i, and the 5x5 layer with padding 2 keeps size and alignment. The
            outermost 2 px of every output border therefore come from the 1x1 layer's
            zero padding (padding artefacts) and should be ignored / cropped by the
            loss. If False, "same" padding (k//2 per layer: 4, 0, 2) is used.

        identity_init: start as the identity map (one path of centre taps through the
            three layers, the other weights at a tenth of PyTorch's default scale), so
            training starts from the blurred input's quality instead of from noise.
            Only the initial weights differ; the architecture is the paper's.

    No residual connection (as in the paper). Forward: (N, 1, H, W) -> (N, 1, H, W).
    """

    def __init__(self, channels=(64, 32), kernels=(9, 1, 5), paper_padding: bool = True, identity_init: bool = False):
        super().__init__()
        c1, c2 = channels
        k1, k2, k3 = kernels
        pads = (2, 2, 2) if paper_padding else (k1 // 2, k2 // 2, k3 // 2)
        if paper_padding and (k1 - 1) - 2 * pads[0] + (k2 - 1) - 2 * pads[1] + (k3 - 1) - 2 * pads[2] != 0:
            raise ValueError(f"paper_padding keeps the size only for kernels summing to 15 (9, 1, 5), got {kernels}")
        self.conv1 = nn.Conv2d(1, c1, k1, padding=pads[0])
        self.conv2 = nn.Conv2d(c1, c2, k2, padding=pads[1])
        self.conv3 = nn.Conv2d(c2, 1, k3, padding=pads[2])
        self.relu = nn.ReLU(inplace=True)
        if identity_init:
            self._init_identity()

    @torch.no_grad()
    def _init_identity(self) -> None:
        for conv in (self.conv1, self.conv2, self.conv3):
            conv.weight.mul_(0.1)
            conv.bias.zero_()
        centre = lambda conv: (conv.kernel_size[0] // 2, conv.kernel_size[1] // 2)  # noqa: E731
        (a, b), (c, d), (e, f) = centre(self.conv1), centre(self.conv2), centre(self.conv3)
        self.conv1.weight[0, 0].zero_()
        self.conv1.weight[0, 0, a, b] = 1.0  # intensities in [0, 1] stay positive through the ReLUs
        self.conv2.weight[0, :].zero_()
        self.conv2.weight[0, 0, c, d] = 1.0
        self.conv3.weight[0, :].zero_()
        self.conv3.weight[0, 0, e, f] = 1.0

    @torch.no_grad()
    def init_linear(self, filt, bias: float = 0.0) -> None:
        """Start as a given linear filter: the identity start with the first layer's
        centre tap replaced by ``filt`` (k1 x k1 cross-correlation, e.g. from
        :func:`xraydeblur.train.linear_init.least_squares_filter`) plus ``bias``
        ([0, 1] intensity units). Its first channel is offset by the sum of the filter's
        negative taps so that it stays positive through the ReLUs for inputs in [0, 1],
        and the offset is taken off again by the last layer's bias. The architecture is
        unchanged."""
        filt = torch.as_tensor(filt, dtype=self.conv1.weight.dtype)
        if tuple(filt.shape) != tuple(self.conv1.weight.shape[2:]):
            raise ValueError(f"filter shape {tuple(filt.shape)} is not the first layer's {tuple(self.conv1.weight.shape[2:])}")
        self._init_identity()
        offset = float(filt.clamp(max=0).abs().sum())
        self.conv1.weight[0, 0] = filt
        self.conv1.bias[0] = offset
        self.conv3.bias[0] = float(bias) - offset

    def forward(self, x):
        """x: (N, 1, H, W) blurred image in [0, 1] -> (N, 1, H, W) estimate (unclamped)."""
        return self.conv3(self.relu(self.conv2(self.relu(self.conv1(x)))))

"""Network input for the kernel-aware variant: blurred image + Wiener estimate.

When the blur is known, the kernel-aware network receives two channels: the blurred
image and a Wiener deconvolution of it with the known kernel (an unrolled data step).
Blind networks receive the blurred image alone.
"""

import torch
import torch.nn.functional as F

#: noise-to-signal ratio of the Wiener channel (fixed; the network learns the rest)
WIENER_BALANCE = 2e-3


def psf_to_otf(kernel: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Kernel (N, 1, K, K) -> its transfer function (N, 1, H, W//2+1) on an H x W grid,
    centred so that a delta kernel gives no shift."""
    n, c, k, _ = kernel.shape
    padded = kernel.new_zeros((n, c) + tuple(shape))
    padded[..., :k, :k] = kernel
    padded = torch.roll(padded, shifts=(-(k // 2), -(k // 2)), dims=(-2, -1))
    return torch.fft.rfft2(padded)


def wiener_torch(blurred: torch.Tensor, kernel: torch.Tensor, balance: float = WIENER_BALANCE) -> torch.Tensor:
    """Wiener deconvolution of (N, 1, H, W) with per-sample kernels (N, 1, K, K), with
    reflective padding of K pixels against border ringing. Output clamped to [-0.5, 1.5]."""
    k = kernel.shape[-1]
    h, w = blurred.shape[-2:]
    pad = min(k, h - 1, w - 1)
    y = F.pad(blurred, (pad, pad, pad, pad), mode="reflect")
    otf = psf_to_otf(kernel.to(blurred.dtype), y.shape[-2:])
    x = torch.fft.irfft2(torch.fft.rfft2(y) * otf.conj() / (otf.abs() ** 2 + balance), s=y.shape[-2:])
    return x[..., pad : pad + h, pad : pad + w].clamp(-0.5, 1.5)


def network_input(blurred: torch.Tensor, kernel: torch.Tensor | None) -> torch.Tensor:
    """(N, 1, H, W) blurred, kernel (N, 1, K, K) or None -> network input (N, C, H, W)."""
    if kernel is None:
        return blurred
    return torch.cat([blurred, wiener_torch(blurred, kernel)], dim=1)

"""Network input for the kernel-aware variant: blurred image + Wiener estimate.

When the blur is known, the kernel-aware network receives two channels: the blurred
image and a Wiener deconvolution of it with the known kernel (a data step): the
classical :func:`xraydeblur.classical.wiener` with its validation-tuned,
noise-adaptive balance and masked (non-periodic) borders, 10 conjugate-gradient steps.
Blind networks receive the blurred image alone.

(The first kernel-aware weights used a one-pass FFT Wiener filter with a fixed balance
and mirrored borders instead; it rang at crop borders for motion blur, and the network
learned to ignore it.)
"""

import numpy as np
import torch

#: conjugate-gradient steps of the Wiener channel
CHANNEL_CG_STEPS = 10


def wiener_channel(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The Wiener channel: float32 (H, W) in [0, 1] from a blurred image (H, W) in
    [0, 1] and its PSF (K, K)."""
    from ..classical import wiener
    from ..classical._defaults import params_for

    params = {**params_for("wiener", image, kernel), "boundary": "masked", "cg_iterations": CHANNEL_CG_STEPS}
    return wiener(image, kernel, balance=None, **params).astype(np.float32)


def network_input(blurred: torch.Tensor, kernel: torch.Tensor | None) -> torch.Tensor:
    """(N, 1, H, W) blurred, kernel (N, 1, K, K) or None -> network input (N, C, H, W)."""
    if kernel is None:
        return blurred
    images, kernels = blurred[:, 0].detach().cpu().numpy(), kernel[:, 0].detach().cpu().numpy()
    estimates = np.stack([wiener_channel(i, k) for i, k in zip(images, kernels)])
    return torch.cat([blurred, torch.from_numpy(estimates)[:, None].to(blurred)], dim=1)

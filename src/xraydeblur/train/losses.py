"""Restoration losses on (N, 1, H, W) tensors in [0, 1]."""

import torch


def charbonnier(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Smooth L1-like penalty sqrt(diff**2 + eps**2), averaged."""
    return torch.sqrt((pred - target) ** 2 + eps * eps).mean()


def fft_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 distance of the 2-D real FFTs (real and imaginary parts), per pixel."""
    a, b = torch.fft.rfft2(pred, norm="ortho"), torch.fft.rfft2(target, norm="ortho")
    return (a - b).abs().mean()


def crop_border(t, border: int):
    """``t`` (..., H, W) tensor or array without its outer ``border`` px (0: as is)."""
    return t[..., border:-border, border:-border] if border else t


def log_mse(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Mean over samples of ``10 log10(MSE_i + eps)`` for (N, C, H, W) tensors in [0, 1]:
    minus the mean PSNR the paper reports, so every image counts by its PSNR rather than
    by its squared error (a plain MSE lets the widest blurs, whose errors are largest,
    dominate). ``eps`` (a 50 dB ceiling) keeps flat crops from taking over."""
    mse = ((pred - target) ** 2).flatten(1).mean(dim=1)
    return (10.0 * torch.log10(mse + eps)).mean()


def restoration_loss(pred: torch.Tensor, target: torch.Tensor, cfg: dict) -> torch.Tensor:
    """``cfg['kind']`` in {charbonnier, mse, l1, psnr (:func:`log_mse`)} plus ``cfg['fft_weight']`` x FFT term,
    over the image without its outer ``cfg['border']`` px (default 0): SRCNN's paper
    padding leaves 2 px of zero-padding artefacts at the border, which inference never
    shows (it reflect-pads a margin first) and which would dominate an MSE."""
    border = int(cfg.get("border", 0))
    pred, target = crop_border(pred, border), crop_border(target, border)
    kind = cfg.get("kind", "charbonnier")
    if kind == "mse":
        loss = torch.mean((pred - target) ** 2)
    elif kind == "psnr":
        loss = log_mse(pred, target)
    elif kind == "l1":
        loss = (pred - target).abs().mean()
    else:
        loss = charbonnier(pred, target)
    weight = float(cfg.get("fft_weight", 0.0))
    return loss + weight * fft_l1(pred, target) if weight else loss

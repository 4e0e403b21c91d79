"""Convolution of images with PSFs, with reflective boundaries (no dark borders)."""

import numpy as np
from scipy import fft


def convolve_same(image: np.ndarray, kernel: np.ndarray, mode: str = "reflect") -> np.ndarray:
    """``image`` (H, W) convolved with ``kernel`` (k, k), output (H, W).

    The image is padded by half the kernel size (``mode`` as in ``numpy.pad``:
    "reflect", "symmetric", "edge", "wrap" or "constant"), then convolved by FFT
    (float64, on every core). The result equals
    ``scipy.ndimage.convolve(image, kernel, mode=...)`` up to floating-point error
    (with scipy's "mirror" = numpy's "reflect").
    """
    image = np.asarray(image, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    ky, kx = kernel.shape
    py, px = ky // 2, kx // 2
    if mode == "reflect" and (py >= image.shape[0] or px >= image.shape[1]):
        mode = "symmetric"
    padded = np.pad(image, ((py, py), (px, px)), mode=mode)
    return _valid_convolution(padded, kernel)


def _valid_convolution(padded: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The "valid" part (H - k + 1, W - k + 1) of the full linear convolution, by real
    FFTs of a fast length (scipy.signal would cost a second of imports per process)."""
    (h, w), (ky, kx) = padded.shape, kernel.shape
    shape = (fft.next_fast_len(h + ky - 1, real=True), fft.next_fast_len(w + kx - 1, real=True))
    spectrum = fft.rfft2(padded, shape, workers=-1) * fft.rfft2(kernel, shape, workers=-1)
    full = fft.irfft2(spectrum, shape, workers=-1)
    return full[ky - 1 : h, kx - 1 : w]


def blur_float32(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """:func:`blur` computed in float32 (half the FFT time; differs from it by about
    1e-7): for re-blurring a restoration in the pipeline, not for making benchmark data."""
    image = np.asarray(image, dtype=np.float32)
    kernel = np.asarray(kernel, dtype=np.float32)
    py, px = kernel.shape[0] // 2, kernel.shape[1] // 2
    mode = "symmetric" if py >= image.shape[0] or px >= image.shape[1] else "reflect"
    out = _valid_convolution(np.pad(image, ((py, py), (px, px)), mode=mode), kernel)
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def blur(image: np.ndarray, kernel: np.ndarray, mode: str = "reflect") -> np.ndarray:
    """Blur a [0, 1] image (H, W) with a normalised PSF; returns float32 (H, W) in [0, 1]."""
    out = convolve_same(image, kernel, mode=mode)
    return np.clip(out, 0.0, 1.0).astype(np.float32)

"""Convolution of images with PSFs, with reflective boundaries (no dark borders)."""

import numpy as np
from scipy import fft


def convolve_same(image: np.ndarray, kernel: np.ndarray, mode: str = "reflect", dtype=np.float64) -> np.ndarray:
    """``image`` (H, W) convolved with ``kernel`` (k, k), output (H, W).

    The image is padded by half the kernel size (``mode`` as in ``numpy.pad``:
    "reflect", "symmetric", "edge", "wrap" or "constant"), then convolved by FFT on
    every core, in ``dtype`` (float64; float32 takes half the time and differs by about
    1e-7, enough for re-blurring a restoration, not for making benchmark data). The
    result equals ``scipy.ndimage.convolve(image, kernel, mode=...)`` up to
    floating-point error (with scipy's "mirror" = numpy's "reflect").
    """
    image = np.asarray(image, dtype=dtype)
    kernel = np.asarray(kernel, dtype=dtype)
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


def blur(image: np.ndarray, kernel: np.ndarray, mode: str = "reflect", dtype=np.float64) -> np.ndarray:
    """Blur a [0, 1] image (H, W) with a normalised PSF, computed in ``dtype`` (see
    :func:`convolve_same`); returns float32 (H, W) in [0, 1]."""
    out = convolve_same(image, kernel, mode=mode, dtype=dtype)
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)

"""Richardson-Lucy deconvolution (Poisson maximum likelihood), optionally with a
total-variation term (RL-TV, Dey et al. 2006).

Boundaries: the unknown image is estimated on a domain one kernel size larger than
the data on every side, and only the observed pixels enter the likelihood (the
masked-data variant of Bertero & Boccacci, 2005). The update is normalised by the
adjoint blur of the data mask, so pixels near the border are neither darkened nor
made to ring by an assumed periodic or mirrored continuation. The convolutions are
FFTs on that enlarged domain, which is big enough that nothing wraps around.

Cost: four real FFTs of the enlarged image per iteration, in single precision;
about 0.13 s per iteration for 2000 x 2000 on two cores (4 s for 30 iterations,
25 s for the 200 the noise-free defaults use).
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from ._common import as_image, as_kernel, div, extend, fft_workers, grad, psf2otf, to_output


def _conv(x: np.ndarray, otf: np.ndarray) -> np.ndarray:
    return sfft.irfft2(sfft.rfft2(x, workers=fft_workers()) * otf, s=x.shape, workers=fft_workers())


def tv_curvature(u: np.ndarray, epsilon: float = 1e-3) -> np.ndarray:
    """``div(grad u / |grad u|_eps)`` with ``|g|_eps = sqrt(|g|^2 + eps^2)``
    (forward differences for the gradient, their adjoint for the divergence)."""
    gx, gy = grad(u)
    norm = np.sqrt(gx * gx + gy * gy + epsilon * epsilon)
    return div(gx / norm, gy / norm)


def richardson_lucy(
    image: np.ndarray,
    kernel: np.ndarray,
    iterations: int = 30,
    tv_weight: float = 0.0,
    tv_epsilon: float = 1e-3,
    floor: float = 1e-4,
    callback=None,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Richardson-Lucy (RL) or RL-TV deconvolution.

    Iterates ``u <- u * H^T(m * y / H u) / (H^T m - tv_weight * div(grad u / |grad u|))``
    where ``m`` is 1 on the observed pixels and 0 on the margin of the enlarged
    estimate (see the module docstring). With ``tv_weight = 0`` this is plain RL,
    the expectation-maximisation algorithm for Poisson data; it keeps ``u >= 0``
    and conserves flux, but amplifies noise as the iterations go on, so the
    iteration count is the regulariser. The TV term of Dey et al. (2006) (the
    multiplicative factor ``1 / (1 - lambda div(grad u / |grad u|))``) damps
    oscillations and lets more iterations run on noisy data; its denominator is
    kept above 0.2 so a too-large weight cannot flip signs.

    Parameters
    ----------
    image : ndarray (H, W)
        Blurred image with values in [0, 1] (negative values are clipped to 0).
    kernel : ndarray (k, k)
        PSF in pixels of ``image``; normalised to sum 1 here.
    iterations : int
        Number of RL iterations (typical 10-100; fewer for noisier images).
    tv_weight : float
        ``lambda`` of RL-TV (dimensionless; 0 = plain RL; typical 0.001-0.02 for
        [0, 1] images).
    tv_epsilon : float
        Smoothing of ``|grad u|`` in intensity units per pixel, so flat regions do
        not divide by zero.
    floor : float
        Lower bound of the starting estimate and of the predicted data (intensity
        units): RL cannot move a pixel away from exactly 0.
    callback : callable or None
        Called as ``callback(i, estimate)`` after iteration ``i`` (1-based) with
        the current estimate cropped to (H, W) (float32, not clipped); lets one
        score several iteration counts in a single run.
    weights : ndarray (H, W) or None
        Per-pixel weights of the data term (``m`` above is ``weights`` on the observed
        window): 0 marks a pixel that is not an observation (a filled-in burned-in
        overlay, :func:`xraydeblur.overlay.run_around_overlays`).

    Returns
    -------
    ndarray (H, W) float32 in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> from xraydeblur.degrade import gaussian_blur
    >>> from xraydeblur.classical import richardson_lucy
    >>> yy, xx = np.mgrid[:64, :64] / 64.0
    >>> sharp = (0.5 + 0.4 * np.sin(6 * xx) * np.cos(5 * yy)).astype(np.float32)
    >>> blurred, kernel = gaussian_blur(sharp, 2.0)
    >>> restored = richardson_lucy(blurred, kernel, iterations=20, tv_weight=0.002)
    >>> restored.shape, restored.dtype
    ((64, 64), dtype('float32'))
    """
    if iterations < 0:
        raise ValueError("iterations must be >= 0")
    if tv_weight < 0:
        raise ValueError("tv_weight must be >= 0")
    y = np.clip(as_image(image), 0.0, None)
    k = as_kernel(kernel)
    ext = extend(y, k.shape, factor=1.0, minimum=8, taper=False)
    dtype = np.float32
    otf = psf2otf(k, ext.shape).astype(np.complex64)
    otf_adj = np.conj(otf)
    mask = ext.mask(None if weights is None else np.asarray(weights, np.float64)).astype(dtype)
    data = (ext.data * mask).astype(dtype)
    norm = _conv(mask, otf_adj).astype(dtype)  # H^T m: 1 inside, fading out in the margin
    active = norm > 1e-3
    u = np.maximum(ext.data, floor).astype(dtype)
    u[~active] = 0.0  # beyond the reach of any observed pixel
    for i in range(iterations):
        predicted = _conv(u, otf)
        ratio = np.where(mask > 0, data / np.maximum(predicted, floor), 0.0).astype(dtype)
        correction = _conv(ratio, otf_adj)
        denom = norm
        if tv_weight > 0:
            denom = np.maximum(norm - tv_weight * tv_curvature(u, tv_epsilon), 0.2 * norm)
        u = np.where(active, u * correction / np.where(active, denom, 1.0), 0.0).astype(dtype)
        u = np.maximum(u, 0.0)
        if callback is not None:
            callback(i + 1, ext.crop(u))
    return to_output(ext.crop(u))

"""Data-consistency safeguard: does the restored image explain the input?

A deblurring network can invent structure. Re-blurring an honest restoration with the
blur kernel must give back the input up to noise. :func:`check_consistency` re-blurs
the output with the given (or blindly estimated Gaussian) kernel and takes the residual
(input minus re-blurred output). Noise in the residual is white and averages out over a
small window; invented or removed structure leaves a coherent residual that does not.
Regions where the locally averaged residual exceeds what the estimated noise level
(plus a tolerance for kernel mismatch) explains are flagged.

>>> import numpy as np
>>> from xraydeblur.degrade import gaussian_blur
>>> sharp = np.random.default_rng(0).random((96, 96)).astype(np.float32)
>>> blurred, k = gaussian_blur(sharp, 1.5)
>>> check_consistency(blurred, sharp, k)["consistent"]
True
"""

import numpy as np
from scipy.ndimage import binary_dilation, gaussian_filter, label

from .degrade import blur
from .overlay import burned_in_mask

#: local window (Gaussian sigma, px) over which the residual is averaged
WINDOW_SIGMA = 3.0
#: a region is flagged where |local mean residual| > Z_THRESHOLD x its expected std
Z_THRESHOLD = 4.0
#: residual (in [0, 1] units) tolerated beyond noise, for kernel mismatch and 8-bit rounding
MISMATCH_FLOOR = 0.006
#: smallest flagged region that makes the output inconsistent (px)
MIN_REGION_PX = 24


def estimate_noise_sigma(image: np.ndarray) -> float:
    """Robust noise standard deviation ([0, 1] units) from the finest diagonal
    differences (median absolute deviation / 0.6745), insensitive to edges."""
    x = np.asarray(image, dtype=np.float64)
    d = (x[:-1, :-1] - x[1:, :-1] - x[:-1, 1:] + x[1:, 1:]) / 2.0
    return float(np.median(np.abs(d - np.median(d))) / 0.6745)


def check_consistency(
    degraded: np.ndarray,
    restored: np.ndarray,
    kernel: np.ndarray | None = None,
    noise_sigma: float | None = None,
    with_map: bool = False,
    kernel_source: str = "given",
    reblurred: np.ndarray | None = None,
) -> dict:
    """Report whether ``restored`` re-blurred by ``kernel`` matches ``degraded``.

    Parameters
    ----------
    degraded, restored : float (H, W) in [0, 1].
    kernel : PSF (odd, sum 1); ``None`` estimates a Gaussian width from ``degraded``.
    noise_sigma : known noise std ([0, 1] units); default estimated from ``degraded``.
    kernel_source : how ``kernel`` was obtained, reported as is ("given", or
        "identified" when the method identified it from the image).
    reblurred : ``restored`` blurred by ``kernel`` (float (H, W)) when the caller has
        it already (the pipeline's noise add-back needs it too); else computed here.
    with_map : also return ``residual_map`` (float32 (H, W), the locally averaged
        residual divided by its expected standard deviation: |values| above
        ``threshold`` are flagged).

    Returns
    -------
    dict (JSON-serialisable unless ``with_map``): ``consistent`` (bool), ``score`` (RMS
    residual / expected RMS; about 1 for an honest output), ``rms_residual``,
    ``noise_sigma``, ``expected_rms``, ``max_local_z`` (largest |local mean residual| over
    its expected std), ``flagged_fraction``,
    ``largest_flagged_region_px``, ``threshold``, ``kernel_source``, ``overlay_px``
    (pixels of burned-in overlays in ``degraded``, :mod:`xraydeblur.overlay`: the
    residual on them and within a kernel radius of them is ignored).
    """
    y = np.asarray(degraded, dtype=np.float64)
    x = np.asarray(restored, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {x.shape} vs {y.shape}")
    source = kernel_source
    sigma_blur = None
    if kernel is None:
        from .classical.estimate import estimate_gaussian_sigma
        from .degrade import gaussian_kernel

        sigma_blur = float(estimate_gaussian_sigma(degraded))
        kernel = gaussian_kernel(max(0.3, sigma_blur))
        source = "estimated"
    sigma_n = estimate_noise_sigma(y) if noise_sigma is None else float(noise_sigma)
    residual = y - (blur(x, kernel) if reblurred is None else np.asarray(reblurred)).astype(np.float64)
    overlay = burned_in_mask(y)  # burned-in text: no kernel explains it, methods keep it as is
    if overlay.any():
        residual[binary_dilation(overlay, iterations=kernel.shape[0] // 2 + 1)] = 0.0
    expected = float(np.hypot(sigma_n, MISMATCH_FLOOR))
    # std of white noise after a Gaussian window of sigma s: sigma_n / (2 sqrt(pi) s)
    expected_local = float(np.hypot(sigma_n / (2 * np.sqrt(np.pi) * WINDOW_SIGMA), MISMATCH_FLOOR))
    z = gaussian_filter(residual, WINDOW_SIGMA, mode="reflect") / expected_local
    flagged = np.abs(z) > Z_THRESHOLD
    regions, count = label(flagged)
    largest = int(np.bincount(regions.ravel())[1:].max()) if count else 0
    rms = float(np.sqrt(np.mean(residual**2)))
    report = {
        "consistent": bool(largest < MIN_REGION_PX),
        "score": round(rms / expected, 4),
        "rms_residual": rms,
        "noise_sigma": sigma_n,
        "expected_rms": expected,
        "max_local_z": float(np.abs(z).max()),
        "flagged_fraction": float(flagged.mean()),
        "largest_flagged_region_px": largest,
        "threshold": Z_THRESHOLD,
        "kernel_source": source,
        "overlay_px": int(overlay.sum()),
    }
    if sigma_blur is not None:
        report["estimated_blur_sigma_px"] = sigma_blur
    if with_map:
        report["residual_map"] = z.astype(np.float32)
    return report

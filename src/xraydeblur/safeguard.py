"""Data-consistency safeguard: does the restored image explain the input?

A deblurring network can invent structure. Re-blurring an honest restoration with the
blur kernel must give back the input up to noise. :func:`check_consistency` re-blurs
the output with the given (or blindly estimated Gaussian) kernel and takes the residual
(input minus re-blurred output). Noise in the residual is white and averages out over a
window; invented or removed structure leaves a coherent residual that does not.

The residual is judged at several scales (:data:`SCALES_PX`: Gaussian windows of 3, 6,
12 and 24 px), each at its own resolution: the residual is block-averaged by
``d = scale / 3`` and smoothed by a window of about 3 coarse pixels, so every scale is
the same test on a coarser grid. A blur cannot create or remove low-frequency
structure, so a faint, wide opacity that the fine scale loses in kernel-mismatch
tolerance stands out at a coarse one. At scale ``s`` a region is flagged where the
smoothed residual exceeds :data:`Z_THRESHOLD` times its expected spread,
``hypot(noise / (2 sqrt(pi) s), floor_s, relative x structure_s)``, over at least
:data:`MIN_REGION_PX` coarse pixels (``MIN_REGION_PX * d**2`` image pixels); the
residual is first cleared of what a slightly wrong kernel explains
(:func:`masked_residual`), and ``structure_s`` is the smoothed Hessian norm of the
re-blurred output (strong edges and lead markers leave some residual however honest the
restoration). The floors (what kernel mismatch, rounding and an honest network's small
errors leave at each scale) and ``relative`` were chosen on honest restorations of the
validation split (``benchmarks/safeguard_calibration.py``, written to
``safeguard_floors.json``).

>>> import numpy as np
>>> from xraydeblur.degrade import gaussian_blur
>>> sharp = np.random.default_rng(0).random((96, 96)).astype(np.float32)
>>> blurred, k = gaussian_blur(sharp, 1.5)
>>> check_consistency(blurred, sharp, k)["consistent"]
True
"""

import json
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.ndimage import binary_dilation, gaussian_filter, label

from .degrade import blur
from .overlay import burned_in_mask

#: window (Gaussian sigma, image px) of each scale the residual is judged at
SCALES_PX = (3, 6, 12, 24)
#: a region is flagged where |local mean residual| > Z_THRESHOLD x its expected std
Z_THRESHOLD = 4.0
#: smallest flagged region that makes the output inconsistent (px of the scale's grid)
MIN_REGION_PX = 24
#: image border (px) the safeguard does not judge, at least (the kernel size when larger):
#: twice the networks' reflect margin (:data:`xraydeblur.infer.network.MARGIN`)
BORDER_PX = 32
#: per-pixel residual (in [0, 1] units) that the score tolerates beyond noise, for kernel
#: mismatch and 8-bit rounding
SCORE_FLOOR = 0.006
#: the calibrated floors, one per scale (see the module docstring)
FLOORS_PATH = Path(__file__).with_name("safeguard_floors.json")


@lru_cache(maxsize=1)
def _calibration() -> dict:
    data = json.loads(FLOORS_PATH.read_text())
    if tuple(data["scales_px"]) != SCALES_PX:
        raise RuntimeError(f"{FLOORS_PATH.name} was calibrated for scales {data['scales_px']}, not {list(SCALES_PX)}")
    return data


def floors() -> tuple[float, ...]:
    """The residual floor ([0, 1] units) of each scale in :data:`SCALES_PX`."""
    return tuple(float(f) for f in _calibration()["floors"])


def relative_tolerance() -> float:
    """The share of the local structure (smoothed Hessian norm of the re-blurred output)
    that the residual may reach without being flagged (see :func:`check_consistency`)."""
    return float(_calibration().get("relative", 0.0))


def _block_mean(image: np.ndarray, d: int) -> np.ndarray:
    """``image`` (H, W) float32 averaged over d x d blocks (the last partial rows/columns
    dropped): sums of strided views, 4-7x faster than a reshaped mean on a radiograph."""
    if d == 1:
        return image
    h, w = (image.shape[0] // d) * d, (image.shape[1] // d) * d
    x = image[:h, :w]
    rows = x[0::d].astype(np.float32)  # a copy, summed into
    for i in range(1, d):
        rows += x[i::d]
    out = rows[:, 0::d].copy()
    for j in range(1, d):
        out += rows[:, j::d]
    return out * np.float32(1.0 / (d * d))


def residual_scales(residual: np.ndarray, noise_sigma: float, structure: np.ndarray | None = None) -> list[dict]:
    """The residual (float (H, W), [0, 1] units) smoothed at each scale of
    :data:`SCALES_PX`: a list of ``{"scale_px", "block", "smoothed", "noise",
    "structure"}`` with the smoothed residual on the scale's grid (H // block,
    W // block), the std white noise of ``noise_sigma`` leaves in it, and ``structure``
    (H, W) smoothed the same way (None when not given). Scales whose grid would be
    under 8 coarse pixels on a side are left out."""
    levels = []
    for scale in SCALES_PX:
        d = max(1, scale // SCALES_PX[0])
        if min(residual.shape) // d < 8:
            continue
        # the block mean already averaged over (d^2 - 1) / 12 px^2 of the window's variance
        sigma = float(np.sqrt(max(scale**2 - (d * d - 1) / 12.0, 0.25))) / d
        levels.append((scale, d, sigma))

    def smooth(image: np.ndarray, d: int, sigma: float) -> np.ndarray:
        return gaussian_filter(_block_mean(image, d), sigma, mode="reflect")

    # the residual's and the structure's filters run in two threads (SciPy releases the GIL)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="xraydeblur-scales") as pool:
        smoothed = [pool.submit(smooth, residual, d, sigma) for _, d, sigma in levels]
        local = [None if structure is None else pool.submit(smooth, structure, d, sigma) for _, d, sigma in levels]
        out = []
        for (scale, d, sigma), r, st in zip(levels, smoothed, local):
            noise = noise_sigma / d / (2 * np.sqrt(np.pi) * sigma)
            out.append({"scale_px": scale, "block": d, "smoothed": r.result(), "noise": float(noise), "structure": None if st is None else st.result()})
    return out


def _largest_region(mask: np.ndarray) -> int:
    regions, count = label(mask)
    return int(np.bincount(regions.ravel())[1:].max()) if count else 0


def _combined_map(maps: list[tuple[np.ndarray, int]], shape: tuple[int, int]) -> np.ndarray:
    """One float32 (H, W) map of z: at each pixel the scale's z of largest magnitude
    (coarse scales repeated over their blocks; edge pixels a block misses take the
    nearest block's value)."""
    out = np.zeros(shape, np.float32)
    for z, d in maps:
        full = np.repeat(np.repeat(z.astype(np.float32), d, axis=0), d, axis=1)
        full = np.pad(full, ((0, shape[0] - full.shape[0]), (0, shape[1] - full.shape[1])), mode="edge")
        np.copyto(out, full, where=np.abs(full) > np.abs(out))
    return out


def estimate_noise_sigma(image: np.ndarray) -> float:
    """Robust noise standard deviation ([0, 1] units) from the finest diagonal
    differences (median absolute deviation / 0.6745), insensitive to edges. Computed
    in float32 (the differences of [0, 1] images need no more)."""
    x = np.asarray(image, dtype=np.float32)
    d = (x[:-1, :-1] - x[1:, :-1] - x[:-1, 1:] + x[1:, 1:]) * np.float32(0.5)
    return float(np.median(np.abs(d - np.median(d))) / 0.6745)


def clipped_mask(image: np.ndarray) -> np.ndarray:
    """Bool (H, W): pixels of ``image`` ([0, 1]) at either end of the range (0 or 1),
    where the stored signal was clipped."""
    return (image <= 0.0) | (image >= 1.0)


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Bool (H, W): ``mask`` grown by ``radius`` px in city-block distance, exactly
    ``scipy.ndimage.binary_dilation(mask, iterations=radius)`` (its 3x3 cross, repeated),
    computed on the mask's bounding box grown by ``radius``: a mask on a small part of the
    image (one saturated marker) costs that part only; a mask spread over the image (a
    black border all round) costs what the full-image dilation does, about 0.1 s per
    call on 4 megapixels."""
    mask = np.asarray(mask, bool)
    out = np.zeros(mask.shape, bool)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0 or radius <= 0:
        return out | mask
    box = (slice(max(rows[0] - radius, 0), rows[-1] + radius + 1), slice(max(cols[0] - radius, 0), cols[-1] + radius + 1))
    out[box] = binary_dilation(mask[box], iterations=radius)
    return out


def saturated_restoration(degraded: np.ndarray, restored: np.ndarray, radius: int) -> np.ndarray:
    """Bool (H, W): pixels of ``restored`` clipped at 0 or 1 within ``radius`` px of input
    pixels (``degraded``) clipped at the same end: a saturated white marker or a black
    field, where the truth itself may sit at the end of the range. A restoration clipped
    where the input is not (ringing that overshoots in mid-grey anatomy) is judged."""
    out = np.zeros(degraded.shape, bool)
    for at_end_in, at_end_out in ((degraded >= 1.0, restored >= 1.0), (degraded <= 0.0, restored <= 0.0)):
        if at_end_in.any() and at_end_out.any():
            out |= at_end_out & dilate(at_end_in, radius)
    return out


def masked_residual(
    degraded: np.ndarray, restored: np.ndarray, kernel: np.ndarray, reblurred: np.ndarray | None = None, saturated: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(residual, overlay, structure)``: what of the input the re-blurred output does
    not explain (float32 (H, W), [0, 1] units), the burned-in overlay mask (bool
    (H, W)), and the local structure of the re-blurred output: the norm of its Hessian
    (float32 (H, W), [0, 1] units per px^2; large on edges, lines and markers).

    The residual is input minus re-blurred output, less the part a small error of the
    kernel explains: its least-squares fit by the first and second derivatives of the
    re-blurred output (a PSF slightly shifted, wider or narrower in any direction, or a
    restoration that left a little blur, changes the re-blurred image by about these
    terms). It is set to zero where no restoration can be judged: on burned-in overlays
    and within a kernel radius of them (no kernel explains them; methods keep them as
    they are); on input pixels clipped at either end of the range (:func:`clipped_mask`),
    on restoration pixels clipped at the same end near them
    (:func:`saturated_restoration`), and within a kernel radius of either: there the blur
    model does not hold (the file or detector cut the signal off; a restoration, clipped
    to [0, 1], keeps only one half of its error at a saturated white marker or in a black
    field, which re-blurs to a coherent residual however honest it is); and
    within one kernel size of the image border (there the blur mixed in pixels outside
    the image, and the networks restored it from reflected content: :data:`BORDER_PX`
    at least)."""
    y = np.asarray(degraded, dtype=np.float32)
    reblurred = blur(restored, kernel, dtype=np.float32) if reblurred is None else np.asarray(reblurred)
    b = reblurred.astype(np.float32)
    residual = y - b  # float32: residuals of [0, 1] images need no more
    overlay = burned_in_mask(y)
    judged = np.ones(y.shape, bool)
    band = min(max(kernel.shape[0], BORDER_PX), (min(y.shape) - 1) // 4)
    if band > 0:
        judged[:band], judged[-band:], judged[:, :band], judged[:, -band:] = False, False, False, False
    if saturated is None:
        saturated = saturated_restoration(y, np.asarray(restored), kernel.shape[0] // 2 + 1)
    excluded = overlay | clipped_mask(y) | saturated
    if excluded.any():
        judged &= ~dilate(excluded, kernel.shape[0] // 2 + 1)
    bx, by = np.gradient(b, axis=1), np.gradient(b, axis=0)
    basis = [bx, by, np.gradient(bx, axis=1), np.gradient(by, axis=0), np.gradient(bx, axis=0)]
    # the five coefficients are global: fitted (normal equations) on every other row and
    # column of the judged pixels
    every = (slice(None, None, 2), slice(None, None, 2))
    weight = judged[every].astype(np.float32)
    terms = [np.ascontiguousarray(d[every]) for d in basis]
    weighted = [t * weight for t in terms]
    gram = np.array([[float(np.vdot(a, t)) for t in terms] for a in weighted])
    rhs = np.array([float(np.vdot(a, residual[every])) for a in weighted])
    if weight.sum() > 10 * len(terms) and np.all(np.isfinite(gram)):
        coef = np.linalg.lstsq(gram + 1e-12 * np.trace(gram) * np.eye(len(terms)), rhs, rcond=None)[0]
        for c, d in zip(coef, basis):
            residual -= np.float32(c) * d
    residual[~judged] = 0.0
    bxx, byy, bxy = basis[2], basis[3], basis[4]
    structure = np.sqrt(bxx * bxx + byy * byy + 2 * bxy * bxy)
    return residual, overlay, structure


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
    kernel_source : how ``kernel`` was obtained, reported as is ("given";
        "identified" when the method identified it from the image; from the blind
        pipeline "learned" for the learned PSF estimator's motion, "estimated" for a
        Gaussian of the blur evidence: :func:`xraydeblur.pipeline.blind_psf`).
    reblurred : ``restored`` blurred by ``kernel`` (float (H, W)) when the caller has
        it already (the pipeline's noise add-back needs it too); else computed here.
    with_map : also return ``residual_map`` (float32 (H, W): at each pixel the locally
        averaged residual over its expected spread, at the scale where that is largest
        in magnitude; |values| above ``threshold`` are flagged).

    Returns
    -------
    dict (JSON-serialisable unless ``with_map``): ``consistent`` (bool: no scale flags a
    region), ``score`` (RMS residual / expected RMS ``hypot(noise, SCORE_FLOOR)``; about
    1 for an honest output, informative only), ``rms_residual``, ``noise_sigma``,
    ``expected_rms``, ``max_local_z`` (largest |local mean residual| over its expected
    std, any scale), ``flagged_fraction`` (largest share of a scale's grid flagged),
    ``largest_flagged_region_px`` (image px), ``flagged_scales_px``, ``scales`` (per
    scale: ``scale_px``, ``floor``, ``expected_spread``, ``max_z``, ``flagged_fraction``,
    ``largest_flagged_region_px``, ``consistent``), ``threshold``, ``kernel_source``, ``overlay_px``
    (pixels of burned-in overlays in ``degraded``, :mod:`xraydeblur.overlay`: the
    residual on them and within a kernel radius of them is ignored), ``clipped_px``
    (pixels of ``degraded`` at 0 or 1) and ``restored_clipped_px`` (pixels of
    ``restored`` clipped at the same end near them: :func:`saturated_restoration`),
    ignored likewise (:func:`masked_residual`).
    """
    y = np.asarray(degraded, dtype=np.float32)
    x = np.asarray(restored, dtype=np.float32)
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
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xraydeblur-noise") as side:  # overlaps the residual
        noise = side.submit(estimate_noise_sigma, y) if noise_sigma is None else None
        saturated = saturated_restoration(y, x, kernel.shape[0] // 2 + 1)
        residual, overlay, structure = masked_residual(y, x, kernel, reblurred, saturated)
        sigma_n = float(noise_sigma) if noise is None else noise.result()
    rms = float(np.sqrt(np.mean(np.square(residual, dtype=np.float64))))
    expected = float(np.hypot(sigma_n, SCORE_FLOOR))
    floor_of = dict(zip(SCALES_PX, floors()))
    per_scale, maps = [], []
    relative = relative_tolerance()
    for level in residual_scales(residual, sigma_n, structure if relative > 0 else None):
        floor = floor_of[level["scale_px"]]
        spread = float(np.hypot(level["noise"], floor))
        z = level["smoothed"] / (spread if level["structure"] is None else np.sqrt(spread**2 + (relative * level["structure"]) ** 2))
        flagged = np.abs(z) > Z_THRESHOLD
        largest = _largest_region(flagged) if flagged.any() else 0
        d = level["block"]
        entry = {"scale_px": level["scale_px"], "floor": floor, "expected_spread": spread, "max_z": float(np.abs(z).max()),
                 "flagged_fraction": float(flagged.mean()), "largest_flagged_region_px": largest * d * d, "consistent": largest < MIN_REGION_PX}
        per_scale.append(entry)
        if with_map:
            maps.append((z, d))
    flagged_scales = [e for e in per_scale if not e["consistent"]]
    report = {
        "consistent": not flagged_scales,
        "score": round(rms / expected, 4),
        "rms_residual": rms,
        "noise_sigma": sigma_n,
        "expected_rms": expected,
        "max_local_z": max((e["max_z"] for e in per_scale), default=0),
        "flagged_fraction": max((e["flagged_fraction"] for e in per_scale), default=0),
        "largest_flagged_region_px": max((e["largest_flagged_region_px"] for e in per_scale), default=0),
        "flagged_scales_px": [e["scale_px"] for e in flagged_scales],
        "scales": per_scale,
        "threshold": Z_THRESHOLD,
        "kernel_source": source,
        "overlay_px": int(overlay.sum()),
        "clipped_px": int(np.count_nonzero(clipped_mask(y))),
        "restored_clipped_px": int(np.count_nonzero(saturated)),
    }
    if sigma_blur is not None:
        report["estimated_blur_sigma_px"] = sigma_blur
    if with_map:
        report["residual_map"] = _combined_map(maps, residual.shape)
    return report

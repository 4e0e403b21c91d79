"""Blind estimation of a Gaussian blur width from the image alone.

Method (spectral roll-off fit)
------------------------------
A Gaussian blur of width ``s`` multiplies the image's power spectrum by
``exp(-4 pi^2 s^2 f^2)`` (``f`` in cycles per pixel). That roll-off is
super-exponential in ``f``, unlike the power law ``f^-g`` of the unblurred content,
so the two can be separated by a fit:

1. the horizontal and vertical first differences of the image are cut into
   overlapping 64 x 64 tiles, Hann-windowed, and their power spectra averaged
   (Welch's method on gradients: differencing flattens the spectrum, which keeps
   window leakage from the strong low frequencies out of the weak high ones);
2. the spectrum is averaged in 32 radial rings and ``log P(f)`` is fitted with
   ``log[(exp(a - g log f - 4 pi^2 S^2 f^2) + n) |D(f)|^2]`` (power-law signal,
   Gaussian roll-off, white noise floor ``n``, difference filter ``|D|^2``) by
   least squares over ``0.03 <= f <= f_max``;
3. the band is adapted twice: ``f_max`` is set where the fitted roll-off has fallen
   by ``exp(-11.5)`` (1e-5 in power), beyond which only rounding and truncation
   residue is left;
4. an image whose spectrum is nearly white (power near f = 0.05 less than
   :data:`MIN_CONTRAST` times that near f = 0.45) is noise without measurable
   structure: 0.0 is returned rather than a fit of the noise;
5. radiographs are already slightly soft (detector, resampling, JPEG): their own
   width is treated as a constant ``s0`` and removed in quadrature, and a small
   constant gain corrects the fit's remaining bias:
   ``sigma = GAIN * sqrt(max(S^2 - s0^2, 0))``.

``s0`` = :data:`INTRINSIC_SIGMA` and :data:`GAIN` were calibrated on the training
split only (``benchmarks/classical_benchmark.py --calibrate-sigma``,
``benchmarks/results/classical_sigma_calibration.json``); the accuracy on the test
split is in ``docs/classical.md``. Strong noise hides the roll-off of small blurs (sigma 1 px at
the benchmark's dose is often missed), and non-Gaussian blur (motion, disk) has no
single correct answer.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import fft as sfft

from ._common import as_image, estimate_noise_sigma

#: intrinsic blur of sharp radiographs in the shared data (px), removed in quadrature
INTRINSIC_SIGMA = 0.19
#: multiplicative bias correction of the fit (calibrated on the training split)
GAIN = 1.054
#: below this ratio of low- to high-frequency power the image is taken as pure noise
#: (white noise: about 1; radiographs: 6-20 with the benchmark noise, 1e3 and more without)
MIN_CONTRAST = 3.0

_TILE = 64
_RINGS = 32
_MAX_TILES = 4096
_F_MIN = 0.03
_ROLL_OFF = 11.5  # ln(1e5): fit up to where the Gaussian has fallen to 1e-5 in power


def _ring_layout(tile: int, rings: int):
    fy = np.fft.fftfreq(tile)[:, None]
    fx = np.fft.rfftfreq(tile)[None, :]
    radius = np.hypot(fx, fy) + 0 * fy
    ring = np.digitize(radius, np.linspace(0, 0.5, rings + 1)) - 1
    ok = ring < rings
    counts = np.bincount(ring[ok], minlength=rings).astype(float)
    d2 = 4 * np.sin(np.pi * fx) ** 2 + 4 * np.sin(np.pi * fy) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):  # empty rings of small tiles: NaN, skipped by the fit
        d2_ring = np.bincount(ring[ok], weights=d2[ok], minlength=rings) / counts
    centres = (np.arange(rings) + 0.5) * 0.5 / rings
    return ring, ok, counts, d2_ring, centres


def _gradient_power(x: np.ndarray, tile: int, max_tiles: int = _MAX_TILES) -> np.ndarray:
    """Welch power spectrum (tile, tile // 2 + 1) of the x- plus y-differences of ``x``
    (H, W) over overlapping Hann-windowed tiles (at most ``max_tiles`` per direction)."""
    gx = np.diff(x, axis=1)[:-1, :]
    gy = np.diff(x, axis=0)[:, :-1]
    step = tile // 2
    ny = (gx.shape[0] - tile) // step + 1
    nx = (gx.shape[1] - tile) // step + 1
    if ny < 1 or nx < 1:
        raise ValueError(f"image {x.shape} too small to estimate blur")
    stride = max(1, int(np.ceil(np.sqrt(ny * nx / max_tiles))))
    win = np.outer(np.hanning(tile), np.hanning(tile)).astype(np.float32)

    def power(g: np.ndarray) -> tuple[np.ndarray, int]:
        # a strided view: tiles are copied a few rows of tiles at a time, never all at once
        view = np.lib.stride_tricks.sliding_window_view(g, (tile, tile))[:: step * stride, :: step * stride]
        rows = max(1, 512 // view.shape[1])
        total = np.zeros((tile, tile // 2 + 1))
        for start in range(0, view.shape[0], rows):
            # float32 FFTs: the power agrees with float64 to ~1e-6
            chunk = view[start : start + rows].reshape(-1, tile, tile).astype(np.float32)
            chunk -= chunk.mean(axis=(1, 2), keepdims=True)
            chunk *= win
            spectrum = sfft.rfft2(chunk, workers=1)
            total += (spectrum.real**2 + spectrum.imag**2).sum(axis=0, dtype=np.float64)
        return total, view.shape[0] * view.shape[1]

    # the two directions in two threads (numpy and pocketfft release the GIL)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="xraydeblur-spectrum") as pool:
        (px, n), (py, _) = pool.map(power, (gx, gy))
    return (px + py) / (n * (win.astype(np.float64) ** 2).sum())


def _tile_for(x: np.ndarray, tile: int) -> int:
    return int(min(tile, 2 ** int(np.log2(max(8, min(x.shape) - 1)))))


def gradient_spectrum(image: np.ndarray, tile: int = _TILE, rings: int = _RINGS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Radially averaged Welch power spectrum of the image's first differences.

    Returns ``(f, P, d2)``: ring centre frequencies (cycles/px), the mean power of
    the x- and y-differences per ring (summed), and the mean ``|D(f)|^2`` per ring.
    """
    x = as_image(image)
    tile = _tile_for(x, tile)
    P = _gradient_power(x, tile)
    ring, ok, counts, d2_ring, f = _ring_layout(tile, rings)
    with np.errstate(invalid="ignore", divide="ignore"):
        P_ring = np.bincount(ring[ok], weights=P[ok], minlength=rings) / counts
    return f, P_ring, d2_ring


#: bounds of the fitted parameters (a, g, S^2, ln n)
_LOWER = np.array([-80.0, -2.0, 0.0, -80.0])
_UPPER = np.array([80.0, 6.0, 100.0, 10.0])


def _bounded_least_squares(residual, jacobian, start, lower: np.ndarray, upper: np.ndarray, iterations: int = 200) -> tuple[np.ndarray, float]:
    """Minimise ``sum(residual(p)**2)`` within box bounds by Levenberg-Marquardt steps
    clipped to the box; a parameter held at a bound that the gradient pushes further
    out is kept there. Returns ``(p, cost)``. (Four parameters: a few dozen small
    steps, without importing scipy.optimize, which costs 0.3-0.4 s per process.)"""
    p = np.clip(np.asarray(start, dtype=float), lower, upper)
    r = residual(p)
    cost = float(r @ r)
    damping = 1e-3
    for _ in range(iterations):
        J = jacobian(p)
        g, H = J.T @ r, J.T @ J
        free = ~(((p <= lower) & (g > 0)) | ((p >= upper) & (g < 0)))
        if not free.any():
            break
        accepted = None
        while damping < 1e12:
            A = H[np.ix_(free, free)]
            A = A + damping * np.diag(np.diag(A) + 1e-12)
            step = np.zeros_like(p)
            try:
                step[free] = np.linalg.solve(A, -g[free])
            except np.linalg.LinAlgError:
                damping *= 4
                continue
            trial = np.clip(p + step, lower, upper)
            rt = residual(trial)
            ct = float(rt @ rt)
            if np.isfinite(ct) and ct < cost:
                accepted = (trial, rt, ct)
                damping = max(damping / 3, 1e-12)
                break
            damping *= 4
        if accepted is None:
            break
        gain = cost - accepted[2]
        moved = float(np.max(np.abs(accepted[0] - p)))
        p, r, cost = accepted
        if gain <= 1e-12 * (1.0 + cost) and moved <= 1e-9 * (1.0 + float(np.max(np.abs(p)))):
            break
    return p, cost


def _fit_width(f: np.ndarray, P: np.ndarray, d2: np.ndarray, f_max: float, start: np.ndarray | None = None) -> tuple[float, np.ndarray | None]:
    """Total Gaussian width S (px) of the fitted roll-off over [_F_MIN, f_max], and the
    fitted parameters (a, g, S^2, ln n). Without ``start`` the fit starts from five
    roll-off widths and keeps the best; with it (the previous band's solution: the
    band only narrows, so the minimum moves little) from there alone."""
    good = np.isfinite(P) & np.isfinite(d2) & (P > 0)
    m = (f >= _F_MIN) & (f <= f_max) & good
    if m.sum() < 5:
        m = (f >= _F_MIN) & good
    if m.sum() < 4:
        return 0.0, None
    ff, lp, dd = f[m], np.log(P[m]), d2[m]
    tiny = np.log(1e-30)

    logf, f2 = np.log(ff), 4 * np.pi**2 * ff**2

    def residual(p):
        a, g, s2, ln = p
        signal = np.exp(np.clip(a - g * logf - s2 * f2, tiny, 50))
        return np.log((signal + np.exp(ln)) * dd) - lp

    def jacobian(p):  # analytic: 4x fewer model evaluations than finite differences
        a, g, s2, ln = p
        signal = np.exp(np.clip(a - g * logf - s2 * f2, tiny, 50))
        share = signal / (signal + np.exp(ln))
        return np.stack([share, -logf * share, -f2 * share, 1.0 - share], axis=1)

    best = None
    a0 = lp[0] - np.log(dd[0]) + 2 * np.log(ff[0])
    starts = [start] if start is not None else [[a0, 2.0, s2, lp[-1] - np.log(dd[-1]) - 3] for s2 in (0.1, 1.0, 4.0, 9.0, 25.0)]
    for p0 in starts:
        x, cost = _bounded_least_squares(residual, jacobian, p0, _LOWER, _UPPER)
        if best is None or cost < best[0]:
            best = (cost, x)
    if best is None:
        return 0.0, None
    return float(np.sqrt(best[1][2])), best[1]


def _spectral_contrast(f: np.ndarray, P: np.ndarray, d2: np.ndarray) -> float:
    """Image power near f = 0.05 over that near f = 0.45 (differencing undone)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        flat = P / d2
    lo = flat[(f >= _F_MIN) & (f <= 0.08) & np.isfinite(flat)]
    hi = flat[(f >= 0.4) & np.isfinite(flat)]
    if lo.size == 0 or hi.size == 0 or np.median(hi) <= 0:
        return np.inf
    return float(np.median(lo) / np.median(hi))


def estimate_gaussian_sigma(image: np.ndarray) -> float:
    """Width (standard deviation, pixels) of a Gaussian blur, estimated blindly.

    Parameters
    ----------
    image : ndarray (H, W)
        Grey image in [0, 1]. Images smaller than 32 px (or constant) give 0.0;
        below about 128 px the estimate is coarse. Large images are sampled with
        at most 4096 tiles per gradient direction (about 1 s for 2000 x 2000).

    Returns
    -------
    float
        Estimated extra Gaussian blur sigma in pixels (0.0 for an image as sharp as
        the sharp radiographs the estimator was calibrated on). See the module
        docstring for the method and its accuracy.

    Examples
    --------
    >>> import numpy as np
    >>> from xraydeblur.degrade import gaussian_blur
    >>> rng = np.random.default_rng(0)
    >>> sharp = np.clip(0.5 + 0.1 * np.cumsum(rng.normal(size=(256, 256)), 1) / 16, 0, 1).astype(np.float32)
    >>> blurred, _ = gaussian_blur(sharp, 2.0)
    >>> sigma = estimate_gaussian_sigma(blurred)   # close to 2 for natural content
    """
    x = as_image(image)
    if min(x.shape) < 32 or not np.isfinite(x).all() or x.std() == 0:
        return 0.0
    return _width_from_spectrum(*gradient_spectrum(x))


def _width_from_spectrum(f: np.ndarray, P: np.ndarray, d2: np.ndarray) -> float:
    """Extra Gaussian blur width (px) from a ring-averaged gradient spectrum: steps
    4-5 of the module docstring (0.0 for a white, structureless spectrum)."""
    if not np.any(np.isfinite(P)) or np.nanmax(P) <= 0:
        return 0.0
    if _spectral_contrast(f, P, d2) < MIN_CONTRAST:
        return 0.0  # (nearly) white spectrum: noise, no structure whose blur could be measured
    s, params = _fit_width(f, P, d2, 0.5)
    for _ in range(2):
        f_max = float(np.clip(np.sqrt(_ROLL_OFF) / (2 * np.pi * max(s, 0.3)), 0.12, 0.5))
        s, params = _fit_width(f, P, d2, f_max, params)
    return float(GAIN * np.sqrt(max(s * s - INTRINSIC_SIGMA**2, 0.0)))


#: orientation sectors of :func:`blur_evidence` (each 180 / SECTORS degrees wide)
SECTORS = 4
#: tiles per difference direction sampled by :func:`blur_evidence`: as many as the
#: radial estimate (1024 made the per-sector fits of a sharp 2000 x 2128 DICOM unstable:
#: 0.44 -> 1.00 px)
EVIDENCE_TILES = _MAX_TILES


def blur_evidence(image: np.ndarray, sectors: int = SECTORS) -> dict:
    """Evidence of blur in any direction, for the "no blur worth removing" rule.

    The gradient spectrum of :func:`estimate_gaussian_sigma` is averaged in rings within
    ``sectors`` orientation sectors of the frequency plane. Returns a dict:

    * ``sigma_px``: the Gaussian roll-off width (px) fitted in the most blurred sector.
      An isotropic blur gives about the same width in every sector; a one-directional
      one (straight patient motion) rolls off one sector only, which the radial average
      of :func:`estimate_gaussian_sigma` dilutes to nothing.
    * ``direction_deg``: the direction of that blur in the image (degrees from the x
      axis, counter-clockwise with y up, as :func:`xraydeblur.degrade.gaussian_kernel`
      and the motion kernels take it).
    * ``sigma_across_px``: the width in the least blurred sector (about ``sigma_px`` for
      an isotropic blur, about 0 across straight motion).
    * ``hf_anisotropy``: the least over the median high-frequency power (0.25-0.45
      cycles/px, differencing undone) of the sectors, in (0, 1]. Long noise-free
      motion puts sinc side lobes where the Gaussian fit sees a floor, but empties one
      sector's high frequencies: this ratio then falls far below that of sharp images.
      The median, not the largest sector, is the reference, so that directional
      content (grid lines, ribs) adding power to one sector does not count as blur.

    ``image``: (H, W) in [0, 1]; smaller than 32 px or constant: no evidence
    (``sigma_px`` 0, ``hf_anisotropy`` 1).
    """
    x = as_image(image, np.float32)  # the tiles' FFTs are float32 anyway
    none = {"sigma_px": 0.0, "direction_deg": 0.0, "sigma_across_px": 0.0, "hf_anisotropy": 1.0}
    if min(x.shape) < 32 or not np.isfinite(x).all() or x.std() == 0:
        return none
    tile = _tile_for(x, _TILE)
    P = _gradient_power(x, tile, EVIDENCE_TILES)
    fy = np.fft.fftfreq(tile)[:, None]
    fx = np.fft.rfftfreq(tile)[None, :]
    angle = np.degrees(np.arctan2(fy, fx)) % 180.0 + 0 * fx  # orientation of the frequency vector
    width = 180.0 / sectors
    sector = ((angle + width / 2) // width).astype(int) % sectors
    rings = _RINGS // 2
    ring, ok, _, _, f = _ring_layout(tile, rings)
    d2 = 4 * np.sin(np.pi * fx) ** 2 + 4 * np.sin(np.pi * fy) ** 2 + 0 * fy
    radius = np.hypot(fx, fy) + 0 * fy
    high = ok & (radius >= 0.25) & (radius <= 0.45) & (d2 > 0)
    out, hf, widths = dict(none), [], []
    for k in range(sectors):
        m = ok & (sector == k)
        counts = np.bincount(ring[m], minlength=rings).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            P_ring = np.bincount(ring[m], weights=P[m], minlength=rings) / counts
            d2_ring = np.bincount(ring[m], weights=d2[m], minlength=rings) / counts
        sigma = _width_from_spectrum(f, P_ring, d2_ring)
        widths.append(sigma)
        if sigma > out["sigma_px"]:
            # frequencies at orientation a (y down) are damped by blur along the same
            # direction; reported with y up
            out["sigma_px"], out["direction_deg"] = sigma, float((-k * width) % 180.0)
        hf.append(float(np.mean(P[high & (sector == k)] / d2[high & (sector == k)])))
    out["sigma_across_px"] = float(min(widths))
    middle = float(np.median(hf))
    out["hf_anisotropy"] = float(min(hf) / middle) if middle > 0 else 1.0
    return out


def blur_assessment(image: np.ndarray) -> dict:
    """How blurred a radiograph looks, for ``xraydeblur info``: the decision the default
    pipeline takes on it (:func:`xraydeblur.pipeline.restore`, blind, not forced), from
    the same steps: the blur evidence read on the central part of the image
    (:func:`xraydeblur.classical.no_blur.image_blur_evidence`), the shipped rule
    (:func:`~xraydeblur.classical.no_blur.shows_blur`) and, where that sees no blur, the
    learned PSF estimator's motion cue (:func:`~xraydeblur.classical.no_blur.motion_cue`).
    So ``deblur_advisable`` is False exactly when the default method would return the
    image unchanged (a method that identifies the PSF, ``nafnet-auto``, may still deblur
    where it finds one it trusts).

    Returns ``{"estimated_blur_sigma_px": float, "deblur_advisable": bool,
    "estimated_noise_sigma": float}``: the blur width (px) in the most blurred direction
    (the pipeline's ``estimated_blur_before``), the decision, and the robust (wavelet
    MAD) noise level in [0, 1] units of the whole image; plus ``"motion_cue"`` (the
    family the estimator named) when the cue was asked.

    >>> import numpy as np
    >>> sorted(blur_assessment(np.full((48, 48), 0.5, np.float32)))  # under 64 px: no cue
    ['deblur_advisable', 'estimated_blur_sigma_px', 'estimated_noise_sigma']
    """
    from .no_blur import image_blur_evidence, sees_blur

    evidence = image_blur_evidence(image)
    advisable, cue = sees_blur(image, evidence)
    facts = {
        "estimated_blur_sigma_px": round(float(evidence["sigma_px"]), 3),
        "deblur_advisable": advisable,
        "estimated_noise_sigma": round(float(estimate_noise_sigma(image)), 5),
    }
    if cue and cue["family"] is not None:  # images under 64 px get no cue
        facts["motion_cue"] = cue["family"]
    return facts

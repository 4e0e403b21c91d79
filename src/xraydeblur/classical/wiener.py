"""Wiener (linear minimum-mean-square-error) deconvolution by FFT.

Two functions, in the style of ``skimage.restoration``:

* :func:`wiener` - regularised inverse filter with a fixed or automatically estimated
  noise-to-signal ratio ``balance``;
* :func:`wiener_correction` - the same problem with the prior centred on a given
  estimate (a network's output): the data step of the kernel-aware network;
* :func:`wiener_path` - either of them at several balances at once (a regularisation
  path), each solve started from its neighbour's: the learned data step's candidates;
* :func:`unsupervised_wiener` - the self-tuning variant: noise level and prior
  strength are estimated from the image by empirical Bayes (expectation-maximisation
  on the Gaussian model, deterministic), instead of the Gibbs sampler of Orieux et al.
  that ``skimage.restoration.unsupervised_wiener`` uses.

Boundaries: by default the image is treated as the observed window of a larger
unknown one (``boundary="masked"``): the regularised least-squares problem is solved
exactly for the observed pixels by preconditioned conjugate gradients, so borders do
not ring and no periodic or mirrored continuation is assumed. ``boundary="mirror"``
is the one-pass FFT filter on an image mirrored by twice the kernel size with the
far half of the margin tapered (see :mod:`._common`).

Cost for a 2000 x 2000 radiograph on two cores: about 0.3-1 s ("mirror") or
a few seconds ("masked", 50 CG iterations; timings in
``benchmarks/results/classical_timing.json``).
"""

from __future__ import annotations

import numpy as np

from ._common import as_image, as_kernel, estimate_noise_sigma, extend, irfft2, masked_solve, psf2otf, regulariser_power, rfft2, to_output

#: lower bound of the automatic balance (noise-free images still carry rounding noise)
MIN_BALANCE = 1e-5


def _spectral_mean(a: np.ndarray, width: int) -> np.ndarray | float:
    """Mean of a quantity given on an rfft grid over the full (Hermitian) frequency grid."""
    weights = np.full(a.shape[-1], 2.0)
    weights[0] = 1.0
    if width % 2 == 0:
        weights[-1] = 1.0
    return float((a * weights).sum() / (a.shape[0] * width))


def estimate_balance(image: np.ndarray, kernel: np.ndarray, regulariser: str = "gradient", noise_sigma: float | None = None, min_noise: float = 0.0) -> float:
    """Noise-to-signal ratio for :func:`wiener`, from the image alone.

    * noise: standard deviation ``s`` from the wavelet MAD rule
      (:func:`estimate_noise_sigma`) unless ``noise_sigma`` is given, at least
      ``min_noise``;
    * signal: the sharp image is modelled with power spectrum ``c / |D(f)|^2``
      (for the "gradient" regulariser the familiar 1/f^2 law of natural images), so
      the blurred image has periodogram ``P(f) = c |H|^2 / |D|^2 + s^2``. In rings of
      radial frequency where the image is signal-dominated (``P > 4 s^2``) each ring
      gives ``c = (P - s^2) / mean(|H|^2 / |D|^2)`` (:func:`signal_rings`); ``c`` is
      their median (the lowest ring if none qualifies).

    The returned balance is ``s^2 / c`` (at least :data:`MIN_BALANCE`), the ratio
    that makes :func:`wiener` the MMSE filter under that model.
    """
    y = as_image(image)
    s = estimate_noise_sigma(y) if noise_sigma is None else float(noise_sigma)
    s = max(s, min_noise, 1e-6)
    c_ring, valid, strong = signal_rings(y, kernel, s, regulariser)
    if strong.any():
        c = float(np.median(c_ring[strong]))
    elif valid.any():
        c = float(c_ring[np.flatnonzero(valid)[0]])
    else:
        c = 0.0
    if not np.isfinite(c) or c <= 0:
        return 1.0  # no detectable signal above the noise: smooth hard
    return float(max(s * s / c, MIN_BALANCE))


def signal_rings(image: np.ndarray, kernel: np.ndarray, noise_sigma: float, regulariser: str = "gradient") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The signal level ``c`` of :func:`estimate_balance`'s model per ring of radial
    frequency: 16 rings, geometric from 2 / min(H, W) to 0.5 cycles / px, of the blurred
    ``image`` (H, W, [0, 1]) extended for ``kernel`` (K, K). Returns ``(c, valid,
    strong)``, each (16,): ``c = (P - s^2) / mean(|H|^2 / |D|^2)`` with ``s =
    noise_sigma`` ([0, 1] units), ``valid`` where the ring has frequencies and a finite
    ``c``, ``strong`` where it is also signal-dominated (``P > 4 s^2``). A sharp image
    that follows the model has the same ``c`` in every ring; one smoother than it has
    ``c`` falling with frequency, one with its own grain ``c`` rising again."""
    y = as_image(image)
    k = as_kernel(kernel)
    s = float(noise_sigma)
    ext = extend(y, k.shape)
    n = ext.data.size
    P = np.abs(rfft2(ext.data - ext.data.mean())) ** 2 / n
    D2 = regulariser_power(regulariser, ext.shape)
    H2 = np.abs(psf2otf(k, ext.shape)) ** 2
    if regulariser == "identity":
        D2 = D2.copy()
    fy = np.fft.fftfreq(ext.shape[0])[:, None]
    fx = np.fft.rfftfreq(ext.shape[1])[None, :]
    radius = np.hypot(fx, fy)
    edges = np.geomspace(2.0 / min(ext.shape), 0.5, 17)
    ring = np.digitize(radius, edges) - 1  # -1 below the first edge (DC), 16 above 0.5
    ok = (ring >= 0) & (ring < 16)
    counts = np.bincount(ring[ok], minlength=16)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_ring = np.bincount(ring[ok], weights=P[ok], minlength=16) / counts
        a_ring = np.bincount(ring[ok], weights=(H2 / np.maximum(D2, 1e-12))[ok], minlength=16) / counts
        c_ring = (p_ring - s * s) / a_ring
    valid = (counts > 0) & np.isfinite(c_ring)
    return c_ring, valid, valid & (p_ring > 4 * s * s)


def wiener(
    image: np.ndarray,
    kernel: np.ndarray,
    balance: float | None = None,
    regulariser: str = "gradient",
    balance_gain: float = 1.0,
    min_balance: float = 1e-4,
    boundary: str = "masked",
    cg_iterations: int = 50,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Wiener deconvolution of ``image`` by ``kernel``.

    Minimises ``||M (k * x) - y||^2 + balance * ||D x||^2`` over an image ``x`` that
    extends beyond the observed window, where ``M`` keeps the observed pixels only.

    * ``boundary="masked"`` (default): the exact non-periodic problem, solved by
      conjugate gradients preconditioned with the periodic Wiener filter
      (:func:`._common.masked_solve`), started from the "mirror" solution. The
      unknown margin is filled in by the regulariser instead of being assumed, so
      borders do not ring; it also recovers several dB more in the interior of
      crops. A few seconds for 2000 x 2000 (each CG iteration costs 2 FFTs;
      ``benchmarks/results/classical_timing.json``).
    * ``boundary="mirror"``: one FFT pass, ``X = conj(H) Y / (|H|^2 + balance |D|^2)``
      on the image mirrored by twice the kernel size with the far half of that
      margin tapered (about 1 s for 2000 x 2000). Exact for images whose content
      is symmetric about the border, mild ringing otherwise.

    Parameters
    ----------
    image : ndarray (H, W)
        Blurred image, values in [0, 1] (float; any dtype is converted).
    kernel : ndarray (k, k)
        Point spread function in pixels of ``image``; normalised to sum 1 here.
    balance : float or None
        Noise-to-signal ratio (dimensionless, relative to ``|D|^2``). ``None``
        estimates it from the image with :func:`estimate_balance` (times
        ``balance_gain``). Typical values: 1e-4 (noise-free) to 1e-1 (very noisy).
    regulariser : {"gradient", "laplacian", "identity"}
        Operator ``D`` whose energy is penalised: "gradient" (first differences,
        matches the 1/f^2 spectrum of natural images), "laplacian" (5-point, a
        smoother prior) or "identity" (classical constant-NSR Wiener filter).
    boundary : {"masked", "mirror"}
        Boundary model, see above.
    cg_iterations : int
        Conjugate-gradient iterations of the "masked" solve (stops earlier at a
        relative residual of 1e-6).
    weights : ndarray (H, W) or None
        Per-pixel weights of the data term, "masked" boundary only: 0 marks a pixel
        that is not an observation (a burned-in overlay filled in,
        :func:`xraydeblur.overlay.run_around_overlays`), which the solve then leaves
        to the regulariser like the unknown margin.
    balance_gain, min_balance : float
        With ``balance=None``: ``balance = max(min_balance, balance_gain * auto)``
        (ignored when ``balance`` is given). The default floor 1e-4 keeps
        noise-free images from being inverted almost unregularised. The registered
        "wiener" method uses values tuned per blur family on the validation split.

    Returns
    -------
    ndarray (H, W) float32 in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> from xraydeblur.degrade import gaussian_blur
    >>> from xraydeblur.classical import wiener
    >>> yy, xx = np.mgrid[:64, :64] / 64.0
    >>> sharp = (0.5 + 0.4 * np.sin(6 * xx) * np.cos(5 * yy)).astype(np.float32)
    >>> blurred, kernel = gaussian_blur(sharp, 2.0)
    >>> restored = wiener(blurred, kernel, balance=1e-4)
    >>> restored.shape, restored.dtype
    ((64, 64), dtype('float32'))
    """
    y = as_image(image)
    k = as_kernel(kernel)
    if balance is None:
        balance = max(min_balance, balance_gain * estimate_balance(y, k, regulariser))
    w = None if weights is None else np.asarray(weights, np.float64)
    return to_output(_deconvolve(y, k, balance, regulariser, boundary, cg_iterations, w))


def _deconvolve(
    y: np.ndarray, k: np.ndarray, balance: float, regulariser: str, boundary: str, cg_iterations: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """The Wiener solution for ``y`` (H, W), not clipped: extend, solve, crop."""
    if balance < 0:
        raise ValueError("balance must be >= 0")
    ext = extend(y, k.shape)
    D2 = regulariser_power(regulariser, ext.shape)
    return ext.crop(_solve(ext, psf2otf(k, ext.shape), balance * D2, boundary, cg_iterations, weights))


def _solve(ext, H: np.ndarray, q: np.ndarray, boundary: str, cg_iterations: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Regularised deconvolution of ``ext`` with Fourier-diagonal penalty ``q``;
    ``weights`` (H, W): per-pixel data-term weights (masked boundary only)."""
    if boundary not in ("masked", "mirror"):
        raise ValueError(f"unknown boundary {boundary!r}; choose masked or mirror")
    denom = np.maximum(np.abs(H) ** 2 + q, 1e-12)
    x = irfft2(np.conj(H) * rfft2(ext.data) / denom, ext.shape)
    if boundary == "mirror" or cg_iterations <= 0:
        return x
    rhs = irfft2(np.conj(H) * rfft2(ext.data * ext.mask(weights)), ext.shape)
    x, _ = masked_solve(ext, H, q, rhs, x, iterations=cg_iterations, weights=weights)
    return x


def wiener_correction(
    image: np.ndarray,
    estimate: np.ndarray,
    kernel: np.ndarray,
    balance: float,
    regulariser: str = "gradient",
    cg_iterations: int = 50,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Correct an ``estimate`` of the sharp image so that it explains ``image`` better.

    Solves ``min_x ||M (k * x) - y||^2 + balance * ||D (x - estimate)||^2``: the Wiener
    problem of :func:`wiener` with the prior centred on ``estimate`` instead of on a
    flat image. Equivalently, :func:`wiener` (masked borders) applied to the residual
    ``y - k * estimate``, added to ``estimate``. With a small ``balance`` (noise-free
    input) the result explains the input almost exactly and keeps the estimate only
    where the blur destroyed information; with a large one it stays at the estimate.

    Parameters
    ----------
    image : ndarray (H, W), the blurred observation in [0, 1].
    estimate : ndarray (H, W), a restoration of it (e.g. a network's output) in [0, 1].
    kernel : ndarray (k, k), the PSF in pixels of ``image`` (normalised here).
    balance, regulariser, cg_iterations : as in :func:`wiener` (``balance`` required).
    weights : ndarray (H, W) or None, per-pixel weights of the data term (mean about
        1), e.g. the mean noise variance over the local one
        (:func:`xraydeblur.classical.noise_variance_map`): the weighted least squares of
        signal-dependent noise, which trusts dark (less noisy) pixels more.

    Returns
    -------
    ndarray (H, W) float32 in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> from xraydeblur.degrade import gaussian_blur
    >>> yy, xx = np.mgrid[:64, :64] / 64.0
    >>> sharp = (0.5 + 0.4 * np.sin(6 * xx) * np.cos(5 * yy)).astype(np.float32)
    >>> blurred, kernel = gaussian_blur(sharp, 2.0)
    >>> better = wiener_correction(blurred, blurred, kernel, balance=1e-4)
    >>> bool(np.abs(better - sharp).mean() < np.abs(blurred - sharp).mean())
    True
    """
    from ..degrade import blur

    y, z = as_image(image), as_image(estimate)
    k = as_kernel(kernel)
    w = None if weights is None else np.asarray(weights, np.float64)
    return to_output(z + _deconvolve(y - blur(z, k), k, balance, regulariser, "masked", cg_iterations, w))


def wiener_path(
    image: np.ndarray,
    kernel: np.ndarray,
    balances,
    regulariser: str = "gradient",
    cg_iterations=50,
    weights: np.ndarray | None = None,
    estimate: np.ndarray | None = None,
) -> list[np.ndarray]:
    """:func:`wiener` (or, given ``estimate``, :func:`wiener_correction`) with masked
    borders at each of ``balances``: a regularisation path, for the price of fewer
    conjugate-gradient iterations.

    The solves share one extension and one set of spectra, and run from the largest
    balance (best conditioned) to the smallest. Each starts from its own periodic
    (mirror) solution, exact away from the borders, *plus the previous solve's border
    correction* (its masked solution minus its periodic one), which changes little
    from one balance to the next. The problem solved is the same as one call of
    :func:`wiener` per balance: only the start differs, so the result is that
    function's up to the solves' convergence, and far closer to converged for the same
    iterations (on a 2128 x 2000 radiograph with 9 px motion and noise at 10^6
    photons, the corrections after 10 iterations each are 60-68 dB from 300-iteration
    solves; solved one by one, 20 iterations each leave them 43-73 dB from them:
    ``benchmarks/trials/regularisation_path.py whole``).

    Parameters
    ----------
    image, kernel, regulariser, weights : as in :func:`wiener`.
    balances : sequence of float, the balances (any order; each >= 0).
    cg_iterations : int, or one int per balance: each solve's CG iterations (<= 0:
        the periodic solution alone).
    estimate : ndarray (H, W) in [0, 1] or None: the prior's centre, as in
        :func:`wiener_correction` (None: a flat image, as in :func:`wiener`).

    Returns
    -------
    list of ndarray (H, W) float32 in [0, 1], one per balance, in the order given.

    Examples
    --------
    >>> import numpy as np
    >>> from xraydeblur.degrade import gaussian_blur
    >>> yy, xx = np.mgrid[:64, :64] / 64.0
    >>> sharp = (0.5 + 0.4 * np.sin(6 * xx) * np.cos(5 * yy)).astype(np.float32)
    >>> blurred, kernel = gaussian_blur(sharp, 2.0)
    >>> path = wiener_path(blurred, kernel, [1e-4, 1e-3, 1e-2])
    >>> bool(np.array_equal(path[2], wiener(blurred, kernel, balance=1e-2)))  # solved first: the same start
    True
    >>> bool(np.abs(path[0] - sharp).mean() < np.abs(blurred - sharp).mean())
    True
    """
    from ..degrade import blur

    balances = [float(b) for b in balances]
    if any(b < 0 for b in balances):
        raise ValueError("balance must be >= 0")
    iterations = [int(cg_iterations)] * len(balances) if np.ndim(cg_iterations) == 0 else [int(i) for i in cg_iterations]
    if len(iterations) != len(balances):
        raise ValueError("cg_iterations: one int, or one per balance")
    y, k = as_image(image), as_kernel(kernel)
    w = None if weights is None else np.asarray(weights, np.float64)
    centre = 0.0 if estimate is None else as_image(estimate)
    ext = extend(y if estimate is None else y - blur(centre, k), k.shape)
    H = psf2otf(k, ext.shape)
    D2 = regulariser_power(regulariser, ext.shape)
    filtered = np.conj(H) * rfft2(ext.data)
    rhs = irfft2(np.conj(H) * rfft2(ext.data * ext.mask(w)), ext.shape)
    out: list = [None] * len(balances)
    border = None  # the last solve's masked minus periodic solution
    for i in sorted(range(len(balances)), key=lambda j: -balances[j]):
        q = balances[i] * D2
        periodic = irfft2(filtered / np.maximum(np.abs(H) ** 2 + q, 1e-12), ext.shape)
        x = periodic
        if iterations[i] > 0:
            x, _ = masked_solve(ext, H, q, rhs, periodic if border is None else periodic + border, iterations=iterations[i], weights=w)
            border = x - periodic
        out[i] = to_output(centre + ext.crop(x))
    return out


def em_precisions(
    Y: np.ndarray, H: np.ndarray, D2: np.ndarray, width: int, g_n: float, g_x: float, noise_floor: float, iterations: int = 50, tol: float = 1e-4
) -> tuple[float, float, int]:
    """EM for the noise and prior precisions of ``Y = H X + N`` on an orthonormal real-FFT
    grid (``width``: the real-space width): ``N ~ CN(0, 1/g_n)``, ``X ~ CN(0, 1/(g_x |D|^2))``.
    Starts at (``g_n``, ``g_x``); the noise variance stays at least ``noise_floor``;
    stops when ``g_x / g_n`` changes by less than ``tol`` (relative). Returns
    ``(g_n, g_x, iterations run)``; see :func:`unsupervised_wiener` for the updates."""
    n = Y.shape[0] * width
    H2 = np.abs(H) ** 2
    balance = g_x / g_n
    done = 0
    for done in range(1, iterations + 1):
        L = g_n * H2 + g_x * D2
        M = g_n * np.conj(H) * Y / L
        residual = _spectral_mean(np.abs(Y - H * M) ** 2 + H2 / L, width)
        prior = _spectral_mean(D2 * (np.abs(M) ** 2 + 1.0 / L), width) * n / (n - 1)
        g_n = 1.0 / max(residual, noise_floor, 1e-14)
        g_x = 1.0 / max(prior, 1e-14)
        new = g_x / g_n
        change = abs(new - balance) / balance
        balance = new
        if change < tol:
            break
    return g_n, g_x, done


def unsupervised_wiener(
    image: np.ndarray,
    kernel: np.ndarray,
    regulariser: str = "gradient",
    iterations: int = 50,
    tol: float = 1e-4,
    min_noise: float = 1e-3,
    boundary: str = "masked",
    cg_iterations: int = 50,
    return_params: bool = False,
):
    """Self-tuning Wiener deconvolution (empirical Bayes, EM).

    Model, per Fourier coefficient of the (mirrored) image, with an orthonormal FFT:
    ``Y = H X + N``, noise ``N ~ CN(0, 1/g_n)``, prior ``X ~ CN(0, 1/(g_x |D|^2))``
    (flat for the mean). Given ``g_n`` and ``g_x`` the posterior of ``X`` is Gaussian
    with precision ``L = g_n |H|^2 + g_x |D|^2`` and mean ``g_n conj(H) Y / L``
    (a Wiener filter with balance ``g_x / g_n``). EM then re-estimates

    * ``1/g_n = mean |Y - H M|^2 + mean |H|^2 / L`` (expected residual power),
    * ``1/g_x = sum |D|^2 (|M|^2 + 1/L) / (N - 1)`` (expected regularised energy),

    until the balance changes by less than ``tol`` (relative). This is the
    deterministic (variational) counterpart of the Gibbs sampler of Orieux, Giovannelli
    & Rodet (2010): the same hyperparameters, estimated by their posterior mode instead
    of by sampling. It is initialised from :func:`estimate_balance`.

    Parameters
    ----------
    image : ndarray (H, W), values in [0, 1]
    kernel : ndarray (k, k), PSF in pixels (normalised here)
    regulariser : {"gradient", "laplacian", "identity"}, see :func:`wiener`
    iterations : int, maximum EM iterations (each costs two array passes, no new FFT)
    tol : float, relative change of the balance that stops the iteration
    min_noise : float
        Floor on the noise standard deviation (image units). Without it a noise-free
        image drives the estimate towards an unregularised inverse filter, which then
        amplifies every small model error (crop borders, rounding); 1e-3 is about the
        rounding noise of 8-bit storage (1/255/sqrt(12)).
    boundary, cg_iterations : final deconvolution with the estimated balance, as
        in :func:`wiener` (the hyperparameters themselves are estimated on the
        mirrored extension, where the model is diagonal in Fourier)
    return_params : bool, also return ``{"noise_sigma", "balance", "iterations"}``

    Returns
    -------
    ndarray (H, W) float32 in [0, 1] (and the parameter dict if asked)

    Examples
    --------
    >>> import numpy as np
    >>> from xraydeblur.degrade import gaussian_blur
    >>> from xraydeblur.classical import unsupervised_wiener
    >>> yy, xx = np.mgrid[:64, :64] / 64.0
    >>> sharp = (0.5 + 0.4 * np.sin(6 * xx) * np.cos(5 * yy)).astype(np.float32)
    >>> blurred, kernel = gaussian_blur(sharp, 2.0)
    >>> restored, params = unsupervised_wiener(blurred, kernel, return_params=True)
    >>> sorted(params)
    ['balance', 'iterations', 'noise_sigma']
    """
    y = as_image(image)
    k = as_kernel(kernel)
    ext = extend(y, k.shape)
    n = ext.data.size
    width = ext.shape[1]
    Y = rfft2(ext.data) / np.sqrt(n)  # orthonormal
    H = psf2otf(k, ext.shape)
    D2 = regulariser_power(regulariser, ext.shape)
    if regulariser == "identity":
        D2 = D2.copy()
        D2[0, 0] = 0.0
    sigma = max(estimate_noise_sigma(y), min_noise, 1e-6)
    g_n = 1.0 / sigma**2
    g_x = g_n * estimate_balance(y, k, regulariser, noise_sigma=sigma)
    g_n, g_x, done = em_precisions(Y, H, D2, width, g_n, g_x, min_noise**2, iterations, tol)
    balance = g_x / g_n
    out = to_output(ext.crop(_solve(ext, H, balance * D2, boundary, cg_iterations)))
    if return_params:
        return out, {"noise_sigma": float(1.0 / np.sqrt(g_n)), "balance": float(balance), "iterations": done}
    return out

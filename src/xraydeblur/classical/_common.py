"""Shared pieces of the classical methods: boundary extension, transfer functions,
finite differences and a robust noise estimate.

Every FFT method here works on an *extended* image: the input is mirrored outwards
by a margin of at least the kernel size (so the blur model holds across the true
border), enlarged to a fast FFT size, and the outermost band of the extension is
blended smoothly into a constant (so the periodic wrap-around of the FFT joins two
equal values instead of two unrelated image borders). Only the original window is
returned, so anything that rings in the taper band is cut away.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy import fft as sfft

#: threads for scipy.fft (the machines this runs on are small and shared)
FFT_WORKERS = 2

_local = threading.local()  # ``fft_workers``: this thread's count, when set by run_parallel


def fft_workers() -> int:
    """scipy.fft threads for a transform in this thread: :data:`FFT_WORKERS`, or 1
    inside :func:`run_parallel` (the solves themselves then share the cores). The
    count does not change the result: pocketfft splits whole 1-D transforms between
    its threads."""
    return getattr(_local, "fft_workers", FFT_WORKERS)


def run_parallel(calls: Sequence[Callable[[], object]], threads: int, costs: Sequence[float] | None = None) -> list:
    """Results of ``calls`` (callables without arguments), in the order given, run by
    ``threads`` threads (1: one after another, as before) whose FFTs each take one core
    (:func:`fft_workers`); with ``costs`` (one per call, e.g. its iterations) the
    costliest start first, so the threads finish together. For independent solves:
    numpy's element-wise products and sums, about 40 % of a masked solve, run on one
    core each, so two solves side by side take 0.7-0.8 of their time one after the other
    on two cores, with bit-identical results (``tests/test_learned_step.py``)."""
    if threads <= 1 or len(calls) <= 1:
        return [call() for call in calls]
    order = sorted(range(len(calls)), key=lambda j: -costs[j]) if costs is not None else list(range(len(calls)))

    def single(call):
        _local.fft_workers = 1
        try:
            return call()
        finally:
            del _local.fft_workers

    results: list = [None] * len(calls)
    with ThreadPoolExecutor(max_workers=min(threads, len(calls))) as pool:
        for j, result in zip(order, pool.map(single, [calls[j] for j in order])):
            results[j] = result
    return results


def as_image(image: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Validate a 2-D image and return a copy as ``dtype`` (float64 unless asked
    otherwise) with NaN set to 0."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D image (H, W), got shape {image.shape}")
    if image.size == 0:
        raise ValueError("empty image")
    return np.nan_to_num(image.astype(dtype, copy=False), nan=0.0)


def as_kernel(kernel: np.ndarray) -> np.ndarray:
    """Validate a 2-D PSF and return it as float64 normalised to sum 1."""
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2:
        raise ValueError(f"expected a 2-D kernel, got shape {kernel.shape}")
    total = kernel.sum()
    if not np.isfinite(total) or total <= 0:
        raise ValueError("kernel must have a positive, finite sum")
    return kernel / total


def to_output(x: np.ndarray) -> np.ndarray:
    """float32 (H, W) in [0, 1] with no NaN/inf."""
    return np.clip(np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0).astype(np.float32)


@dataclass
class Extension:
    """An image mirrored out to ``shape`` (a fast FFT size); ``window`` cuts it back."""

    data: np.ndarray
    window: tuple[slice, slice]
    pad: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape

    def crop(self, x: np.ndarray) -> np.ndarray:
        return x[self.window]

    def mask(self, weights: np.ndarray | None = None) -> np.ndarray:
        """1 on the observed window (or ``weights`` (H, W) there), 0 in the margin."""
        m = np.zeros(self.shape)
        m[self.window] = 1.0 if weights is None else weights
        return m


def _fast(n: int) -> int:
    return sfft.next_fast_len(n, real=True)


def extend(image: np.ndarray, kernel_shape: tuple[int, int], factor: float = 2.0, minimum: int = 16, taper: bool = True) -> Extension:
    """Mirror ``image`` outwards by ``max(minimum, factor * kernel size)`` pixels per side.

    The total size is rounded up to a fast FFT length. With ``taper`` the outer part of
    the margin (everything further than ``kernel size`` from the image) is blended with
    a raised-cosine ramp into the image mean, which makes the extended image periodic
    without a jump; the part within one kernel size of the image is a pure mirror.
    """
    h, w = image.shape
    k = max(kernel_shape)
    pad = int(max(minimum, np.ceil(factor * k)))
    H, W = _fast(h + 2 * pad), _fast(w + 2 * pad)
    top, left = (H - h) // 2, (W - w) // 2
    widths = ((top, H - h - top), (left, W - w - left))
    mode = "symmetric"
    data = image
    # np.pad cannot mirror by more than the image size in one go: repeat if needed
    while any(a > s or b > s for (a, b), s in zip(widths, data.shape)):
        step = tuple((min(a, s), min(b, s)) for (a, b), s in zip(widths, data.shape))
        data = np.pad(data, step, mode=mode)
        widths = tuple((a - sa, b - sb) for (a, b), (sa, sb) in zip(widths, step))
    data = np.pad(data, widths, mode=mode)
    if taper:
        keep = k  # pure mirror this far out from the image
        weight = np.outer(_ramp(H, top, h, keep), _ramp(W, left, w, keep))
        mean = float(image.mean())
        data = mean + weight * (data - mean)
    window = (slice(top, top + h), slice(left, left + w))
    return Extension(np.ascontiguousarray(data), window, min(top, left))


def _ramp(n: int, start: int, length: int, keep: int) -> np.ndarray:
    """1 on [start - keep, start + length + keep), raised-cosine down to 0 at both array ends."""
    r = np.ones(n)
    lo, hi = max(0, start - keep), min(n, start + length + keep)
    if lo > 0:
        t = np.arange(lo) / lo  # 0 at the array edge -> 1 at lo
        r[:lo] = 0.5 - 0.5 * np.cos(np.pi * t)
    if hi < n:
        t = (n - 1 - np.arange(hi, n)) / (n - hi)
        r[hi:] = 0.5 - 0.5 * np.cos(np.pi * t)
    return r


def psf2otf(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Real-FFT transfer function (H, W//2+1) of ``kernel`` centred at pixel (0, 0)."""
    ky, kx = kernel.shape
    if ky > shape[0] or kx > shape[1]:
        raise ValueError(f"kernel {kernel.shape} larger than the image {shape}")
    big = np.zeros(shape)
    big[:ky, :kx] = kernel
    big = np.roll(big, (-(ky // 2), -(kx // 2)), axis=(0, 1))
    return sfft.rfft2(big, workers=fft_workers())


def rfft2(x: np.ndarray) -> np.ndarray:
    return sfft.rfft2(x, workers=fft_workers())


def irfft2(X: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return sfft.irfft2(X, s=shape, workers=fft_workers())


def conv_fft(x: np.ndarray, otf: np.ndarray) -> np.ndarray:
    """Circular convolution of ``x`` with the kernel whose OTF is ``otf``."""
    return irfft2(rfft2(x) * otf, x.shape)


def corr_fft(x: np.ndarray, otf: np.ndarray) -> np.ndarray:
    """Circular correlation (adjoint of :func:`conv_fft`)."""
    return irfft2(rfft2(x) * np.conj(otf), x.shape)


def difference_otfs(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """OTFs of the forward differences along x (columns) and y (rows)."""
    dx = np.zeros((3, 3))
    dx[1, 1], dx[1, 2] = -1.0, 1.0
    return psf2otf(dx[:, ::-1], shape), psf2otf(dx.T[::-1, :], shape)


def regulariser_power(name: str, shape: tuple[int, int]) -> np.ndarray:
    """|D(f)|^2 of a regularising operator on an rfft grid: "identity", "gradient"
    (sum of squared forward differences) or "laplacian" (5-point)."""
    if name == "identity":
        return np.ones((shape[0], shape[1] // 2 + 1))
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    g = 4 * np.sin(np.pi * fx) ** 2 + 4 * np.sin(np.pi * fy) ** 2  # |Dx|^2 + |Dy|^2
    if name == "gradient":
        return g
    if name == "laplacian":
        return g * g
    raise ValueError(f"unknown regulariser {name!r}; choose identity, gradient or laplacian")


def grad(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward differences (zero at the last column/row: Neumann boundary)."""
    gx = np.zeros_like(u)
    gy = np.zeros_like(u)
    gx[:, :-1] = u[:, 1:] - u[:, :-1]
    gy[:-1, :] = u[1:, :] - u[:-1, :]
    return gx, gy


def div(px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Backward-difference divergence, the negative adjoint of :func:`grad`."""
    d = np.zeros_like(px)
    d[:, 0] = px[:, 0]
    d[:, 1:-1] = px[:, 1:-1] - px[:, :-2]
    d[:, -1] = -px[:, -2]
    d[0, :] += py[0, :]
    d[1:-1, :] += py[1:-1, :] - py[:-2, :]
    d[-1, :] += -py[-2, :]
    return d


def estimate_noise_sigma(image: np.ndarray) -> float:
    """Robust standard deviation of additive white noise, in image units.

    Median absolute value of the finest diagonal Haar wavelet coefficients
    ``(a - b - c + d) / 2`` over 2x2 blocks, divided by 0.6745 (Donoho's MAD rule).
    Smooth image content barely reaches this band, so the estimate is dominated by
    the noise; for signal-dependent (Poisson) noise it is a typical level.
    """
    x = as_image(image, np.float32)  # differences of [0, 1] values: float32 is ample
    h, w = (x.shape[0] // 2) * 2, (x.shape[1] // 2) * 2
    if h < 2 or w < 2:
        return 0.0
    x = x[:h, :w]
    hh = (x[0::2, 0::2] - x[0::2, 1::2]) - (x[1::2, 0::2] - x[1::2, 1::2])
    np.abs(hh, out=hh)
    return float(np.median(hh)) / 2.0 / 0.6745


#: |H(f)|^2 below which the kernel is taken to leave no signal at frequency f
#: (:func:`kernel_noise_sigma`): the image's power there is 10^4 times weaker than
#: unblurred, so what remains is noise
KERNEL_ZERO = 1e-4
#: least share of the spectrum :func:`kernel_noise_sigma` reads; a kernel with fewer
#: near-zero frequencies (a blur narrower than about 1 px) is read on this share of its
#: weakest frequencies, where some signal remains: the estimate is then too high
KERNEL_ZERO_SHARE = 0.02


def tukey_window(n: int, alpha: float) -> np.ndarray:
    """The symmetric Tukey (tapered cosine) window of ``n`` points, float64, its cosine
    tapers ``alpha`` (below 1) of the length together: the values of
    ``scipy.signal.windows.tukey(n, alpha)``, bit for bit (``tests/test_classical.py``),
    without importing scipy.signal (0.7 s per process)."""
    if not alpha < 1:
        raise ValueError("tukey_window: alpha must be below 1 (1 is a Hann window)")
    if n <= 1 or alpha <= 0:
        return np.ones(max(n, 0))
    i = np.arange(n, dtype=np.float64)
    width = int(np.floor(alpha * (n - 1) / 2.0))
    rising, flat, falling = i[: width + 1], i[width + 1 : n - width - 1], i[n - width - 1 :]
    return np.concatenate(
        (
            0.5 * (1 + np.cos(np.pi * (-1 + 2.0 * rising / alpha / (n - 1)))),
            np.ones(flat.shape),
            0.5 * (1 + np.cos(np.pi * (-2.0 / alpha + 1 + 2.0 * falling / alpha / (n - 1)))),
        )
    )


def kernel_noise_sigma(image: np.ndarray, kernel: np.ndarray) -> float:
    """Standard deviation of the white noise in ``image`` (H, W, [0, 1]) blurred by
    ``kernel`` (PSF, pixels), rounding noise included, in image units.

    Read off the spectrum where the blur has removed the signal: the periodogram of the
    image (minus its mean, times a Tukey window to keep its borders from leaking) at the
    frequencies where the kernel's transfer function has ``|H|^2`` below
    :data:`KERNEL_ZERO` holds only noise, whatever the image shows; its median over
    those frequencies, divided by ln 2 (a periodogram value of white noise is
    exponentially distributed), is the noise variance. Unlike
    :func:`estimate_noise_sigma`, fine image texture does not count as noise, so a
    noise-free image reads as noise-free (about 1e-4 on 256 px validation crops, from
    frequencies where the blur is weak but not zero) and a 12-bit one as its rounding
    noise (7e-5). An image less than twice the kernel's size has too few frequencies to
    read: it gets :func:`estimate_noise_sigma`, which counts texture as noise (so the data
    step takes the cautious, noisy-input rule).

    >>> import numpy as np
    >>> from xraydeblur.degrade import gaussian_blur
    >>> rng = np.random.default_rng(0)
    >>> sharp = rng.random((128, 128))
    >>> blurred, kernel = gaussian_blur(sharp, 2.0)
    >>> noisy = blurred + rng.normal(0, 0.003, blurred.shape)
    >>> round(kernel_noise_sigma(noisy, kernel) / 0.003, 1), kernel_noise_sigma(blurred, kernel) < 1e-5
    (1.0, True)
    """
    y = as_image(image)
    k = as_kernel(kernel)
    h, w = y.shape
    if min(h, w) < 2 * max(k.shape):  # too few frequencies to read (a tiny image, a wide kernel)
        return estimate_noise_sigma(y)
    window = np.outer(tukey_window(h, 0.25), tukey_window(w, 0.25))
    power = np.abs(rfft2((y - y.mean()) * window)) ** 2 / float((window**2).sum())
    transfer = np.abs(psf2otf(k, (h, w))) ** 2
    zeros = transfer < KERNEL_ZERO
    if zeros.sum() < max(64, KERNEL_ZERO_SHARE * transfer.size):
        zeros = transfer <= np.quantile(transfer, KERNEL_ZERO_SHARE)
    return float(np.sqrt(np.median(power[zeros]) / np.log(2)))


def rounding_sigma(bits: int | None) -> float:
    """RMS rounding noise of values stored on a ``bits``-bit grid and scaled to [0, 1]:
    ``1 / ((2**bits - 1) sqrt 12)``; 0 for None (float input)."""
    return 0.0 if not bits else 1.0 / (((1 << int(bits)) - 1) * np.sqrt(12.0))


#: share of pixels that must lie on a bit depth's grid for :func:`quantisation_bits`
#: (pixels of a burned-in overlay filled in by inpainting leave it)
QUANTISED_SHARE = 0.9

#: bit depths :func:`quantisation_bits` looks for, coarsest first. Rounding to b bits
#: leaves noise of 1 / ((2**b - 1) sqrt 12) rms: 8 bit 1.1e-3, 10 bit 2.8e-4, 12 bit
#: 7.0e-5. Finer grids (14, 16 bit) are not looked for: their rounding noise (at most
#: 1.8e-5) is treated as none, and float32 cannot tell their grid apart reliably.
QUANTISATION_BITS = (8, 9, 10, 11, 12)

#: pixels sampled (evenly strided) for the grid test of :func:`quantisation_bits`
QUANTISATION_SAMPLE = 1 << 18


def quantisation_bits(image: np.ndarray) -> int | None:
    """The bit depth b of :data:`QUANTISATION_BITS` whose grid ``k / (2**b - 1)`` holds
    ``image`` (H, W) in [0, 1] (coarsest first), or None (float input, or finer).

    Held means: at least :data:`QUANTISED_SHARE` of the (sampled) pixels within 1e-3 of
    a grid step of that grid, and more than two distinct levels. Stored radiographs are
    scaled this way on reading (DICOM by ``2**BitsStored - 1``, 8-bit PNG/JPEG by 255).
    Such an image carries rounding noise that :func:`estimate_noise_sigma` cannot see
    (its median is 0 on flat regions), and which an unregularised inverse amplifies.

    >>> import numpy as np
    >>> ramp = np.linspace(0, 1, 4096, dtype=np.float32).reshape(64, 64)
    >>> quantisation_bits(np.round(ramp * 1023) / 1023), quantisation_bits(ramp + 1e-4)
    (10, None)
    """
    x = as_image(image).ravel()
    x = x[:: max(1, x.size // QUANTISATION_SAMPLE)]
    for bits in QUANTISATION_BITS:
        scaled = x * float((1 << bits) - 1)
        on_grid = np.abs(scaled - np.round(scaled)) < 1e-3
        if on_grid.mean() >= QUANTISED_SHARE and np.unique(np.round(scaled[on_grid])).size > 2:
            return bits
    return None


def is_8bit_quantised(image: np.ndarray) -> bool:
    """True when ``image`` (H, W) in [0, 1] holds 8-bit values (k / 255; rounding noise
    1 / (255 sqrt 12) = 0.0011 rms): :func:`quantisation_bits` is 8."""
    return quantisation_bits(image) == 8


def estimate_noise_model(image: np.ndarray, bins: int = 12) -> tuple[float, float]:
    """Signal-dependent (Poisson-Gaussian) noise: ``variance ~ gain * value + offset``.

    The finest diagonal Haar coefficients ``(a - b - c + d) / 2`` of each 2x2 block
    (variance = the noise variance for white noise) are grouped by the block mean into
    ``bins`` equally populated intensity bins; in each bin the robust variance
    ``(median |coefficient| / 0.6745)**2`` is taken, and a line with non-negative
    coefficients is fitted through them by least squares. Values in [0, 1] units:
    ``gain`` is variance per unit value (about 1 / photons at full scale), ``offset``
    the signal-independent variance (read noise squared; at least half the variance of
    the darkest bin). Returns ``(gain, offset)``.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> clean = np.tile(np.linspace(0.05, 0.95, 256), (256, 1))
    >>> noisy = rng.poisson(clean * 2000) / 2000
    >>> gain, offset = estimate_noise_model(noisy)
    >>> bool(abs(gain - 1 / 2000) < 1e-4 and offset < 3e-5)
    True
    """
    from scipy.optimize import nnls

    x = as_image(image)
    h, w = (x.shape[0] // 2) * 2, (x.shape[1] // 2) * 2
    if h < 8 or w < 8:
        s = estimate_noise_sigma(x)
        return 0.0, s * s
    x = x[:h, :w]
    hh = ((x[0::2, 0::2] - x[0::2, 1::2] - x[1::2, 0::2] + x[1::2, 1::2]) / 2.0).ravel()
    mean = ((x[0::2, 0::2] + x[0::2, 1::2] + x[1::2, 0::2] + x[1::2, 1::2]) / 4.0).ravel()
    order = np.argsort(mean, kind="stable")
    groups = [g for g in np.array_split(order, bins) if g.size >= 16]
    levels = np.array([np.median(mean[g]) for g in groups])
    variances = np.array([(np.median(np.abs(hh[g])) / 0.6745) ** 2 for g in groups])
    (gain, offset), _ = nnls(np.stack([levels, np.ones_like(levels)], axis=1), variances)
    # the fit may put the offset at 0 (read noise is small next to quantum noise); keep
    # it at least half the darkest bin's variance, so near-black pixels are not judged
    # noise-free
    return float(gain), float(max(offset, 0.5 * variances.min()))


def noise_variance_map(image: np.ndarray, model: tuple[float, float] | None = None) -> np.ndarray:
    """Per-pixel noise variance (H, W) float64 of ``image`` under the Poisson-Gaussian
    ``model`` (``(gain, offset)``, default :func:`estimate_noise_model`), evaluated on
    the image smoothed by a 3x3 box (so its own noise barely enters); at least 1e-12."""
    from scipy.ndimage import uniform_filter

    x = as_image(image)
    gain, offset = estimate_noise_model(x) if model is None else model
    return np.maximum(gain * np.clip(uniform_filter(x, 3, mode="reflect"), 0.0, None) + offset, 1e-12)


def spectral_dot(X: np.ndarray, Y: np.ndarray, width: int) -> float:
    """``sum(x * y) * x.size`` for the real (h, ``width``) arrays x, y whose
    :func:`rfft2` are ``X`` and ``Y`` (Parseval's identity on the half spectrum: the
    columns that stand for two conjugate frequencies count twice)."""
    d = 2.0 * np.vdot(X, Y).real - np.vdot(X[:, 0], Y[:, 0]).real
    if width % 2 == 0:
        d -= np.vdot(X[:, -1], Y[:, -1]).real
    return float(d)


def masked_solve(
    ext: Extension,
    otf: np.ndarray,
    q: np.ndarray,
    rhs: np.ndarray,
    x0: np.ndarray,
    iterations: int = 50,
    tol: float = 1e-6,
    weights: np.ndarray | None = None,
    double: bool = False,
) -> tuple[np.ndarray, int]:
    """Solve ``(H^T M H + Q) x = rhs`` on the extended domain by preconditioned CG.

    ``weights`` (H, W) over the observed window (default 1) make ``M`` a weighted mask:
    a per-pixel data-term weight, e.g. inverse noise variance relative to its mean.

    ``M`` keeps only the observed window of ``ext`` (the margin is unknown, not
    assumed), ``H`` is the blur (OTF ``otf``) and ``Q`` a non-negative operator that
    is diagonal in the Fourier domain (values ``q`` on the rfft grid, e.g.
    ``balance * |D|^2``). Because the margin is at least half a kernel wide nothing
    wraps around, so this is the exact non-periodic least-squares problem for the
    observed pixels. The preconditioner is the circulant approximation
    ``(|H|^2 + Q)^-1`` (the plain Wiener filter), which is exact away from the
    borders, so CG only has to resolve the boundary and the ill-conditioned
    directions near the kernel's spectral zeros: tens of iterations (it stops when
    the residual falls below ``tol`` relative to ``rhs``; with small ``q`` the
    iteration count is what limits the solve, and each iteration still improves
    the border).

    The CG vectors are kept as spectra (single precision): ``H``, ``Q`` and the
    preconditioner are diagonal there, and inner products follow from Parseval
    (:func:`spectral_dot`), so an iteration needs two FFTs (for the mask) instead of
    six. ``double``: double precision throughout (about 2 x slower; a reference for the
    single-precision rounding, ``benchmarks/trials/cg_backend.py``). Returns
    ``(x, iterations used)``, ``x`` float64 on ``ext``'s grid.
    """
    real, cplx = (np.float64, np.complex128) if double else (np.float32, np.complex64)
    shape = ext.shape
    width = shape[1]
    m = ext.mask(weights).astype(real)
    H = otf.astype(cplx)
    Hc = np.conj(H)
    Q = q.astype(real)
    inverse_preconditioner = (1.0 / (np.abs(otf) ** 2 + q + 1e-12)).astype(real)

    def A(P):
        return Hc * rfft2(irfft2(H * P, shape) * m) + Q * P

    B = rfft2(rhs.astype(real))
    X = rfft2(x0.astype(real))
    R = B - A(X)
    Z = R * inverse_preconditioner
    P = Z.copy()
    rz = spectral_dot(R, Z, width)
    bn = np.sqrt(spectral_dot(B, B, width)) or 1.0
    used = 0
    for used in range(1, iterations + 1):
        AP = A(P)
        pAp = spectral_dot(P, AP, width)
        if pAp <= 0:
            break
        a = real(rz / pAp)
        X += a * P
        R -= a * AP
        if np.sqrt(max(spectral_dot(R, R, width), 0.0)) < tol * bn:
            break
        Z = R * inverse_preconditioner
        rz_new = spectral_dot(R, Z, width)
        P = Z + real(rz_new / rz) * P
        rz = rz_new
    return irfft2(X, shape).astype(np.float64), used

"""Blind identification of a parametric PSF (Gaussian, disk or straight motion) from
the blurred image's power spectrum.

A blur multiplies the image's power spectrum by ``|K(f)|^2``. Straight motion of
length ``L`` puts parallel lines of zeros across it (spacing ``1/L``, perpendicular to
the motion), a disk puts rings of zeros, a Gaussian rolls it off smoothly. The
unblurred radiograph's own spectrum is close to a power law ``A |f|^b``. So each
candidate PSF is scored by how well

    log P(f) ~ log( A |f|^b  |K(f)|^2 (x) |W|^2  +  N  +  F )

explains the observed spectrum ``P`` (``(x) |W|^2``: the Hann window's leakage, a
[1, 4, 1] / 6 smoothing along each axis; ``A``, ``b`` and a white noise level ``N``
fitted per candidate by Gauss-Newton; ``F`` a fixed floor at the power of 8-bit
quantisation noise, below which a radiograph holds no information). The candidate with
the smallest mean squared log residual wins.

Steps:

1. overlapping 64 x 64 tiles (stride 32, at most :data:`MAX_TILES`), mean removed,
   Hann-windowed, periodograms averaged (Welch);
2. frequencies with ``|f| >= 2/64`` cycles per pixel are scored against every
   candidate of :func:`candidate_bank`: no blur, Gaussian sigma 0.5-4 px, disk radius
   1-4 px, straight motion 3-21 px at every 6 degrees;
3. around each family's best, a finer grid (sigma to 1/32 px, radius to 1/16 px,
   motion length to 0.25 px and angle to 0.5 degree) is scored again on 128 px tiles
   (finer frequency resolution) when the image allows, and the overall best wins.

It identifies only these three families. Curved motion, anisotropic or exponential
blur is matched to the nearest of them, and a wide Gaussian and a wide disk differ
little above the quantisation floor. :attr:`PsfEstimate.trusted` is the rule for when
to use an estimate (the ``nafnet-psf`` method does): a fit score below
:data:`MAX_TRUSTED_SCORE` (curved motion fits at 0.29-0.50, the three families at
0.01-0.18) and "no blur" fitting at least :data:`MIN_NO_BLUR_RATIO` times worse
(exponential detector blur: 1.00-1.17; true Gaussians: 1.6 and up). Both were chosen on
the validation split (``benchmarks/trials/blind_psf_trial.py``, results in
``benchmarks/results/trials/blind_psf*.json`` and CHANGELOG.md "Earlier results").

>>> from xraydeblur.data.synthetic import power_law_scene
>>> from xraydeblur.degrade import Degradation
>>> blurred, _ = Degradation("motion", {"length": 9, "angle": 30.0}).apply(power_law_scene(256))
>>> found = estimate_psf(blurred)
>>> found.label(), found.trusted
('motion length 9 px, angle 30 deg', True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ._common import as_image, rounding_sigma

#: tile side of the Welch spectrum (px)
TILE = 64
#: tile side of the second, finer stage (px)
REFINE_TILE = 128
#: at most this many tiles are averaged (a larger image is sampled with a wider stride)
MAX_TILES = 4096
#: power floor: variance of 8-bit quantisation noise, (1/255)^2 / 12, for images in [0, 1]
#: (:func:`estimate_psf`; :func:`refine_psf` takes the image's own, :func:`rounding_floor`)
QUANTISATION_FLOOR = (1.0 / 255.0) ** 2 / 12.0
#: bit depths :func:`rounding_floor` looks for; finer grids (and float images) get the last
ROUNDING_BITS = tuple(range(8, 17))
#: Gauss-Newton iterations of the per-candidate fit
FIT_ITERATIONS = 15
#: an estimate whose fit score (mean squared log residual) is above this is not trusted
MAX_TRUSTED_SCORE = 0.2
#: ... nor one that explains the spectrum less than this many times better than "no blur"
MIN_NO_BLUR_RATIO = 1.5

#: added to each tile's periodogram before the log of :func:`welch_spectrum`'s geometric
#: average (below any power a stored radiograph has: a constant tile's zero power stays finite)
_TINY_POWER = 1e-30
_SIGMAS = np.arange(0.5, 4.0001, 0.125)
_RADII = np.arange(1.0, 4.0001, 0.25)
_LENGTHS = np.arange(3.0, 21.0001, 1.0)
_ANGLE_STEP = 6.0


@dataclass(frozen=True)
class PsfEstimate:
    """Result of :func:`estimate_psf`.

    ``family``: "none", "gaussian", "disk" or "motion"; ``params``: its parameters in
    pixels and degrees (sigma / radius / length, angle); ``kernel``: the PSF, float64
    (K, K), sum 1; ``score``: mean squared log-spectrum residual of the winner (lower
    is a better fit); ``runner_up``: the best score of the other families."""

    family: str
    params: dict
    kernel: np.ndarray = field(repr=False)
    score: float
    runner_up: dict = field(default_factory=dict)

    @property
    def no_blur_ratio(self) -> float:
        """How many times worse "no blur" fits than the winner: its score over the
        winner's (1.0 when the winner is "no blur" itself)."""
        if self.family == "none":
            return 1.0
        return float(self.runner_up.get("none", np.inf) / max(self.score, 1e-12))

    @property
    def trusted(self) -> bool:
        """Whether to act on this estimate: a blur was found (not "no blur"), its fit
        score is below :data:`MAX_TRUSTED_SCORE` and "no blur" fits at least
        :data:`MIN_NO_BLUR_RATIO` times worse (rule chosen on validation, module
        docstring)."""
        return self.family != "none" and self.score < MAX_TRUSTED_SCORE and self.no_blur_ratio >= MIN_NO_BLUR_RATIO

    def summary(self) -> dict:
        """JSON-ready facts: family, params, label, score, no_blur_ratio, trusted."""
        return {
            "family": self.family,
            "params": {k: round(float(v), 4) for k, v in self.params.items()},
            "label": self.label(),
            "score": round(float(self.score), 5),
            "no_blur_ratio": round(float(min(self.no_blur_ratio, 1e6)), 3),
            "trusted": self.trusted,
        }

    def label(self) -> str:
        """Short description, e.g. ``"motion length 9 px, angle 30 deg"``."""
        if self.family == "none":
            return "no blur"
        if self.family == "motion":
            return f"motion length {self.params['length']:g} px, angle {self.params['angle']:g} deg"
        name, value = next(iter(self.params.items()))
        return f"{self.family} {name} {value:g} px"


def _kernel(family: str, params: dict) -> np.ndarray:
    from ..degrade import make_kernel

    return np.ones((1, 1)) if family == "none" else make_kernel(family, **params)


def _candidates(angle_step: float = _ANGLE_STEP) -> list[tuple[str, dict]]:
    out: list[tuple[str, dict]] = [("none", {})]
    out += [("gaussian", {"sigma": float(s)}) for s in _SIGMAS]
    out += [("disk", {"radius": float(r)}) for r in _RADII]
    out += [("motion", {"length": float(n), "angle": float(a)}) for n in _LENGTHS for a in np.arange(0.0, 180.0, angle_step)]
    return out


@lru_cache(maxsize=4)
def _band(tile: int = TILE) -> tuple[np.ndarray, np.ndarray]:
    fy = np.fft.fftfreq(tile)[:, None]
    fx = np.fft.fftfreq(tile)[None, :]
    radius = np.hypot(fy, fx)
    band = radius >= 2.0 / TILE  # the same lowest frequency (1/32 cycle per px) for every tile side
    return band, np.log(radius[band])


def otf_power(kernel: np.ndarray, tile: int = TILE) -> np.ndarray:
    """``|K(f)|^2`` of ``kernel`` on the tile x tile frequency grid, smoothed by the
    Hann window's leakage; shape (tile, tile)."""
    size = kernel.shape[0]
    if size > tile:
        raise ValueError(f"kernel of {size} px does not fit a {tile} px tile")
    grid = np.zeros((tile, tile))
    grid[:size, : kernel.shape[1]] = kernel
    grid = np.roll(grid, (-(size // 2), -(kernel.shape[1] // 2)), (0, 1))
    power = np.abs(np.fft.fft2(grid)) ** 2
    for axis in (0, 1):
        power = (np.roll(power, 1, axis) + 4 * power + np.roll(power, -1, axis)) / 6
    return power


@lru_cache(maxsize=4)
def candidate_bank(angle_step: float = _ANGLE_STEP) -> tuple[tuple[tuple[str, dict], ...], np.ndarray]:
    """The candidate PSFs as ((family, params), ...) and their in-band OTF powers
    (C, F) (F frequencies of the band)."""
    band, _ = _band()
    cands = _candidates(angle_step)
    powers = np.stack([otf_power(_kernel(f, p))[band] for f, p in cands])
    return tuple(cands), powers


def welch_spectrum(image: np.ndarray, tile: int = TILE, max_tiles: int = MAX_TILES, average: str = "mean") -> np.ndarray:
    """Hann-windowed periodogram (tile, tile) of overlapping tiles of ``image`` (H, W) in
    [0, 1] (stride tile / 2, widened so at most ``max_tiles`` tiles are used), each
    tile's mean removed, averaged over the tiles. Needs H, W >= tile.

    ``average``: "mean" (Welch's estimate; what the learned estimator reads) or
    "geometric": the mean of the log periodograms, times ``exp(Euler's gamma)`` (a
    periodogram ordinate is exponentially distributed about the spectrum, and the mean
    of its log falls short of the log of the spectrum by exactly gamma). Each tile then
    counts once, in proportion: the few tiles of a whole radiograph that hold most of
    its energy (lead markers, collimator and bone edges, with anisotropic spectra of
    their own) no longer outweigh the rest, which is what a fit of one blur to the
    whole image needs (``benchmarks/trials/robust_motion_spectrum.py``)."""
    if average not in ("mean", "geometric"):
        raise ValueError(f"average must be 'mean' or 'geometric', not {average!r}")
    image = as_image(image)
    h, w = image.shape
    if min(h, w) < tile:
        raise ValueError(f"image of {h} x {w} px is smaller than one {tile} px tile")
    stride = tile // 2
    ys = np.arange(0, h - tile + 1, stride)
    xs = np.arange(0, w - tile + 1, stride)
    step = max(1, int(np.ceil(np.sqrt(len(ys) * len(xs) / max_tiles))))
    ys, xs = ys[::step], xs[::step]
    hann = np.hanning(tile + 1)[:-1]
    window = np.outer(hann, hann)
    total = np.zeros((tile, tile))
    for y in ys:
        rows = image[y : y + tile]
        tiles = np.stack([rows[:, x : x + tile] for x in xs])
        tiles = (tiles - tiles.mean(axis=(1, 2), keepdims=True)) * window
        power = np.abs(np.fft.fft2(tiles)) ** 2
        total += (power if average == "mean" else np.log(power + _TINY_POWER)).sum(axis=0)
    total /= len(ys) * len(xs)
    return total if average == "mean" else np.exp(total + np.euler_gamma)


def _window_energy(tile: int = TILE) -> float:
    hann = np.hanning(tile + 1)[:-1]
    return float((np.outer(hann, hann) ** 2).sum())


def fit_scores(log_power: np.ndarray, otf_powers: np.ndarray, floor: float, iterations: int = FIT_ITERATIONS, tile: int = TILE) -> np.ndarray:
    """Mean squared residual (C,) of the fit of ``log_power`` (F,) by each candidate's
    model ``log(exp(a + b log|f|) * otf + exp(n) + floor)`` (module docstring)."""
    _, log_f = _band(tile)
    count, n_freq = otf_powers.shape
    log_otf = np.log(np.maximum(otf_powers, 1e-300))
    design = np.stack([np.ones(n_freq), log_f], 1)
    # start: a, b by least squares where the candidate passes most of the signal
    weight = (otf_powers > 0.05).astype(float)
    gram = np.einsum("cf,fi,fj->cij", weight, design, design, optimize=True) + 1e-6 * np.eye(2)
    rhs = (weight * (log_power[None] - log_otf)) @ design
    theta = np.linalg.solve(gram, rhs[..., None])[..., 0]
    log_noise = np.full(count, np.log(floor) - 2.0)

    def parts():
        signal = np.exp(np.clip(theta[:, :1] + theta[:, 1:] * log_f[None] + log_otf, -700, 700))
        noise = np.exp(log_noise)[:, None]
        return signal, noise, signal + noise + floor

    for _ in range(iterations):
        signal, noise, model = parts()
        residual = log_power[None] - np.log(model)
        ws, wn = signal / model, noise / model
        wsf = ws * log_f[None]
        # normal equations of the Gauss-Newton step for (a, b, n), one 3 x 3 per candidate
        jtj = np.empty((count, 3, 3))
        jtj[:, 0, 0] = (ws * ws).sum(1)
        jtj[:, 0, 1] = jtj[:, 1, 0] = (ws * wsf).sum(1)
        jtj[:, 1, 1] = (wsf * wsf).sum(1)
        jtj[:, 0, 2] = jtj[:, 2, 0] = (ws * wn).sum(1)
        jtj[:, 1, 2] = jtj[:, 2, 1] = (wsf * wn).sum(1)
        jtj[:, 2, 2] = (wn * wn).sum(1)
        jtj += 1e-6 * np.eye(3)
        jtr = np.stack([(ws * residual).sum(1), (wsf * residual).sum(1), (wn * residual).sum(1)], 1)
        delta = np.clip(np.linalg.solve(jtj, jtr[..., None])[..., 0], -3.0, 3.0)
        theta += delta[:, :2]
        log_noise += delta[:, 2]
    _, _, model = parts()
    return np.mean((log_power[None] - np.log(model)) ** 2, axis=1)


def _local_grid(family: str, params: dict) -> list[tuple[str, dict]]:
    """Finer candidates around a coarse winner of ``family`` (stage 2)."""
    if family == "gaussian":
        return [("gaussian", {"sigma": float(v)}) for v in np.arange(params["sigma"] - 0.25, params["sigma"] + 0.26, 1 / 32) if v >= 0.3]
    if family == "disk":
        return [("disk", {"radius": float(v)}) for v in np.arange(params["radius"] - 0.25, params["radius"] + 0.26, 1 / 16) if v >= 0.5]
    if family == "motion":
        return [
            ("motion", {"length": float(n), "angle": float(a % 180.0)})
            for n in np.arange(params["length"] - 0.75, params["length"] + 0.76, 0.25)
            if n >= 2.0
            for a in np.arange(params["angle"] - 4.0, params["angle"] + 4.1, 0.5)
        ]
    return [("none", {})]


def _scores(image: np.ndarray, cands, tile: int, powers: np.ndarray | None = None) -> np.ndarray:
    band, _ = _band(tile)
    floor = QUANTISATION_FLOOR * _window_energy(tile)
    log_power = np.log(welch_spectrum(image, tile)[band] + floor)
    if powers is None:
        powers = np.stack([otf_power(_kernel(f, p), tile)[band] for f, p in cands])
    return fit_scores(log_power, powers, floor, tile=tile)


def _best_per_family(cands, scores) -> dict[str, tuple[dict, float]]:
    """family -> (params, score) of its lowest-scoring candidate."""
    best: dict[str, tuple[dict, float]] = {}
    for (family, params), score in zip(cands, scores):
        if family not in best or score < best[family][1]:
            best[family] = (params, float(score))
    return best


def estimate_psf(image: np.ndarray) -> PsfEstimate:
    """The parametric PSF that best explains the power spectrum of ``image`` (H, W),
    values in [0, 1], both sides at least 64 px (module docstring).

    Stage 1 scores the coarse :func:`candidate_bank` on 64 px tiles; stage 2 re-scores
    a finer grid around each family's stage-1 best (and "no blur") on 128 px tiles
    (finer frequency resolution: angle and length to 0.5 degree and 0.25 px) when both
    sides of the image are at least 128 px, and the overall best wins."""
    image = as_image(image)
    cands, powers = candidate_bank()
    coarse = _best_per_family(cands, _scores(image, cands, TILE, powers))
    tile = REFINE_TILE if min(image.shape) >= REFINE_TILE else TILE
    fine = [c for family, (params, _) in coarse.items() for c in _local_grid(family, params)]
    final = _best_per_family(fine, _scores(image, fine, tile))
    family = min(final, key=lambda f: final[f][1])
    params, score = final[family]
    runner_up = {f: s for f, (_, s) in final.items() if f != family}
    return PsfEstimate(family, dict(params), _kernel(family, params), score, runner_up)


def rounding_floor(image: np.ndarray, samples: int = 65536) -> float:
    """Variance of the image's own rounding noise, ``(1 / (2**b - 1))**2 / 12``, for
    the coarsest grid of :data:`ROUNDING_BITS` that ``image`` (values in [0, 1]) lies on
    (checked on up to ``samples`` evenly spaced pixels); an image on none of them
    (float data) gets the 16-bit value. A fixed 8-bit floor hid the high frequencies
    where the zeros of a small disk lie on 12-16-bit files, and the refined radius came
    out short (docs/results.md, section 11).

    >>> import numpy as np
    >>> x = np.arange(4096, dtype=np.float32).reshape(64, 64) / 4095
    >>> round(1 / np.sqrt(12 * rounding_floor(x)))
    4095
    """
    x = np.asarray(image, dtype=np.float64).ravel()
    x = x[:: max(1, x.size // samples)]
    for bits in ROUNDING_BITS:
        levels = x * float((1 << bits) - 1)
        # float32 holds k / (2^16 - 1) to ~4e-3 of a level
        if np.all(np.abs(levels - np.rint(levels)) < 0.01):
            break
    return rounding_sigma(bits) ** 2


#: refinement grids of :func:`refine_psf`: (half-width in units of the parameter, step)
#: per pass, coarse to fine; a pass may grid some of the parameters only. The last steps
#: lie well below what the data step is sensitive to: on noise-free float input a disk
#: radius 0.03 px off cost 7.5 dB and a 5 px motion length 0.06 px off 3.1 dB against the
#: true PSF (mean of 6 validation crops), so disk radius ends at 1/128 px, motion length
#: at 1/64 px and angle at 1/4 degree (``benchmarks/trials/psf_refinement_step.py``,
#: benchmarks/results/trials/psf_refinement_step.json). Motion's fine grid is joint in
#: length and angle, then length alone: as good on validation as one joint grid of
#: 1/32 px x 1/8 degree (within 0.12 dB), in about half the time (0.15-0.27 s against
#: 0.31-0.50 s per motion crop, median per row). Motion's first pass searches every
#: length the estimator was trained on (half-width None), at 1 px: the network's length is
#: its least reliable output (0.44-1.73 times the true one on validation, its angle within
#: a few degrees), and a first pass of +-30 % around it refined a 15 px motion estimated
#: at 7-9 px to a wrong 10-12 px. Validation (``benchmarks/trials/motion_length_search.py``,
#: benchmarks/results/trials/motion_length_search*.json): the learned step's mean gain
#: over blind on motion cases 4.05 -> 4.26 dB (patient split; worst case -4.41 -> -0.05)
#: and 3.96 -> 4.00 dB (mhh-held-out estimator), +0.07 s per motion refinement.
REFINE_PASSES = {
    "gaussian": [{"sigma": (0.6, 1 / 32)}, {"sigma": (1 / 32, 1 / 128)}],
    "disk": [{"radius": (0.75, 1 / 16)}, {"radius": (1 / 16, 1 / 128)}],
    "motion": [
        {"length": (None, 1.0), "angle": (6.0, 2.0)},
        {"length": (0.75, 0.25), "angle": (1.5, 0.5)},
        {"length": (0.25, 1 / 16), "angle": (0.5, 1 / 4)},
        {"length": (1 / 16, 1 / 64)},
    ],
}
#: smallest widths a refinement may reach (px)
_REFINE_MIN = {"sigma": 0.3, "radius": 0.5, "length": 2.0}
#: the tile average (:func:`welch_spectrum`'s ``average``) :func:`refine_psf` fits, per
#: family. A motion's angle is read off the spectrum's anisotropy, which on a whole noisy
#: radiograph the few tiles holding lead markers and collimator or bone edges dominate
#: in the mean: the geometric mean halved the median angle error there (validation, 12
#: bits, 2 x 10^4 photons: 0.78 to 0.35 deg; 2000 photons: 1.43 to 0.98 deg; 90th
#: percentile 2.45 to 1.39 and 4.79 to 2.48 deg) and left 256 px crops and noise-free
#: input about as they were (median within 0.08 deg). A disk's radius is read off the
#: position of its rings, and under noise the geometric mean moved it (median error 0.05
#: to 0.21 px at 2 x 10^4 photons): the mean stays. ``benchmarks/trials/robust_motion_spectrum.py``,
#: ``benchmarks/results/trials/robust_motion_spectrum*.json``.
REFINE_AVERAGE = {"gaussian": "mean", "disk": "mean", "motion": "geometric"}


def refine_psf(image: np.ndarray, family: str, params: dict, tile: int = TILE, power: np.ndarray | None = None, passes: dict | None = None) -> dict:
    """Parameters of ``family`` ("gaussian", "disk" or "motion"; others are returned
    unchanged) near ``params`` that best explain the power spectrum of ``image`` (H, W)
    in [0, 1], by the fit of :func:`fit_scores` on ``tile`` px Welch tiles: one grid
    around ``params`` per pass of :data:`REFINE_PASSES` (a motion length's half-width
    grows to 30 % of the length; a half-width of None spans the whole range the
    estimator was trained on, :data:`xraydeblur.models.psf_labels.TRAINED_RANGES`), each
    pass centred on the previous winner. Used to
    sharpen the learned estimator's parameters (:mod:`xraydeblur.infer.learned_psf`):
    Gaussian sigma to 1/128 px, disk radius to 1/128 px, motion length to 1/64 px and
    angle to 1/4 degree. The power floor is the image's own rounding noise
    (:func:`rounding_floor`). ``power``: the image's :func:`welch_spectrum` on ``tile``
    px tiles with the family's average (:data:`REFINE_AVERAGE`), if already computed;
    ``passes``: grids in place of :data:`REFINE_PASSES`."""
    passes = REFINE_PASSES if passes is None else passes
    if family not in passes:
        return dict(params)
    band, _ = _band(tile)
    floor = rounding_floor(image) * _window_energy(tile)
    if power is None:
        power = welch_spectrum(as_image(image), tile, average=REFINE_AVERAGE.get(family, "mean"))
    log_power = np.log(power[band] + floor)
    best = {k: float(v) for k, v in params.items()}
    for grids in passes[family]:
        axes = []
        for name, (half, step) in grids.items():
            if half is None:  # every value the estimator was trained on
                from ..models.psf_labels import TRAINED_RANGES

                low, high = TRAINED_RANGES[name]
                values = np.arange(low, high + step / 2, step)
            else:
                if name == "length":
                    half = max(half, 0.3 * best["length"]) if step >= 1.0 else half
                values = np.arange(best[name] - half, best[name] + half + step / 2, step)
            if name in _REFINE_MIN:
                values = values[values >= _REFINE_MIN[name]]
            axes.append((name, values if len(values) else np.array([best[name]])))
        mesh = np.meshgrid(*[v for _, v in axes], indexing="ij")
        cands = [{name: float(m.flat[i]) % 180.0 if name == "angle" else float(m.flat[i]) for (name, _), m in zip(axes, mesh)} for i in range(mesh[0].size)]
        powers = np.stack([otf_power(_kernel(family, {**best, **c}), tile)[band] for c in cands])
        best = {**best, **cands[int(np.argmin(fit_scores(log_power, powers, floor, tile=tile)))]}  # a pass may grid some parameters only
    return best

"""Training samples for the learned PSF estimator: (spectrum features, family, targets).

Sharp crops come from the radiographs of one split (:class:`CropPool`, held in memory
as uint16); each sample takes a random window of a random crop (128-384 px a side,
turned and flipped), blurs it with a PSF drawn from :data:`PSF_DISTRIBUTION` (or none),
then adds what a real image carries: Poisson-Gaussian noise (probability 0.7, dose
log-uniform 300-30000 photons at full scale), storage on an 8-, 10-, 12- or 16-bit grid
or none, and JPEG artefacts on some 8-bit ones. The label is the PSF's family and
parameters (:func:`xraydeblur.models.psf_labels.encode_target`).

>>> sampler = PsfSampler(seed=0)                                  # doctest: +SKIP
>>> features, family, targets, facts = sampler.sample(pool, rng)  # doctest: +SKIP
"""

from __future__ import annotations

import math

import numpy as np

from ..degrade import blur, jpeg_artifacts, make_kernel, poisson_gaussian_noise, quantize
from ..infer.learned_psf import spectrum_features
from ..models.psf_labels import TRAINED_RANGES, encode_target

#: family -> probability of being drawn
FAMILY_WEIGHTS = {"none": 0.14, "gaussian": 0.24, "anisotropic": 0.1, "disk": 0.12, "motion": 0.2, "trajectory": 0.08, "exponential": 0.12}
#: parameter ranges (px), drawn uniformly (the estimator's trusted ranges, TRAINED_RANGES, are these)
RANGES = {**{k: v for k, v in TRAINED_RANGES.items() if k != "sigma_y"}, "trajectory": (3.0, 15.0)}
#: probability of Poisson-Gaussian noise; its dose range (photons at full scale, log-uniform) and read noise
NOISE_PROBABILITY = 0.7
DOSE_RANGE = (300.0, 30000.0)
READ_NOISE_RANGE = (0.0, 0.004)
#: storage grid (bits; 0 = float) and its probability
BITS = {0: 0.2, 8: 0.35, 10: 0.15, 12: 0.15, 16: 0.15}
#: probability of JPEG artefacts on an 8-bit sample, and the quality range
JPEG_PROBABILITY = 0.3
JPEG_QUALITY = (85, 98)
#: window sides (px) a sample's spectrum is read from
WINDOW_SIDES = (128, 192, 256, 320, 384)
#: blur context around a window (px): half the widest kernel drawn
MARGIN = 32
#: side of the crops held in the pool (px)
CROP = max(WINDOW_SIDES) + 2 * MARGIN


def draw_psf(rng: np.random.Generator) -> tuple[str, dict]:
    """A random (family, params) from :data:`FAMILY_WEIGHTS` and :data:`RANGES`."""
    names = list(FAMILY_WEIGHTS)
    weights = np.array([FAMILY_WEIGHTS[n] for n in names])
    kind = names[rng.choice(len(names), p=weights / weights.sum())]
    u = lambda key: float(rng.uniform(*RANGES[key]))  # noqa: E731
    if kind == "gaussian":
        return kind, {"sigma": u("sigma")}
    if kind == "anisotropic":
        return kind, {"sigma": u("sigma"), "sigma_y": u("sigma"), "angle": float(rng.uniform(0, 180))}
    if kind == "disk":
        return kind, {"radius": u("radius")}
    if kind == "motion":
        return kind, {"length": u("length"), "angle": float(rng.uniform(0, 180))}
    if kind == "trajectory":
        return kind, {"length": u("trajectory"), "seed": int(rng.integers(2**31))}
    if kind == "exponential":
        return kind, {"scale": u("scale")}
    return "none", {}


def store(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Noise, bit-depth grid and JPEG as drawn for one sample; returns the image
    (float32 in [0, 1]) and ``{"dose", "bits", "jpeg"}`` (None where not applied)."""
    facts: dict = {"dose": None, "bits": None, "jpeg": None}
    out = image
    if rng.random() < NOISE_PROBABILITY:
        dose = math.exp(rng.uniform(*np.log(DOSE_RANGE)))
        out = poisson_gaussian_noise(out, dose, float(rng.uniform(*READ_NOISE_RANGE)), seed=rng)
        facts["dose"] = round(dose, 1)
    bits = list(BITS)[rng.choice(len(BITS), p=np.array(list(BITS.values())))]
    if bits:
        out = quantize(out, bits)
        facts["bits"] = bits
        if bits == 8 and rng.random() < JPEG_PROBABILITY:
            quality = int(rng.integers(*JPEG_QUALITY))
            out = jpeg_artifacts(out, quality)
            facts["jpeg"] = quality
    return np.asarray(out, np.float32), facts


class CropPool:
    """``per_image`` random :data:`CROP` px crops of each radiograph in ``rows``
    (uint16 in memory; flat crops, standard deviation under 0.01, are re-drawn)."""

    def __init__(self, rows, per_image: int = 2, seed: int = 0):
        from ..data.manifest import load_image

        rng = np.random.default_rng(seed)
        crops = []
        for row in rows:
            image = load_image(row)
            if min(image.shape) < CROP:
                image = np.pad(image, [(0, max(0, CROP - s)) for s in image.shape], mode="reflect")
            for _ in range(per_image):
                for _attempt in range(8):
                    y = int(rng.integers(image.shape[0] - CROP + 1))
                    x = int(rng.integers(image.shape[1] - CROP + 1))
                    crop = image[y : y + CROP, x : x + CROP]
                    if crop.std() >= 0.01:
                        break
                crops.append(np.rint(crop * 65535).astype(np.uint16))
        self.crops = crops

    def __len__(self) -> int:
        return len(self.crops)

    def window(self, rng: np.random.Generator) -> np.ndarray:
        """A random window (side from :data:`WINDOW_SIDES` plus the blur margin),
        turned by a multiple of 90 degrees and maybe flipped, float32 in [0, 1]."""
        crop = self.crops[int(rng.integers(len(self.crops)))]
        side = int(rng.choice(WINDOW_SIDES)) + 2 * MARGIN
        y = int(rng.integers(CROP - side + 1))
        x = int(rng.integers(CROP - side + 1))
        window = np.rot90(crop[y : y + side, x : x + side], int(rng.integers(4)))
        if rng.random() < 0.5:
            window = window[:, ::-1]
        return np.ascontiguousarray(window, dtype=np.float32) / 65535.0


def sample(pool: CropPool, rng: np.random.Generator) -> tuple[np.ndarray, int, list[float], dict]:
    """One training sample: (features (3, 64, 64), family index, targets, facts)."""
    window = pool.window(rng)
    kind, params = draw_psf(rng)
    if kind != "none":
        window = blur(window, make_kernel(kind, **params))
    image, facts = store(window[MARGIN:-MARGIN, MARGIN:-MARGIN], rng)
    family, targets = encode_target(kind, params)
    facts.update(kind=kind, params=params, side=image.shape[0])
    return spectrum_features(image), family, targets, facts


def batch(pool: CropPool, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict]]:
    """``size`` samples stacked: features (N, 3, 64, 64), families (N,), targets (N, P), facts."""
    rows = [sample(pool, rng) for _ in range(size)]
    return (
        np.stack([r[0] for r in rows]),
        np.array([r[1] for r in rows], np.int64),
        np.array([r[2] for r in rows], np.float32),
        [r[3] for r in rows],
    )

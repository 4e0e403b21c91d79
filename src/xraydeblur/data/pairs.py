"""On-the-fly (degraded, sharp) training pairs.

Two presets:

* :data:`PAPER_PRESET` - the paper's protocol: whole radiograph resized to 224x224,
  Gaussian blur with sigma uniform in 0.5-3 px, no noise;
* :data:`REALISTIC_PRESET` - native-resolution random crops with Gaussian (isotropic
  and anisotropic), motion (line and trajectory), disk and exponential blur,
  Poisson-Gaussian noise, 8-bit quantisation and mild JPEG artefacts.

Kernels are returned zero-padded to ``KERNEL_SIZE`` x ``KERNEL_SIZE`` so batches stack.
"""

import copy
import math
from dataclasses import dataclass

import numpy as np

from ..degrade import Degradation, blur, jpeg_artifacts, poisson_gaussian_noise, quantize
from .manifest import ManifestRow, load_image

KERNEL_SIZE = 41

PAPER_PRESET = {
    "families": {"gaussian": 1.0},
    "gaussian_sigma": [0.5, 3.0],
    "noise_probability": 0.0,
    "quantize_probability": 0.0,
    "jpeg_probability": 0.0,
}

REALISTIC_PRESET = {
    "families": {"gaussian": 0.35, "anisotropic": 0.15, "motion": 0.15, "trajectory": 0.1, "disk": 0.15, "exponential": 0.1},
    "gaussian_sigma": [0.5, 4.0],
    "motion_length": [3.0, 15.0],
    "disk_radius": [1.0, 3.0],
    "exponential_scale": [0.5, 2.0],
    "noise_probability": 0.7,
    "dose": [300.0, 20000.0],  # photons per pixel at full scale, drawn log-uniformly
    "read_noise": [0.0, 0.004],
    "quantize_probability": 0.8,
    "jpeg_probability": 0.2,
    "jpeg_quality": [85, 98],
}


def preset(name: str) -> dict:
    """A copy of a named degradation distribution ("paper" or "realistic")."""
    table = {"paper": PAPER_PRESET, "realistic": REALISTIC_PRESET}
    if name not in table:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(table)}")
    return copy.deepcopy(table[name])


def pad_kernel(kernel: np.ndarray, size: int = KERNEL_SIZE) -> np.ndarray:
    """Centre ``kernel`` in a size x size array (cropping and renormalising if larger)."""
    k = kernel.shape[0]
    if k > size:
        off = (k - size) // 2
        kernel = kernel[off : off + size, off : off + size]
        kernel = kernel / kernel.sum()
        k = size
    out = np.zeros((size, size), np.float32)
    off = (size - k) // 2
    out[off : off + k, off : off + k] = kernel
    return out


@dataclass
class DegradationSampler:
    """Draws random degradations from a distribution dict (see the presets)."""

    config: dict

    def sample_blur(self, rng: np.random.Generator) -> Degradation:
        cfg = self.config
        names = list(cfg["families"])
        weights = np.array([cfg["families"][n] for n in names], dtype=float)
        kind = names[rng.choice(len(names), p=weights / weights.sum())]
        u = lambda key: float(rng.uniform(*cfg[key]))  # noqa: E731
        if kind == "gaussian":
            return Degradation("gaussian", {"sigma": u("gaussian_sigma")})
        if kind == "anisotropic":
            return Degradation("anisotropic", {"sigma": u("gaussian_sigma"), "sigma_y": u("gaussian_sigma"), "angle": float(rng.uniform(0, 180))})
        if kind == "motion":
            return Degradation("motion", {"length": u("motion_length"), "angle": float(rng.uniform(0, 180))})
        if kind == "trajectory":
            return Degradation("trajectory", {"length": u("motion_length"), "seed": int(rng.integers(2**31))})
        if kind == "disk":
            return Degradation("disk", {"radius": u("disk_radius")})
        if kind == "exponential":
            return Degradation("exponential", {"scale": u("exponential_scale")})
        raise ValueError(f"unknown family {kind!r}")

    def degrade(self, sharp: np.ndarray, rng: np.random.Generator, margin: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Blur + noise + storage artefacts on ``sharp`` (H, W); ``margin`` pixels are
        cut from every side afterwards (blur the context, keep the centre).
        Returns (degraded float32, kernel float64)."""
        cfg = self.config
        kernel = self.sample_blur(rng).kernel()
        out = blur(sharp, kernel)
        if margin:
            out = out[margin:-margin, margin:-margin]
        if rng.random() < cfg.get("noise_probability", 0):
            dose = math.exp(rng.uniform(*np.log(cfg["dose"])))
            out = poisson_gaussian_noise(out, dose, float(rng.uniform(*cfg["read_noise"])), seed=rng)
        if rng.random() < cfg.get("quantize_probability", 0):
            out = quantize(out, 8)
        if rng.random() < cfg.get("jpeg_probability", 0):
            out = jpeg_artifacts(out, int(rng.integers(*cfg["jpeg_quality"])))
        return out.astype(np.float32), kernel


def resize_to(image: np.ndarray, size: int = 224) -> np.ndarray:
    """Anti-aliased resize of (H, W) to (size, size) as in the paper's protocol."""
    from skimage.transform import resize

    return resize(image, (size, size), order=3, anti_aliasing=True, preserve_range=True).clip(0, 1).astype(np.float32)


class PatchPairs:
    """Random native-resolution crops with random degradations (a map-style dataset).

    ``pair(index)`` returns ``(degraded, sharp, kernel)``: float32 (P, P), (P, P) and
    (KERNEL_SIZE, KERNEL_SIZE). Index ``i`` with the same ``seed`` and ``epoch`` always
    gives the same pair. Images are kept in memory as uint8/uint16 after first use.
    """

    def __init__(self, rows: list[ManifestRow], patch: int, config: dict, length: int, seed: int = 0):
        self.rows, self.patch, self.length, self.seed, self.epoch = rows, patch, length, seed, 0
        self.sampler = DegradationSampler(config)
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.length

    def stored(self, i: int) -> np.ndarray:
        """Image ``i`` as uint8 (H, W) (value / 255 is the [0, 1] image), cached."""
        if i not in self._cache:
            self._cache[i] = np.rint(load_image(self.rows[i]) * 255).astype(np.uint8)
        return self._cache[i]

    def image(self, i: int) -> np.ndarray:
        """Image ``i`` as float32 (H, W) in [0, 1]."""
        return self.stored(i).astype(np.float32) / 255.0

    def pair(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        img = self.stored(int(rng.integers(len(self.rows))))
        margin = KERNEL_SIZE // 2
        need = self.patch + 2 * margin
        if min(img.shape) < need:
            img = np.pad(img, [(0, max(0, need - s)) for s in img.shape], mode="reflect")
        y = int(rng.integers(img.shape[0] - need + 1))
        x = int(rng.integers(img.shape[1] - need + 1))
        # crop, then convert (not the whole radiograph for every patch)
        context = img[y : y + need, x : x + need].astype(np.float32) / 255.0
        if rng.random() < 0.5:
            context = context[:, ::-1]
        degraded, kernel = self.sampler.degrade(np.ascontiguousarray(context), rng, margin)
        sharp = context[margin:-margin, margin:-margin]
        return degraded, np.ascontiguousarray(sharp, dtype=np.float32), pad_kernel(kernel)


#: resized images shared by every PaperPairs in the process (file, size) -> (size, size)
_RESIZED: dict[tuple[str, int], np.ndarray] = {}


class PaperPairs:
    """The paper's protocol: whole image resized to 224x224, Gaussian blur.

    Training (``fixed=False``): sigma uniform in ``sigma_range`` per draw. Evaluation
    (``fixed=True``): sigma drawn once per image from the seed, so every method sees
    the same blurred images. ``pair(i)`` returns (blurred, sharp, kernel), float32
    (S, S) in [0, 1] with S = ``size`` px; with ``crop`` (training of fully
    convolutional networks) a random ``crop`` x ``crop`` px window of the blurred 224 px
    image and the same window of the sharp one (more, smaller samples per CPU second).
    """

    def __init__(self, rows: list[ManifestRow], size: int = 224, sigma_range=(0.5, 3.0), seed: int = 0, fixed: bool = False, crop: int | None = None):
        self.rows, self.size, self.sigma_range, self.seed, self.fixed, self.epoch = rows, size, tuple(sigma_range), seed, fixed, 0
        self.crop = crop

    def __len__(self) -> int:
        return len(self.rows)

    def sharp(self, i: int) -> np.ndarray:
        key = (self.rows[i].file, self.size)
        if key not in _RESIZED:
            _RESIZED[key] = resize_to(load_image(self.rows[i]), self.size)
        return _RESIZED[key]

    def sigma(self, i: int) -> float:
        rng = np.random.default_rng([self.seed, 0 if self.fixed else self.epoch + 1, i])
        return float(rng.uniform(*self.sigma_range))

    def pair(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        draw, i = i, i % len(self.rows)  # an epoch may hold more samples than images
        sharp = self.sharp(i)
        deg = Degradation("gaussian", {"sigma": self.sigma(draw)})
        blurred, kernel = deg.apply(sharp)
        if self.crop and self.crop < self.size:
            rng = np.random.default_rng([self.seed, self.epoch + 1, draw, 1])
            y, x = rng.integers(0, self.size - self.crop + 1, 2)
            window = (slice(y, y + self.crop), slice(x, x + self.crop))
            blurred, sharp = np.ascontiguousarray(blurred[window]), np.ascontiguousarray(sharp[window])
        return blurred, sharp, pad_kernel(kernel)

"""Noise and storage artefacts, applied after blur."""

import io as _io

import numpy as np


def poisson_gaussian_noise(image: np.ndarray, dose: float, read_noise: float = 0.0, seed: int | np.random.Generator | None = None) -> np.ndarray:
    """Quantum (Poisson) plus electronic read (Gaussian) noise.

    ``dose`` is the number of photons per pixel at full scale (value 1.0): a pixel of
    value x becomes Poisson(dose * x) / dose + N(0, read_noise**2), so its mean is x and
    its variance x / dose + read_noise**2. ``read_noise`` is a standard deviation in
    [0, 1] units. Treating the displayed value as proportional to detected quanta is a
    simplification of the (log-transformed, processed) radiograph chain. Output is
    float32, clipped to [0, 1].
    """
    if dose <= 0:
        raise ValueError("dose must be positive")
    rng = np.random.default_rng(seed)
    x = np.clip(np.asarray(image, dtype=np.float64), 0, 1)
    noisy = rng.poisson(x * dose) / dose
    if read_noise > 0:
        noisy = noisy + rng.normal(0, read_noise, x.shape)
    return np.clip(noisy, 0, 1).astype(np.float32)


def quantize(image: np.ndarray, bits: int = 8) -> np.ndarray:
    """Round to ``bits``-bit levels (as when the result is stored as an 8-bit PNG)."""
    scale = (1 << bits) - 1
    return (np.rint(np.clip(image, 0, 1) * scale) / scale).astype(np.float32)


def jpeg_artifacts(image: np.ndarray, quality: int = 90) -> np.ndarray:
    """Round-trip through 8-bit JPEG at ``quality`` (mild block artefacts)."""
    from PIL import Image

    buf = _io.BytesIO()
    Image.fromarray(np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)).save(buf, "JPEG", quality=int(quality))
    buf.seek(0)
    return (np.asarray(Image.open(buf), dtype=np.float32) / 255.0).astype(np.float32)

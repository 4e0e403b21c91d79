"""Synthetic scenes for tests, doctests and timing runs (no patient data).

>>> power_law_scene(64).shape
(64, 64)
"""

import numpy as np


def power_law_scene(size: int = 256, seed: int = 0) -> np.ndarray:
    """A random scene whose power spectrum falls as ``|f|^-2.5``, as a radiograph's
    roughly does: float32 (size, size) in [0, 1]. Blind PSF identification
    (:mod:`xraydeblur.classical.psf_search`) is exact on it, and its content is
    realistic enough for timing runs."""
    f = np.hypot(np.fft.fftfreq(size)[:, None], np.fft.rfftfreq(size)[None])
    f[0, 0] = 1.0
    rng = np.random.default_rng(seed)
    spectrum = (rng.normal(size=f.shape) + 1j * rng.normal(size=f.shape)) / f**1.25
    texture = np.fft.irfft2(spectrum, s=(size, size))
    return ((texture - texture.min()) / np.ptp(texture)).astype(np.float32)

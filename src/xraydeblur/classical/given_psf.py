"""Does the image show the blur it is said to carry? A check of a given PSF.

Deconvolving a blur that is not there does not fail the data-consistency safeguard:
the restoration, re-blurred with the (wrong) PSF, gives the input back, yet it holds
the input's noise and fine detail amplified into a worm-like texture (an unblurred,
noisy 2128 x 2000 DICOM restored with ``--sigma 2``: 27 dB from the original, sharpness
15x, safeguard passed). The input's own power spectrum says whether the blur is there:
a blur multiplies it by ``|K(f)|^2``, so where the given PSF passes (almost) nothing the
input holds only noise. :func:`given_psf_check` fits the spectrum model of
:mod:`xraydeblur.classical.psf_search` (a power-law radiograph times ``|K|^2`` plus
white noise plus the quantisation floor, noise level fitted) once under the given PSF
and once under no blur, on the central region the blur evidence reads
(:func:`xraydeblur.classical.no_blur.evidence_region`). The PSF is *contradicted* when
it explains the spectrum :data:`MAX_FIT_RATIO` times worse than no blur at all; the
ratio and how often it flags a true PSF or catches an absent one were measured on the
validation split at full size (``benchmarks/given_psf_rule.py``, results in
``benchmarks/results/given_psf_rule.json``).

>>> from xraydeblur.data.synthetic import power_law_scene
>>> from xraydeblur.degrade import gaussian_blur, gaussian_kernel, quantize
>>> scene = quantize(power_law_scene(512), 8)
>>> given_psf_check(scene, gaussian_kernel(3.0))["contradicted"]
True
>>> blurred, k = gaussian_blur(power_law_scene(512), 3.0)
>>> given_psf_check(quantize(blurred, 8), k)["contradicted"]
False
"""

from __future__ import annotations

import numpy as np

from . import psf_search

#: the given PSF is contradicted when its spectral fit is this many times worse than
#: no blur's (module docstring; ``benchmarks/given_psf_rule.py`` measures it)
MAX_FIT_RATIO = 2.0
#: Welch tile sides tried, smallest first: the PSF must fit one with room for the window
TILES = (psf_search.TILE, psf_search.REFINE_TILE)


def given_psf_check(image: np.ndarray, kernel: np.ndarray, region=None) -> dict:
    """How well ``kernel`` (float (K, K), sum 1) explains the power spectrum of ``image``
    (float (H, W) in [0, 1]) against no blur: ``fit_given`` and ``fit_no_blur`` (mean
    squared log residuals, :func:`xraydeblur.classical.psf_search.fit_scores`), their
    ``ratio`` and ``contradicted`` (ratio above :data:`MAX_FIT_RATIO`). ``region``: a
    function of the image returning the part to read (default
    :func:`xraydeblur.classical.no_blur.evidence_region`). A PSF wider than half of the
    largest tile that fits the region, or a region under 64 px, is not checked:
    ``contradicted`` is None then, with the ``reason``."""
    from .no_blur import evidence_region

    y = np.asarray((region or evidence_region)(np.asarray(image, np.float32)), np.float32)
    k = np.asarray(kernel, np.float64)
    tile = next((t for t in TILES if 2 * max(k.shape) <= t <= min(y.shape)), None)
    if tile is None:
        return {"contradicted": None, "reason": f"not checked: a {k.shape[0]} x {k.shape[1]} px PSF on a {y.shape[0]} x {y.shape[1]} px region"}
    band, _ = psf_search._band(tile)
    powers = np.stack([np.ones(int(band.sum())), psf_search.otf_power(_centred(k), tile)[band]])
    # the PSF search's own scoring of candidate OTFs (no blur: |K|^2 = 1)
    fit_no_blur, fit_given = (float(s) for s in psf_search._scores(y, (), tile, powers))
    ratio = fit_given / max(fit_no_blur, 1e-12)
    return {"fit_given": round(fit_given, 5), "fit_no_blur": round(fit_no_blur, 5), "ratio": round(ratio, 3),
            "max_ratio": MAX_FIT_RATIO, "contradicted": bool(ratio > MAX_FIT_RATIO), "tile_px": tile}


def _centred(kernel: np.ndarray) -> np.ndarray:
    """``kernel`` padded to odd square sides (the OTF's phase does not matter: only its
    power is used)."""
    h, w = kernel.shape
    side = max(h, w) | 1
    out = np.zeros((side, side))
    out[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = kernel
    return out

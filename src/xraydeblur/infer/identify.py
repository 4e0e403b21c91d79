"""The PSF a blind method identifies from the image itself (``nafnet-psf``, ``nafnet-auto``).

:func:`identified_kernel` runs an estimator on the image with burned-in overlays
filled in (as the method sees it, :mod:`xraydeblur.overlay`) - ``"spectral"``:
:func:`xraydeblur.classical.psf_search.estimate_psf` (parametric fit of the power
spectrum); ``"learned"``: :func:`xraydeblur.infer.learned_psf.estimate_learned_psf`
(the small network) - and returns the PSF only when the estimate passes its rule
(``trusted`` / ``usable``); otherwise None, and the method stays blind. The last few results are cached by image content, so the
report and the safeguard (:mod:`xraydeblur.batch`, the API) re-use the identification
the method made instead of running it twice (about 2 s per image on 2 cores).

>>> import numpy as np                                          # doctest: +SKIP
>>> kernel, facts = identified_kernel(blurred)                  # doctest: +SKIP
>>> facts["label"], facts["trusted"]                            # doctest: +SKIP
('motion length 9 px, angle 30 deg', True)
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

#: images smaller than this (px, either side) are not searched (one 64 px Welch tile)
MIN_SIDE = 64
#: the estimators :func:`identified_kernel` can run
ESTIMATORS = ("spectral", "learned")
#: identifications remembered (by image content)
CACHE_SIZE = 4

_cache: OrderedDict[str, tuple[np.ndarray | None, dict]] = OrderedDict()
_lock = threading.Lock()


def _key(image: np.ndarray, estimator: str) -> str:
    digest = hashlib.blake2b(np.ascontiguousarray(image).view(np.uint8), digest_size=16)
    digest.update(f"{image.shape!r}{estimator}".encode())
    return digest.hexdigest()


def clear_cache() -> None:
    """Forget remembered identifications (timing runs must not re-use them)."""
    with _lock:
        _cache.clear()


def identified_kernel(image: np.ndarray, estimator: str = "spectral", folder: str | None = None) -> tuple[np.ndarray | None, dict]:
    """``(kernel, facts)`` for ``image`` (float32 (H, W) in [0, 1], the degraded input)
    by ``estimator`` (one of :data:`ESTIMATORS`; ``folder``: the learned estimator's
    files, default the shipped ones).

    ``kernel``: the identified PSF (float64 (K, K), sum 1) when it is trusted, else
    None. ``facts``: JSON-ready ``family``, ``params`` (px, degrees), ``label``,
    ``trusted``, the estimator's own measures (spectral: ``score``, ``no_blur_ratio``;
    learned: ``estimator``, ``confidence``, ``min_confidence``) and, when no search
    ran (image under :data:`MIN_SIDE` px), ``reason``."""
    from ..overlay import burned_in_mask, fill_masked

    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown PSF estimator {estimator!r}; choose from {', '.join(ESTIMATORS)}")
    image = np.asarray(image, dtype=np.float32)
    if min(image.shape) < MIN_SIDE:
        return None, {"family": None, "trusted": False, "reason": f"image under {MIN_SIDE} px: no PSF search"}
    key = _key(image, f"{estimator}:{folder}")
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            kernel, facts = _cache[key]
            return kernel, dict(facts)
    mask = burned_in_mask(image)
    seen = fill_masked(image, mask) if mask.any() else image
    if estimator == "learned":
        from .learned_psf import estimate_learned_psf

        found = estimate_learned_psf(seen, *([Path(folder)] if folder else []))
        kernel = found.kernel if found.usable else None
    else:
        from ..classical.psf_search import estimate_psf

        found = estimate_psf(seen)
        kernel = found.kernel if found.trusted else None
    facts = found.summary()
    with _lock:
        _cache[key] = (kernel, facts)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return kernel, dict(facts)

"""The PSF a blind method identifies from the image itself (``nafnet-psf``).

:func:`identified_kernel` runs :func:`xraydeblur.classical.psf_search.estimate_psf` on
the image with burned-in overlays filled in (as the method sees it,
:mod:`xraydeblur.overlay`) and returns the PSF only when the estimate passes its trust
rule (:attr:`~xraydeblur.classical.psf_search.PsfEstimate.trusted`); otherwise None,
and the method stays blind. The last few results are cached by image content, so the
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

import numpy as np

#: images smaller than this (px, either side) are not searched (one 64 px Welch tile)
MIN_SIDE = 64
#: identifications remembered (by image content)
CACHE_SIZE = 4

_cache: OrderedDict[str, tuple[np.ndarray | None, dict]] = OrderedDict()
_lock = threading.Lock()


def _key(image: np.ndarray) -> str:
    digest = hashlib.blake2b(np.ascontiguousarray(image).view(np.uint8), digest_size=16)
    digest.update(repr(image.shape).encode())
    return digest.hexdigest()


def clear_cache() -> None:
    """Forget remembered identifications (timing runs must not re-use them)."""
    with _lock:
        _cache.clear()


def identified_kernel(image: np.ndarray) -> tuple[np.ndarray | None, dict]:
    """``(kernel, facts)`` for ``image`` (float32 (H, W) in [0, 1], the degraded input).

    ``kernel``: the identified PSF (float64 (K, K), sum 1) when it is trusted, else
    None. ``facts``: JSON-ready ``family``, ``params`` (px, degrees), ``label``,
    ``score``, ``no_blur_ratio``, ``trusted`` and, when no search ran (image under
    :data:`MIN_SIDE` px), ``reason``."""
    from ..classical.psf_search import estimate_psf
    from ..overlay import burned_in_mask, fill_masked

    image = np.asarray(image, dtype=np.float32)
    if min(image.shape) < MIN_SIDE:
        return None, {"family": None, "trusted": False, "reason": f"image under {MIN_SIDE} px: no PSF search"}
    key = _key(image)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            kernel, facts = _cache[key]
            return kernel, dict(facts)
    mask = burned_in_mask(image)
    estimate = estimate_psf(fill_masked(image, mask) if mask.any() else image)
    kernel = estimate.kernel if estimate.trusted else None
    facts = estimate.summary()
    with _lock:
        _cache[key] = (kernel, facts)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return kernel, dict(facts)

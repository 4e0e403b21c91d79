"""Tuned parameters of the registered classical methods (``defaults.json``).

``benchmarks/classical_benchmark.py --tune`` writes ``defaults.json`` next to this
module from a grid search on the validation split. Parameters are stored per
degradation *family*: "gaussian", "motion" or "disk", each noise-free, with "+noise" and, for noise-free
input rounded to b bits (8: a PNG or JPEG; 10 or 12: a DICOM's BitsStored), with
"+8bit", "+10bit", "+12bit" (``--tune --quantise-bits b``). At run time the family is
read off the kernel (:func:`kernel_family`) and the noise class off the image
(:func:`is_noisy`, :func:`xraydeblur.classical._common.quantisation_bits`).
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from ._common import estimate_noise_sigma, quantisation_bits

DEFAULTS_PATH = Path(__file__).with_name("defaults.json")
FAMILIES = ("gaussian", "motion", "disk")

#: used when defaults.json is missing or lacks an entry (hand-picked, untuned)
FALLBACK = {
    "noise_threshold": 0.006,
    "wiener": {
        "gaussian": {"balance_gain": 1.0, "min_balance": 1e-4},
        "motion": {"balance_gain": 1.0, "min_balance": 3e-3},
        "disk": {"balance_gain": 1.0, "min_balance": 1e-4},
        "gaussian+noise": {"balance_gain": 3.0, "min_balance": 1e-2},
        "motion+noise": {"balance_gain": 3.0, "min_balance": 1e-2},
        "disk+noise": {"balance_gain": 3.0, "min_balance": 1e-2},
    },
    "richardson-lucy": {
        "gaussian": {"iterations": 120, "tv_weight": 0.0},
        "motion": {"iterations": 120, "tv_weight": 0.0},
        "disk": {"iterations": 120, "tv_weight": 0.0},
        "gaussian+noise": {"iterations": 20, "tv_weight": 0.002},
        "motion+noise": {"iterations": 20, "tv_weight": 0.005},
        "disk+noise": {"iterations": 20, "tv_weight": 0.005},
    },
    "low-rank": {
        "gaussian": {"weight": 0.01, "smoothness_scale": 1.0, "min_noise": 0.001},
        "motion": {"weight": 0.01, "smoothness_scale": 0.3, "min_noise": 0.003},
        "disk": {"weight": 0.01, "smoothness_scale": 1.0, "min_noise": 0.001},
        "gaussian+noise": {"weight": 0.2, "smoothness_scale": 1.0, "min_noise": 0.003},
        "motion+noise": {"weight": 0.2, "smoothness_scale": 1.0, "min_noise": 0.003},
        "disk+noise": {"weight": 0.2, "smoothness_scale": 1.0, "min_noise": 0.003},
    },
}


@lru_cache(maxsize=1)
def _load(path: str) -> dict:
    p = Path(path)
    if not p.exists():
        return {}
    with open(p) as handle:
        return json.load(handle)


def load_defaults(path: Path | None = None) -> dict:
    """The tuned defaults merged over :data:`FALLBACK` (a fresh copy)."""
    merged = copy.deepcopy(FALLBACK)
    stored = _load(str(path or DEFAULTS_PATH))
    for key, value in stored.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            for family, params in value.items():
                if isinstance(params, dict):
                    merged[key].setdefault(family, {}).update(params)
                else:
                    merged[key][family] = params
        else:
            merged[key] = value
    return merged


def kernel_family(kernel: np.ndarray) -> str:
    """Which tuned family a PSF resembles: "gaussian", "motion" or "disk".

    Elongated kernels (ratio of the principal second moments above 2.5) are
    "motion"; otherwise the kernel is compared (L1) with a Gaussian and a uniform
    disk of the same second moment and the closer one wins.
    """
    from ..degrade import disk_kernel, gaussian_kernel

    k = np.asarray(kernel, dtype=np.float64)
    k = np.clip(k, 0, None)
    k = k / k.sum()
    yy, xx = np.indices(k.shape, dtype=np.float64)
    my, mx = (k * yy).sum(), (k * xx).sum()
    cyy = (k * (yy - my) ** 2).sum()
    cxx = (k * (xx - mx) ** 2).sum()
    cxy = (k * (yy - my) * (xx - mx)).sum()
    ev = np.linalg.eigvalsh(np.array([[cyy, cxy], [cxy, cxx]]))
    if ev[0] <= 1e-6 or ev[1] / max(ev[0], 1e-6) > 2.5:
        return "motion" if ev[1] > 0.05 else "gaussian"
    var = float(ev.mean())
    if var < 0.05:
        return "gaussian"
    sigma = np.sqrt(var)
    size = k.shape[0]

    def centred(a: np.ndarray) -> np.ndarray:
        out = np.zeros_like(k)
        s = min(a.shape[0], size)
        ao, ko = (a.shape[0] - s) // 2, (size - s) // 2
        out[ko : ko + s, ko : ko + s] = a[ao : ao + s, ao : ao + s]
        return out / out.sum()

    if k.shape[0] != k.shape[1]:
        return "gaussian"
    g = centred(gaussian_kernel(sigma, size=max(3, size)))
    d = centred(disk_kernel(2 * sigma))
    return "gaussian" if np.abs(k - g).sum() <= np.abs(k - d).sum() else "disk"


def is_noisy(image: np.ndarray, threshold: float | None = None) -> bool:
    """True when the robust noise estimate exceeds the tuned threshold."""
    if threshold is None:
        threshold = float(load_defaults()["noise_threshold"])
    return estimate_noise_sigma(image) > threshold


def run_time_class(image: np.ndarray, kernel: np.ndarray) -> str:
    """The class tuned settings are looked up by: the blur family read off ``kernel``
    (:func:`kernel_family`) plus ``"+noise"`` when ``image`` is judged noisy
    (:func:`is_noisy`), e.g. ``"motion+noise"``, or ``"+<b>bit"`` when it is not noisy but
    holds b-bit values, b = 8 to 12 (:func:`xraydeblur.classical._common.quantisation_bits`:
    rounding noise, 0.0011 rms at 8 bit, that the noise estimate cannot see but an
    inverse amplifies), e.g. ``"gaussian+10bit"``."""
    if is_noisy(image):
        return kernel_family(kernel) + "+noise"
    bits = quantisation_bits(image)
    return kernel_family(kernel) + (f"+{bits}bit" if bits else "")


def coarser_classes(key: str) -> list[str]:
    """``key`` and, for a ``"+<b>bit"`` class, the same family at every coarser bit depth
    down to 8, finest first: where a bit depth has no tuned entry (9 or 11 bit), the next
    coarser tuned one is used (its rounding noise is larger, so its settings regularise
    more, never less, than the input needs). ``"gaussian+11bit"`` ->
    ``["gaussian+11bit", "gaussian+10bit", "gaussian+9bit", "gaussian+8bit"]``."""
    stem, _, tail = key.rpartition("+")
    if not (tail.endswith("bit") and tail[:-3].isdigit()):
        return [key]
    return [f"{stem}+{b}bit" for b in range(int(tail[:-3]), 7, -1)]


def params_for(method: str, image: np.ndarray, kernel: np.ndarray) -> dict:
    """Tuned keyword arguments of ``method`` for this image and kernel, looked up by
    their :func:`run_time_class` (for a bit depth without its own entry, the next
    coarser tuned one, :func:`coarser_classes`); a class ``defaults.json`` lacks
    otherwise falls back to the family's noise-free settings."""
    key = run_time_class(image, kernel)
    table = load_defaults()[method]
    for candidate in coarser_classes(key):
        if candidate in table:
            return dict(table[candidate])
    return dict(table[key.split("+")[0]])

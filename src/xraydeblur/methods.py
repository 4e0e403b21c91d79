"""One registry of deblurring methods, classical and learned.

A method turns a degraded image (float32 (H, W) in [0, 1], 1 = dense) into a restored
one of the same shape. ``kernel`` is the blur PSF (odd-sized, sum 1) when it is known;
``None`` means blind: the method must estimate what it needs (classical methods
estimate a Gaussian width from the image, networks simply run).

Modules that provide methods call :func:`register` at import time; :func:`get_method`
imports the providers lazily, so ``import xraydeblur`` stays light.

>>> from xraydeblur.methods import available_methods, get_method   # doctest: +SKIP
>>> restored = get_method("wiener")(blurred, kernel=None)          # doctest: +SKIP
"""

import importlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

#: modules whose import registers methods, in preference order
PROVIDERS = ("xraydeblur.classical", "xraydeblur.models.registry")


@dataclass
class Method:
    """A named deblurring method.

    ``run(image, kernel)`` -> restored image; ``kind`` is "classical" or "network";
    ``version`` and ``weights_sha256`` go into DICOM DerivationDescription and reports;
    ``rank`` orders the default choice (highest = default for the CLI and the API);
    ``identifies_psf``: when no kernel is given, the method identifies one from the
    image (:func:`xraydeblur.infer.identify.identified_kernel`) and uses it when the
    identification is trusted (``nafnet-psf``); ``psf_estimator`` names the estimator
    (``"spectral"`` or ``"learned"``, :data:`xraydeblur.infer.identify.ESTIMATORS`);
    ``extra["psf_estimator_dir"]``, when set, the learned estimator's folder (weights
    retrained with a source held out).
    """

    name: str
    description: str
    kind: str
    run: Callable[[np.ndarray, np.ndarray | None], np.ndarray]
    version: str = ""
    weights_sha256: str = ""
    rank: int = 0
    extra: dict = field(default_factory=dict)
    identifies_psf: bool = False
    psf_estimator: str = "spectral"

    def kernel_in_use(self, image: np.ndarray, kernel: np.ndarray | None = None) -> tuple[np.ndarray | None, dict | None]:
        """``(kernel, facts)``: the PSF this method works with on ``image`` (float (H, W)
        in [0, 1]) - the given ``kernel``; for a method that identifies the PSF and is
        given none, the identified one when trusted (else None: blind) - and the
        identification's facts (None when no identification ran)."""
        if kernel is not None or not self.identifies_psf:
            return kernel, None
        from .infer.identify import identified_kernel

        return identified_kernel(np.asarray(image, dtype=np.float32), self.psf_estimator, self.extra.get("psf_estimator_dir"))

    def __call__(self, image: np.ndarray, kernel: np.ndarray | None = None) -> np.ndarray:
        """Restore ``image`` (float (H, W) in [0, 1]); burned-in overlays (sharp text at
        the top of the range, :mod:`xraydeblur.overlay`) are kept out of the method
        and returned unchanged. Returns float32 (H, W) in [0, 1]."""
        from .overlay import run_around_overlays

        image = np.asarray(image, dtype=np.float32)
        kernel, _ = self.kernel_in_use(image, kernel)
        out = np.asarray(run_around_overlays(self.run, image, kernel), dtype=np.float32)
        if out.shape != image.shape:
            raise RuntimeError(f"method {self.name} returned shape {out.shape} for input {image.shape}")
        return np.clip(np.nan_to_num(out, nan=0.0), 0.0, 1.0)

    def describe(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "kind": self.kind,
            "version": self.version,
            "weights_sha256": self.weights_sha256,
            "identifies_psf": self.identifies_psf,
            **({"psf_estimator": self.psf_estimator} if self.identifies_psf else {}),
            **self.extra,
        }


_REGISTRY: dict[str, Method] = {}
_loaded = False


def register(method: Method) -> Method:
    """Add (or replace) a method by name."""
    _REGISTRY[method.name] = method
    return method


def _load_providers() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in PROVIDERS:
        importlib.import_module(module)


def available_methods() -> list[str]:
    """Method names, best (default) first."""
    _load_providers()
    return [m.name for m in sorted(_REGISTRY.values(), key=lambda m: -m.rank)]


def default_method(kernel_known: bool = False) -> str:
    """The best available method: the highest-ranked one, or, when the blur is known
    (``kernel_known``), the highest-ranked kernel-aware network if there is one."""
    names = available_methods()
    if kernel_known:
        aware = [n for n in names if _REGISTRY[n].extra.get("kernel_aware")]
        if aware:
            return aware[0]
    return names[0]


def get_method(name: str | None = None) -> Method:
    """The method called ``name`` (default: the best shipped one)."""
    _load_providers()
    name = name or default_method()
    if name not in _REGISTRY:
        raise KeyError(f"unknown method {name!r}; available: {', '.join(available_methods())}")
    return _REGISTRY[name]

"""The learned PSF estimator: which blur an image carries, read off its power spectrum
by a small network (:class:`xraydeblur.models.psf_net.PsfNet`).

A blur multiplies the image's power spectrum by ``|K(f)|^2``: motion draws parallel
lines of zeros, a disk rings, a Gaussian a smooth roll-off, down to the noise and
quantisation floor. :func:`spectrum_features` computes that spectrum (Welch: mean
periodogram of Hann-windowed 64 px tiles, at most :data:`MAX_FEATURE_TILES` of them),
and the network, trained on the training split under the realistic degradation
distribution (``scripts/train_psf_estimator.py``), names the family, its parameters
and a confidence (the family's softmax probability, temperature-calibrated on
validation). A Gaussian's, disk's or straight motion's parameters can then be
sharpened by the parametric spectral fit of :mod:`xraydeblur.classical.psf_search`
around the network's values (a motion's on the tiles' geometric mean,
:data:`xraydeblur.classical.psf_search.REFINE_AVERAGE`), for the families the shipped rule names (chosen on
validation: the fit pins widths where the blur's spectrum has zeros, motion and
disk; the network's own Gaussian width is the better one).

:func:`estimate_learned_psf` returns a :class:`LearnedPsfEstimate`; its ``usable``
rule - a buildable family (not "none", not curved motion), widths within the ranges it
was trained on, and confidence at least the shipped ``min_confidence`` (chosen on validation by
``benchmarks/learned_psf_rule.py``) - is when ``nafnet-auto`` restores with the
estimated PSF instead of blind.

Shipped files (``xraydeblur/weights/psf/``): ``psf-estimator.onnx`` (run with
onnxruntime, no PyTorch at run time), ``psf-estimator.safetensors`` (the same weights,
for training and the export test) and ``psf-estimator.json`` (training config, data
manifest hash, validation metrics, temperature, rule).

>>> from xraydeblur.data.synthetic import power_law_scene           # doctest: +SKIP
>>> from xraydeblur.degrade import Degradation                      # doctest: +SKIP
>>> blurred, _ = Degradation("motion", {"length": 9, "angle": 30.0}).apply(power_law_scene(512))  # doctest: +SKIP
>>> estimate_learned_psf(blurred).label()                           # doctest: +SKIP
'motion length 9.1 px, angle 30 deg'
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

#: folder of the shipped estimator
ESTIMATOR_DIR = Path(__file__).resolve().parent.parent / "weights" / "psf"
#: file stem of the shipped estimator
ESTIMATOR_NAME = "psf-estimator"
#: Welch tile side (px) = the network's input side
FEATURE_TILE = 64
#: at most this many tiles are averaged (a larger image is sampled with a wider stride)
MAX_FEATURE_TILES = 1024
#: added to the power before the log: below the power of 16-bit rounding noise
#: ((1/65535)^2 / 12 times the Hann window's energy, about 1e-8), so every stored bit
#: depth's floor stays visible
POWER_FLOOR = 1e-9
#: families whose parameters build a PSF (curved motion and "none" do not)
BUILDABLE = ("gaussian", "anisotropic", "disk", "motion", "exponential")


@lru_cache(maxsize=1)
def _grids() -> tuple[np.ndarray, np.ndarray]:
    f = np.fft.fftshift(np.fft.fftfreq(FEATURE_TILE))
    radius = np.hypot(f[:, None], f[None, :])
    mid = (radius >= 0.125) & (radius <= 0.25)
    return radius.astype(np.float32), mid


def image_spectrum(image: np.ndarray) -> np.ndarray:
    """The Welch spectrum (64, 64) the estimator reads (uncentred, as
    :func:`xraydeblur.classical.psf_search.welch_spectrum` returns it) of ``image``
    (float (H, W) in [0, 1], both sides >= 64 px)."""
    from ..classical.psf_search import welch_spectrum

    return welch_spectrum(np.asarray(image, dtype=np.float32), FEATURE_TILE, MAX_FEATURE_TILES)


def spectrum_features(image: np.ndarray, power: np.ndarray | None = None) -> np.ndarray:
    """(3, 64, 64) float32 network input for ``image`` (float (H, W) in [0, 1], both
    sides >= 64 px; or its :func:`image_spectrum` ``power``): channel 0 the log Welch
    spectrum (centred: zero frequency at [32, 32]) minus its mean over 0.125-0.25
    cycles/px, divided by 4; channel 1 the same log spectrum absolute,
    ``(log P + 8) / 4`` (noise and rounding floors are absolute levels); channel 2 the
    frequency radius times 4 (cycles/px)."""
    power = image_spectrum(image) if power is None else power
    log_power = np.fft.fftshift(np.log(power + POWER_FLOOR))
    radius, mid = _grids()
    relative = (log_power - log_power[mid].mean()) / 4.0
    absolute = (log_power + 8.0) / 4.0
    return np.stack([relative, absolute, radius * 4.0]).astype(np.float32)


@dataclass(frozen=True)
class LearnedPsfEstimate:
    """What :func:`estimate_learned_psf` found.

    ``family``: one of :data:`xraydeblur.models.psf_net.FAMILIES`; ``params`` in pixels
    and degrees (as :func:`xraydeblur.degrade.make_kernel` takes them); ``confidence``:
    the family's calibrated probability; ``probabilities``: every family's;
    ``min_confidence``: the shipped rule's threshold for this family;
    ``gaussian_scale``: the rule's factor on a Gaussian's width for the PSF restored
    with (:attr:`restoring_params`)."""

    family: str
    params: dict
    confidence: float
    probabilities: dict = field(default_factory=dict)
    min_confidence: float = 1.0
    gaussian_scale: float = 1.0

    @property
    def restoring_params(self) -> dict:
        """The parameters of the PSF to restore with: ``params``, but a Gaussian's
        ``sigma`` times ``gaussian_scale``. Too wide a Gaussian costs far more than too
        narrow a one (the data step then amplifies the frequencies the blur did not
        remove), so under an uncertain width the rule, chosen on validation
        (``benchmarks/learned_psf_rule.py``), may restore with a narrower one."""
        if self.family == "gaussian" and self.gaussian_scale != 1.0:
            return {**self.params, "sigma": float(self.params["sigma"]) * self.gaussian_scale}
        return dict(self.params)

    @property
    def kernel(self) -> np.ndarray | None:
        """The PSF to restore with (float64 (K, K), sum 1; :attr:`restoring_params`)
        for a buildable family, else None."""
        if self.family not in BUILDABLE:
            return None
        from ..degrade import make_kernel

        return make_kernel(self.family, **self.restoring_params)

    @property
    def usable(self) -> bool:
        """Whether to restore with this PSF: a buildable family, confidence at least
        ``min_confidence``, and widths within the ranges the estimator was trained on
        (:func:`xraydeblur.models.psf_labels.within_trained_ranges`: a 2 px "motion"
        found in an unblurred 16-bit radiograph is an extrapolation, not a finding)."""
        from ..models.psf_labels import within_trained_ranges

        return self.family in BUILDABLE and self.confidence >= self.min_confidence and within_trained_ranges(self.params)

    def label(self) -> str:
        """Short description, e.g. ``"motion length 9.1 px, angle 30 deg"``."""
        p = self.params
        if self.family == "none":
            return "no blur"
        if self.family == "motion":
            return f"motion length {p['length']:.1f} px, angle {p['angle']:.0f} deg"
        if self.family == "anisotropic":
            return f"anisotropic gaussian sigma {p['sigma']:.2f} x {p['sigma_y']:.2f} px, angle {p['angle']:.0f} deg"
        if self.family == "trajectory":
            return f"curved motion, path about {p['length']:.0f} px"
        name, value = next(iter(p.items()))
        return f"{self.family} {name} {value:.2f} px"

    def summary(self) -> dict:
        """JSON-ready facts, shaped like :meth:`PsfEstimate.summary` (``family``,
        ``params``, ``label``, ``trusted``) plus ``estimator``, ``confidence``,
        ``min_confidence`` and, where they differ from ``params``, the
        :attr:`restoring_params` as ``restored_with``."""
        restoring = self.restoring_params
        return {
            "estimator": "learned",
            "family": self.family,
            "params": {k: round(float(v), 4) for k, v in self.params.items()},
            "label": self.label(),
            "confidence": round(float(self.confidence), 4),
            "min_confidence": self.min_confidence,
            "trusted": self.usable,
            **({"restored_with": {k: round(float(v), 4) for k, v in restoring.items()}} if restoring != self.params else {}),
        }


def estimator_meta(folder: Path = ESTIMATOR_DIR) -> dict:
    """The shipped estimator's JSON (config, metrics, ``temperature``, ``rule``)."""
    return json.loads((folder / f"{ESTIMATOR_NAME}.json").read_text())


_session_lock = threading.Lock()


@lru_cache(maxsize=2)
def _session(folder: str):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(Path(folder) / f"{ESTIMATOR_NAME}.onnx"), options, providers=["CPUExecutionProvider"])


def network_output(features: np.ndarray, folder: Path = ESTIMATOR_DIR) -> np.ndarray:
    """Raw network output (N, outputs) for features (N, 3, 64, 64) (onnxruntime)."""
    with _session_lock:
        session = _session(str(folder))
        return session.run(None, {session.get_inputs()[0].name: np.ascontiguousarray(features, np.float32)})[0]


def estimate_learned_psf(image: np.ndarray, folder: Path = ESTIMATOR_DIR, refine: bool | None = None) -> LearnedPsfEstimate:
    """The blur of ``image`` (float (H, W) in [0, 1], both sides >= 64 px) as the shipped
    estimator sees it (module docstring). ``refine``: sharpen a Gaussian's, disk's or
    straight motion's parameters by the spectral fit around the network's values
    (:func:`xraydeblur.classical.psf_search.refine_psf`); None: as the shipped rule
    says (``rule["refine"]``: the families refined, chosen on validation). A Gaussian
    not refined is restored with its width times the rule's ``gaussian_scale``
    (:attr:`LearnedPsfEstimate.restoring_params`)."""
    from ..models.psf_labels import decode

    meta = estimator_meta(folder)
    rule = meta.get("rule") or {}
    power = image_spectrum(image)
    out = network_output(spectrum_features(image, power)[None], folder)[0]
    found = decode(out, float(meta.get("temperature", 1.0)))
    params = found["params"]
    refined = refine if refine is not None else found["family"] in rule.get("refine", [])
    if refined:
        from ..classical.psf_search import REFINE_AVERAGE, refine_psf, welch_spectrum

        # the network's (mean) spectrum where the fit takes the mean too, else the same tiles' geometric mean
        average = REFINE_AVERAGE.get(found["family"], "mean")
        fitted = power if average == "mean" else welch_spectrum(np.asarray(image, dtype=np.float32), FEATURE_TILE, MAX_FEATURE_TILES, average)
        params = refine_psf(image, found["family"], params, FEATURE_TILE, fitted)
    return LearnedPsfEstimate(
        found["family"],
        params,
        float(found["probabilities"][found["family"]]),
        found["probabilities"],
        family_threshold(rule, found["family"]),
        1.0 if refined else float(rule.get("gaussian_scale", 1.0)),
    )


def family_threshold(rule: dict, family: str) -> float:
    """The confidence ``family``'s estimate needs under ``rule`` (an estimator JSON's
    ``rule``): ``min_confidence`` is one threshold for every family, or a threshold per
    family (chosen on validation: a family the estimator often gets wrong, or whose
    kernel errors cost most, needs a higher one); a family it does not name: never used
    (1.01)."""
    value = rule.get("min_confidence", 1.01)
    return float(value.get(family, 1.01) if isinstance(value, dict) else value)

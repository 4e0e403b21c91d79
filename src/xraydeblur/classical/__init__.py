"""Classical (non-learned) deblurring baselines, one function per method.

In the style of ``skimage.restoration``: every method is a function
``(image, kernel, **params) -> image`` on float (H, W) images in [0, 1] with a PSF in
pixels (odd size; normalised to sum 1 internally), returning float32 (H, W) in
[0, 1]. All work at full radiograph resolution (Wiener and Richardson-Lucy take
5-25 s on 2000 x 2000; the low-rank method is meant for crops).

* :func:`wiener`, :func:`unsupervised_wiener` - FFT Wiener filtering, fixed/automatic
  or self-tuned (empirical Bayes) noise-to-signal ratio;
* :func:`richardson_lucy` - Richardson-Lucy with masked-boundary handling and an
  optional total-variation term (RL-TV);
* :func:`low_rank_deconvolution`, :func:`low_rank_blind` - enhanced low-rank prior
  (weighted nuclear norm of similar patch groups of the image and its gradients)
  by half-quadratic splitting; non-blind and blind (kernel estimation);
* :func:`estimate_gaussian_sigma`, :func:`blur_assessment` - blind blur width.

Importing this package registers three methods in :mod:`xraydeblur.methods`:
"wiener" (rank 10), "richardson-lucy" (rank 9) and "low-rank" (rank 5). Their
``run(image, kernel)`` uses the given kernel, or, when ``kernel`` is None, a
Gaussian of the width :func:`estimate_gaussian_sigma` finds (images estimated
sharper than 0.3 px are returned unchanged). Parameters come from
``defaults.json`` (tuned per blur family on the validation split; see
:mod:`._defaults` and ``docs/classical.md``).

>>> import numpy as np
>>> from xraydeblur.degrade import gaussian_blur
>>> from xraydeblur.classical import wiener, richardson_lucy
>>> yy, xx = np.mgrid[:64, :64] / 64.0
>>> sharp = (0.5 + 0.4 * np.sin(6 * xx) * np.cos(5 * yy)).astype(np.float32)
>>> blurred, kernel = gaussian_blur(sharp, 2.0)
>>> wiener(blurred, kernel, balance=1e-3).shape
(64, 64)
"""

from __future__ import annotations

import numpy as np

from ..methods import Method, register
from ._common import estimate_noise_model, estimate_noise_sigma, kernel_noise_sigma, noise_variance_map, rounding_sigma
from ._defaults import kernel_family, load_defaults, params_for
from .estimate import blur_assessment, estimate_gaussian_sigma
from .low_rank import block_match, low_rank_blind, low_rank_deconvolution, low_rank_denoise
from .richardson_lucy import richardson_lucy
from .wiener import estimate_balance, signal_rings, unsupervised_wiener, wiener, wiener_correction, wiener_path

__all__ = [
    "block_match",
    "blur_assessment",
    "estimate_balance",
    "estimate_gaussian_sigma",
    "estimate_noise_model",
    "estimate_noise_sigma",
    "kernel_noise_sigma",
    "kernel_family",
    "load_defaults",
    "low_rank_blind",
    "low_rank_deconvolution",
    "low_rank_denoise",
    "noise_variance_map",
    "rounding_sigma",
    "signal_rings",
    "params_for",
    "richardson_lucy",
    "tuned_balance",
    "unsupervised_wiener",
    "wiener",
    "wiener_correction",
    "wiener_path",
]

VERSION = "classical-1"
#: below this estimated blur (px) the blind methods leave the image unchanged
MIN_BLIND_SIGMA = 0.3


def blind_kernel(image: np.ndarray) -> np.ndarray | None:
    """Gaussian PSF of the blindly estimated width, or None if the image looks sharp."""
    from ..degrade import gaussian_kernel

    sigma = estimate_gaussian_sigma(image)
    if sigma < MIN_BLIND_SIGMA:
        return None
    return gaussian_kernel(sigma)


def _with_kernel(fn, accepts_observed: bool = False):
    """A method's ``run(image, kernel)`` from ``fn(image, kernel)``: the kernel is
    estimated when none is given. With ``accepts_observed``, ``fn`` also takes
    ``observed`` (H, W data-term weights, 0 on filled-in burned-in overlays) and the
    run passes it on (:func:`xraydeblur.overlay.run_around_overlays`)."""

    def run(image: np.ndarray, kernel: np.ndarray | None, observed: np.ndarray | None = None) -> np.ndarray:
        image = np.asarray(image, dtype=np.float32)
        if kernel is None:
            kernel = blind_kernel(image)
            if kernel is None:
                return image.copy()
        if accepts_observed:
            return fn(image, np.asarray(kernel, dtype=np.float64), observed)
        return fn(image, np.asarray(kernel, dtype=np.float64))

    run.accepts_observed = accepts_observed
    return run


def _run_wiener(image, kernel, observed=None):
    return wiener(image, kernel, balance=None, weights=observed, **params_for("wiener", image, kernel))


def _run_rl(image, kernel, observed=None):
    return richardson_lucy(image, kernel, weights=observed, **params_for("richardson-lucy", image, kernel))


def tuned_balance(image: np.ndarray, kernel: np.ndarray) -> tuple[float, str]:
    """(balance, regulariser) that the registered "wiener" method uses for this image
    and kernel: the automatic noise-to-signal ratio times the gain tuned for the blur
    family (and noise, or 8- to 12-bit rounding), at least the tuned floor."""
    params = params_for("wiener", image, kernel)
    regulariser = params.get("regulariser", "gradient")
    return max(params["min_balance"], params["balance_gain"] * estimate_balance(image, kernel, regulariser)), regulariser


def _run_low_rank(image, kernel, observed=None):
    params = params_for("low-rank", image, kernel)
    # the quadratic smoothness under the low-rank prior is the tuned Wiener balance
    # of the same family, scaled
    params["smoothness"] = params.pop("smoothness_scale", 1.0) * tuned_balance(image, kernel)[0]
    return low_rank_deconvolution(image, kernel, weights=observed, **params)


_METHODS = (
    ("wiener", "Wiener deconvolution (masked borders solved by conjugate gradients; noise-to-signal ratio from the image, tuned per blur family)", _run_wiener, 10),
    ("richardson-lucy", "Richardson-Lucy deconvolution with masked borders and optional total-variation term (RL-TV)", _run_rl, 9),
    ("low-rank", "Enhanced low-rank prior deconvolution (Ren et al. 2016): HQS with WNNM on patch groups of the image and its gradients; slow on full radiographs", _run_low_rank, 5),
)
for _name, _description, _runner, _rank in _METHODS:
    register(Method(name=_name, description=_description, kind="classical", run=_with_kernel(_runner, accepts_observed=True), version=VERSION, rank=_rank))

"""The "no blur worth removing" rule: does a radiograph show blur at all?

A deblurring tool must not touch a sharp image (it would only smooth its noise texture
and fine detail away). Two cues, each chosen on the validation split at full size
(``benchmarks/no_blur_rule.py --write-rule``; the thresholds and how they were chosen
are in ``no_blur_rule.json`` beside this file, the false-negative rates per blur in
``benchmarks/results/no_blur_rule.json``):

* the blur evidence of :func:`xraydeblur.classical.estimate.blur_evidence` (width of the
  roll-off in the most blurred direction, high-frequency anisotropy), read on the
  central part of the image (:func:`evidence_region`): the periphery of a whole
  radiograph (collimator edges, background, labels) has straight edges whose spectrum
  is anisotropic, and with it a third of the sharp validation radiographs counted as
  blurred;
* the learned PSF estimator (:mod:`xraydeblur.infer.learned_psf`) finding a straight
  motion PSF it trusts (:func:`trusted_straight_motion`, :func:`motion_cue`): a motion
  PSF keeps the high frequencies along its path, so the width misses it, and the
  anisotropy misses long motion, whose sinc side lobes refill the empty sector. The
  confidence it needs is the rule's own ``motion_min_confidence`` (0.3, the motion
  threshold ``nafnet-auto`` used when this cue and the blind add-back PSF were chosen),
  so re-choosing ``nafnet-auto``'s rule does not move the default pipeline.

>>> import numpy as np
>>> shows_blur({"sigma_px": 0.0, "hf_anisotropy": 0.9})
False
"""

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

RULE_PATH = Path(__file__).with_name("no_blur_rule.json")


@lru_cache(maxsize=1)
def shipped_rule() -> dict:
    """The rule in use: ``max_sigma_px`` (px), ``min_hf_anisotropy`` (0-1),
    ``evidence_margin`` (share of each side left out by :func:`evidence_region`) and
    ``motion_min_confidence`` (0-1, :func:`trusted_straight_motion`)."""
    return json.loads(RULE_PATH.read_text())


#: the evidence region keeps at least this many pixels per side (the whole side of a
#: smaller image): a crop of anatomy has no periphery to leave out, and a region under
#: 512 px reads noisier widths (on the 512 px centre crops of the shared DICOMs, their
#: 70 % centre gave widths that put a kernel where the whole crop gave none)
EVIDENCE_MIN_SIDE = 512


def evidence_region(image: np.ndarray, margin: float | None = None) -> np.ndarray:
    """The central part of ``image`` (H, W) the blur evidence is read on: ``margin``
    (default the shipped rule's ``evidence_margin``) of the height left out at the top
    and at the bottom, and of the width at each side, but at least
    :data:`EVIDENCE_MIN_SIDE` px kept per side. A view, not a copy.

    >>> evidence_region(np.zeros((2000, 600)), 0.15).shape
    (1400, 512)
    """
    margin = shipped_rule().get("evidence_margin", 0.0) if margin is None else margin
    h, w = image.shape[-2:]
    dy = min(int(round(h * margin)), max(0, (h - EVIDENCE_MIN_SIDE) // 2))
    dx = min(int(round(w * margin)), max(0, (w - EVIDENCE_MIN_SIDE) // 2))
    return image[..., dy : h - dy, dx : w - dx]


def image_blur_evidence(image: np.ndarray, margin: float | None = None) -> dict:
    """:func:`xraydeblur.classical.estimate.blur_evidence` of :func:`evidence_region`
    of ``image`` (H, W) in [0, 1]: what :func:`shows_blur` reads, and the pipeline's
    estimated blur before and after."""
    from .estimate import blur_evidence

    return blur_evidence(evidence_region(image, margin))


def trusted_straight_motion(found, min_confidence: float | None = None) -> bool:
    """Whether the learned estimate ``found`` (a
    :class:`xraydeblur.infer.learned_psf.LearnedPsfEstimate`) is a straight motion the
    default pipeline trusts: :attr:`~xraydeblur.infer.learned_psf.LearnedPsfEstimate.usable`
    (widths within the trained ranges) at the confidence ``min_confidence`` (default the
    shipped rule's ``motion_min_confidence``) instead of ``nafnet-auto``'s threshold."""
    from dataclasses import replace

    needed = shipped_rule()["motion_min_confidence"] if min_confidence is None else min_confidence
    return found.family == "motion" and replace(found, min_confidence=needed).usable


def motion_cue(image: np.ndarray, learned=None, min_confidence: float | None = None) -> dict:
    """The learned PSF estimator on the whole ``image`` (H, W) in [0, 1]: ``family`` and
    ``confidence`` it names (no refinement), and ``shows_motion``: a straight-motion PSF
    it trusts (:func:`trusted_straight_motion`, at ``min_confidence`` if given). Images
    under 64 px: no cue. ``learned(image)``: returns the estimator's unrefined
    :class:`xraydeblur.infer.learned_psf.LearnedPsfEstimate` (the pipeline passes
    :func:`shared_learned_psf`'s, so the estimator runs once per request); default: run it."""
    if min(image.shape) < 64:
        return {"family": None, "confidence": None, "shows_motion": False}
    found = (learned or unrefined_learned_psf)(image)
    return {"family": found.family, "confidence": round(float(found.confidence), 4), "shows_motion": trusted_straight_motion(found, min_confidence)}


def unrefined_learned_psf(image: np.ndarray):
    """The shipped learned PSF estimator's unrefined estimate of ``image`` (H, W) in
    [0, 1], both sides >= 64 px (:func:`xraydeblur.infer.learned_psf.estimate_learned_psf`,
    ``refine=False``)."""
    from ..infer.learned_psf import estimate_learned_psf

    return estimate_learned_psf(np.asarray(image, np.float32), refine=False)


def shared_learned_psf():
    """A caching :func:`unrefined_learned_psf` for one image: the no-blur rule's motion
    cue and the blind pipeline's re-blur candidates both read it, and the estimator
    (about 0.2 s on 4 megapixels) then runs once. Call it with that one image only;
    the two readers run one after the other, never at once."""
    found: list = []

    def learned(image: np.ndarray):
        if not found:
            found.append(unrefined_learned_psf(image))
        return found[0]

    return learned


def sees_blur(image: np.ndarray, evidence: dict, ask_motion: bool = True, run=None, learned=None) -> tuple[bool, dict | None]:
    """Whether the default (blind) pipeline sees blur worth removing in ``image`` (H, W)
    in [0, 1], given its :func:`image_blur_evidence`: :func:`shows_blur`, else, when
    ``ask_motion``, the :func:`motion_cue`. Returns ``(verdict, the cue or None when it
    was not asked)``. ``run(name, fn, *args)`` calls the cue (the pipeline times it;
    default: a plain call); ``learned``: as in :func:`motion_cue`. The pipeline and
    ``xraydeblur info`` (:func:`xraydeblur.classical.blur_assessment`) decide with this
    one function."""
    if shows_blur(evidence):
        return True, None
    if not ask_motion:
        return False, None
    cue = run("motion_cue", motion_cue, image, learned) if run else motion_cue(image, learned)
    return bool(cue["shows_motion"]), cue


def shows_blur(evidence: dict, rule: dict | None = None) -> bool:
    """True when ``evidence`` (:func:`image_blur_evidence`) shows blur: its width
    exceeds ``rule["max_sigma_px"]`` or its high-frequency anisotropy falls below
    ``rule["min_hf_anisotropy"]`` (default: the shipped rule). The pipeline asks
    :func:`motion_cue` when this is False."""
    rule = rule or shipped_rule()
    return evidence["sigma_px"] > rule["max_sigma_px"] or evidence["hf_anisotropy"] < rule["min_hf_anisotropy"]

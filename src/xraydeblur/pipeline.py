"""The one restoration pipeline behind every entry point (CLI, API, web page, DICOM node).

``restore(image, method, ...)`` runs, once per image:

1. **blur evidence** (:func:`xraydeblur.classical.no_blur.image_blur_evidence`): the
   width of the blur in its most blurred direction and the high-frequency anisotropy,
   read on the central part of the image (its periphery holds collimator edges and
   labels);
2. **do no harm**: blind, not forced, and neither the evidence
   (:func:`xraydeblur.classical.no_blur.shows_blur`) nor the learned PSF estimator's
   motion cue (:func:`xraydeblur.classical.no_blur.motion_cue`, asked only then; both
   in :func:`xraydeblur.classical.no_blur.sees_blur`, which ``xraydeblur info`` also
   decides with) shows blur worth removing (a rule chosen on validation at full size), nor, for a method
   that identifies the PSF (``nafnet-auto``, ``nafnet-psf``), the PSF it finds and
   trusts: the image is returned unchanged and the facts say why;
3. **deblur**: the method's full restoration ``x_hat`` (blind, or with the given kernel;
   a PSF-identifying method may find its own);
4. **denoise strength** ``S`` in [0, 1]: for ``y = k * x + n`` the deblurred image that
   keeps the noise texture is ``x + n``; with the PSF in use ``k`` (given, identified,
   or, blind, a Gaussian of the blur evidence's widths, or the learned PSF estimator's
   straight motion when it finds one it trusts and the restoration explains the input
   better under it: :func:`blind_psf_candidates`, :func:`best_explaining_psf`) the
   noise is estimated as the part of
   the input that ``x_hat`` does not explain, ``y - k * x_hat``, and put back:
   ``out = x_hat + (1 - S) (y - k * x_hat)``. ``S = 1`` is the full restoration,
   ``S = 0`` the blur undone with the noise kept as it was (not amplified); on a sharp
   image (``k`` a delta) ``S = 0`` gives the input back;
5. **safeguard** (:func:`xraydeblur.safeguard.check_consistency`) on ``x_hat`` with the
   same PSF: invented structure in the restoration is flagged whatever ``S`` is; and a
   given PSF that the input's power spectrum contradicts
   (:func:`xraydeblur.classical.given_psf.given_psf_check`: the input explained far
   better with no blur) fails it too, since a restoration under an absent blur
   re-blurs back to the input however much texture it made up.
6. **a PSF the method identified must pass too**: when the restoration under it fails
   the safeguard, the image is restored again blind (:func:`blind_fallback`: steps 2-5
   with identification off) and the facts say which PSF was rejected and why
   (``psf_rejected``). A PSF the user gives is kept and its failure reported.

All images are float32 (H, W) in [0, 1] (1 = dense). ``Restoration.facts`` is plain
JSON: what the CLI report, the API answer and the page show.

Independent measurements overlap in a second thread (numpy and SciPy release the GIL
on whole-image work): the sharpness before with the blur evidence, and the safeguard
with the noise add-back and the output's measurements. ``facts["seconds_by_step"]``
holds each step's own wall seconds (overlapping steps add up to more than the wall
time) and ``facts["pipeline_seconds"]`` the wall seconds of the whole pipeline.

>>> import numpy as np
>>> from xraydeblur.methods import get_method
>>> flat = np.full((64, 64), 0.5, np.float32)
>>> restore(flat, get_method("wiener")).facts["unchanged"]
True
"""

from __future__ import annotations

import math
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

#: default denoise strength: keep the noise texture (radiologists read it; see docs/results.md)
DEFAULT_DENOISE = 0.0

#: what a safeguard failure means and what to do, for every interface
SAFEGUARD_EXPLANATION = (
    "The safeguard re-blurs the restoration with the blur in use and compares it with the input "
    "(averaged over a few pixels). 'passed': the restoration explains the input up to noise. 'failed': some "
    "region of the restoration does not (structure added or removed, or the blur in use is wrong); "
    "look at the residual map, and read the original instead of the restoration there."
)


@dataclass
class Restoration:
    """What :func:`restore` returns.

    ``pixels``: the output, float32 (H, W) in [0, 1]; ``estimate``: the method's full
    restoration (``S = 1``; the input itself when unchanged); ``facts``: JSON-safe
    report; ``residual_map``: the safeguard's map (float32 (H, W), in units of its flag
    threshold) when asked for, else None; ``kernel``: the PSF in use or None;
    ``prepared``: see :func:`restore`'s ``while_checking``."""

    pixels: np.ndarray
    estimate: np.ndarray
    facts: dict
    residual_map: np.ndarray | None = None
    kernel: np.ndarray | None = field(default=None, repr=False)
    #: what ``restore(..., while_checking=fn)``'s ``fn(pixels)`` returned (None when it
    #: was not given or the input came back unchanged)
    prepared: object = field(default=None, repr=False)


def _number(value, digits: int = 4):
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def blind_kernel(evidence: dict) -> np.ndarray | None:
    """A Gaussian PSF matching the blur evidence (``sigma_px`` along ``direction_deg``,
    ``sigma_across_px`` across it), or None when it shows (almost) no blur."""
    from .degrade import gaussian_kernel

    along, across = float(evidence["sigma_px"]), float(evidence.get("sigma_across_px", evidence["sigma_px"]))
    if along < 0.3:
        return None
    return gaussian_kernel(along, max(0.3, across), float(evidence.get("direction_deg", 0.0)))


def keep_noise(degraded: np.ndarray, estimate: np.ndarray, kernel: np.ndarray | None, denoise: float, reblurred: np.ndarray | None = None) -> np.ndarray:
    """``estimate + (1 - denoise) * (degraded - kernel * estimate)``, clipped to [0, 1]
    (float32 (H, W)); ``kernel`` None stands for no blur (a delta); ``reblurred``:
    ``kernel * estimate`` when already computed. Pixels the method returned exactly as
    they were (burned-in overlays, :mod:`xraydeblur.overlay`) stay as they were."""
    if denoise >= 1.0:
        return estimate
    from .degrade import blur

    y = np.asarray(degraded, np.float32)
    if reblurred is None:
        reblurred = estimate if kernel is None else blur(estimate, kernel)
    reblurred = np.asarray(reblurred, np.float32)
    out = np.clip(estimate + np.float32(1.0 - denoise) * (y - reblurred), 0.0, 1.0).astype(np.float32)
    kept = estimate == y
    out[kept] = y[kept]
    return out


def data_step_facts(steps: list[dict]) -> dict | None:
    """The report's ``data_step``: what the kernel-aware data step did
    (:func:`xraydeblur.infer.data_step.recording`), numbers rounded, with a one-line
    ``summary`` for people; None when no data step ran (blind methods, classical ones)."""
    if not steps:
        return None
    step = dict(steps[-1])
    noise = step.get("noise_sigma")
    for key in ("noise_sigma", "noise_free_below"):
        if key in step:
            step[key] = float(f"{float(step[key]):.3g}")
    noise_text = f"{noise:.2g} rms" if noise is not None else "unknown"
    if step.get("rule") == "morozov":
        gain = step.get("gain")
        step["summary"] = (
            f"noisy input (noise {noise_text}): the network output already explains it up to the noise, no correction"
            if gain is None
            else f"noisy input (noise {noise_text}): corrected to fit the input down to the noise, not below (Morozov, gain {gain:g})"
        )
    elif step.get("rule") == "learned":
        kind = "noisy input" if step.get("noisy") else "noise-free input"
        step["summary"] = f"{kind} (noise {noise_text}): learned data step (blend of Wiener corrections, no table)"
    elif step.get("gain") is None:
        step["summary"] = f"noise-free input (noise {noise_text}): no correction, as tuned for {step.get('step_class')}"
    else:
        step["summary"] = f"noise-free input (noise {noise_text}): tuned gain {step.get('gain')} for {step.get('step_class')}"
    return step


def derivation_label(method_name: str, facts: dict) -> str:
    """How an output was derived, for DICOM DerivationDescription and reports: the method
    and denoise strength, or that the input was returned unchanged."""
    if facts.get("unchanged"):
        return f"none ({method_name} not run: no blur detected, pixels unchanged)"
    return f"{method_name}, denoise {float(facts.get('denoise', DEFAULT_DENOISE)):g}"


def check_denoise(value) -> float:
    """The denoise strength as a float in [0, 1]; ValueError with a one-line reason."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"denoise must be a number from 0 to 1, not {value!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"denoise must be from 0 (keep the noise) to 1 (full restoration), not {value:g}")
    return value


def restore(
    image: np.ndarray,
    method,
    *,
    kernel: np.ndarray | None = None,
    denoise: float = DEFAULT_DENOISE,
    force: bool = False,
    safeguard: bool = True,
    with_map: bool = False,
    measure_output: bool = False,
    measure_sharpness: bool = True,
    while_checking=None,
) -> Restoration:
    """Run the pipeline of the module docstring on ``image`` (float (H, W) in [0, 1])
    with ``method`` (a :class:`xraydeblur.methods.Method`); ``kernel``: the known PSF
    (float (K, K), sum 1) or None (blind); ``denoise``: S in [0, 1]; ``force``: deblur
    even when no blur is detected; ``safeguard``: run the consistency check;
    ``with_map``: keep its residual map; ``measure_output``: also measure the output's
    blur (``estimated_blur_after``; a second spectrum fit, about a third of a second per
    megapixel, so only reports that are asked for do it; else None);
    ``measure_sharpness``: the sharpness before and after (else None; the CLI skips
    them unless it writes a report); ``while_checking``: a function of the output
    (float32 (H, W) in [0, 1]) to run while the safeguard checks it, e.g. encoding the
    output file (the server's answer waits for the safeguard; this uses that wait): its
    result is :attr:`Restoration.prepared`, its time the step "while_checking". Not
    called when the input comes back unchanged (``prepared`` is None then)."""
    from .classical.given_psf import given_psf_check
    from .classical.no_blur import image_blur_evidence, sees_blur, shared_learned_psf, shipped_rule
    from .degrade import blur
    from .infer.data_step import recording
    from .metrics import sharpness

    denoise = check_denoise(denoise)
    y = np.asarray(image, dtype=np.float32)
    steps: dict[str, float] = {}  # wall seconds of each step (reports, the profile in docs)
    started = time.perf_counter()

    def timed(name: str, fn, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            steps[name] = round(time.perf_counter() - t0, 4)

    def evidence_of(image: np.ndarray) -> dict:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # estimators on flat or tiny images
            return image_blur_evidence(image)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xraydeblur-measure") as side:
        sharp_before = side.submit(timed, "sharpness_before", sharpness, y) if measure_sharpness else None
        evidence = timed("blur_evidence", evidence_of, y)
        # the motion cue only where it can change the outcome (blind, not forced, no blur seen)
        learned = shared_learned_psf()  # the motion cue's estimate, reused for the re-blur candidates
        blurred, motion = sees_blur(y, evidence, ask_motion=kernel is None and not force, run=timed, learned=learned)
        # a method that identifies the PSF deblurs when it finds one it trusts
        identified = None
        if kernel is None and not force and not blurred and method.identifies_psf:
            identified = timed("psf_identification", method.kernel_in_use, y, None)
            blurred = identified[0] is not None
        sharpness_before = sharp_before.result() if sharp_before is not None else None
    rule = shipped_rule()
    facts = {
        "method": method.name,
        "method_version": method.version,
        "weights_sha256": method.weights_sha256,
        "kind": method.kind,
        "blind": kernel is None,
        "denoise": denoise,
        "force": bool(force),
        "blur_evidence": {key: _number(value, 3) for key, value in evidence.items()},
        "shows_blur": bool(blurred),
        "no_blur": {"estimated_blur_px": _number(evidence["sigma_px"], 3), "threshold_px": rule["max_sigma_px"],
                    "hf_anisotropy": _number(evidence["hf_anisotropy"], 3), "min_hf_anisotropy": rule["min_hf_anisotropy"],
                    "evidence_margin": rule.get("evidence_margin", 0.0), "motion_cue": motion},
        "estimated_blur_before": _number(evidence["sigma_px"], 3),
        "sharpness_before": None if sharpness_before is None else _number(sharpness_before, 6),
        "seconds_by_step": steps,
    }
    if kernel is None and not force and not blurred:
        facts.update({
            "unchanged": True,
            "unchanged_reason": "no blur detected: the image is returned unchanged (force to deblur anyway)",
            "inference_seconds": 0.0,
            "estimated_blur_after": facts["estimated_blur_before"],
            "sharpness_after": facts["sharpness_before"],
            "psf_identified": identified[1] if identified else None,
            "data_step": None,
            "kernel_source": None,
            "blind_psf": None,
            "safeguard": {"consistent": True, "status": "not run: output is the input", "explanation": SAFEGUARD_EXPLANATION},
            "pipeline_seconds": round(time.perf_counter() - started, 4),
        })
        return Restoration(y, y, facts)

    # the PSF the method works with (identified once, for methods that identify it)
    kernel_used, psf_facts = identified or timed("psf_identification", method.kernel_in_use, y, kernel)
    source = "given" if kernel is not None else "identified" if kernel_used is not None else "estimated"
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xraydeblur-psf") as side:
        # blind: the PSFs to re-blur with, estimated while the network runs
        blind = side.submit(timed, "blind_psf", blind_psf_candidates, y, evidence, learned) if kernel_used is None and (denoise < 1.0 or safeguard) else None
        # a given PSF: does the input's spectrum show it at all? (checked while the network runs)
        given = side.submit(timed, "given_psf_check", given_psf_check, y, kernel) if kernel is not None and safeguard else None
        with recording() as data_steps:
            estimate = np.asarray(timed("method", method, y, kernel=kernel_used), dtype=np.float32)
        candidates, blind_facts = blind.result() if blind is not None else ([blind_kernel(evidence)], None)
        given_check = given.result() if given is not None else None
    facts["inference_seconds"] = steps["method"]
    # the estimate re-blurred by the kernel: once, for the noise add-back and the safeguard
    reblurred = None
    if kernel_used is None:
        if denoise < 1.0 or safeguard:
            chosen, reblurred = timed("reblur", best_explaining_psf, y, estimate, candidates)
        else:
            chosen = 0
        kernel_used = candidates[chosen]
        if blind_facts is not None:
            blind_facts["used"] = chosen > 0
            source = "learned" if chosen > 0 else source
        if kernel_used is None:
            reblurred = None
    elif denoise < 1.0 or safeguard:
        reblurred = timed("reblur", blur, estimate, kernel_used, dtype=np.float32)

    def measure(out: np.ndarray) -> tuple[float | None, float | None]:
        after = evidence_of(out)["sigma_px"] if measure_output else None
        return after, (sharpness(out) if measure_sharpness else None)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xraydeblur-safeguard") as side:
        checked = side.submit(timed, "safeguard", safeguard_facts, y, estimate, kernel_used, source, with_map, reblurred) if safeguard else None
        out = timed("noise_add_back", keep_noise, y, estimate, kernel_used, denoise, reblurred)
        after, sharpness_after = timed("measure_output", measure, out)
        prepared = timed("while_checking", while_checking, out) if while_checking is not None else None
        report, residual_map = checked.result() if checked is not None else (None, None)
    facts.update({
        "unchanged": False,
        "psf_identified": psf_facts,
        "data_step": data_step_facts(data_steps),
        "kernel_source": source if kernel_used is not None else None,
        "blind_psf": blind_facts,
        "kernel_size": None if kernel_used is None else list(np.asarray(kernel_used).shape),
        "estimated_blur_after": None if after is None else _number(after, 3),
        "sharpness_after": None if sharpness_after is None else _number(sharpness_after, 6),
    })
    if given_check is not None:
        facts["given_psf_check"] = given_check
        if report is not None and given_check.get("contradicted"):
            report.update({"consistent": False, "given_psf_contradicted": True, "given_psf_fit_ratio": given_check["ratio"]})
            report["explanation"] = explain_safeguard(report)
    if report is not None:
        facts["safeguard"] = report
    facts["pipeline_seconds"] = round(time.perf_counter() - started, 4)
    if source == "identified" and report is not None and not report.get("consistent", True):
        # the method's own PSF gave a restoration the input contradicts: restore blind instead
        options = dict(denoise=denoise, force=force, safeguard=safeguard, with_map=with_map, measure_output=measure_output,
                       measure_sharpness=measure_sharpness, while_checking=while_checking)
        del out, estimate, reblurred, residual_map, prepared  # not held while the blind run works
        return blind_fallback(image, method, facts, options)
    return Restoration(out, estimate, facts, residual_map, kernel_used, prepared)


def blind_fallback(image: np.ndarray, method, rejected: dict, options: dict) -> Restoration:
    """The blind restoration of ``image`` (float (H, W) in [0, 1]) by ``method`` (a
    PSF-identifying :class:`xraydeblur.methods.Method`) with identification off, after
    its restoration under the PSF it identified failed the safeguard (``rejected``: that
    attempt's facts). A PSF found slightly off rings around high-contrast edges, and at
    some of them (an electrode, a lead marker) the data step does not fit the input at
    that noise even under the true PSF; the safeguard sees that the restoration does not
    explain the input there, and the blind network makes no such claim (how often, which
    cause, and at what cost: ``benchmarks/trials/psf_fallback.py``). The rule has no parameter: the method's own choice of PSF must
    pass the same check every output passes (a PSF the user gives is the user's choice
    and stays, its failure reported). ``options``: :func:`restore`'s keyword arguments.
    The facts are the blind run's, with ``psf_identified`` marked ``used: false`` and
    ``psf_rejected`` saying why; the seconds include the rejected attempt's."""
    import dataclasses

    result = restore(image, dataclasses.replace(method, identifies_psf=False), **options)
    first, failed = rejected["seconds_by_step"], rejected["safeguard"]
    facts = result.facts
    if facts["unchanged"]:
        facts["unchanged_reason"] = "the PSF identified was rejected (its restoration failed the safeguard) and the blur evidence alone shows no blur: the image is returned unchanged (force to deblur anyway)"
    facts["psf_identified"] = {**(rejected.get("psf_identified") or {}), "used": False}
    facts["psf_rejected"] = {
        "reason": "the restoration under the identified PSF failed the safeguard: restored blind instead",
        "safeguard": {key: failed.get(key) for key in ("score", "largest_flagged_region_px", "flagged_scales_px")},
        "seconds": rejected["pipeline_seconds"],
    }
    facts["seconds_by_step"] = {**{f"rejected_{key}": value for key, value in first.items()}, **facts["seconds_by_step"]}
    facts["inference_seconds"] = round(float(rejected.get("inference_seconds") or 0.0) + float(facts.get("inference_seconds") or 0.0), 4)
    facts["pipeline_seconds"] = round(float(rejected["pipeline_seconds"]) + float(facts["pipeline_seconds"]), 4)
    return result


def blind_psf_candidates(image: np.ndarray, evidence: dict, learned=None) -> tuple[list, dict | None]:
    """The PSFs a blind restoration of ``image`` (float (H, W) in [0, 1]) may be
    re-blurred with, for the noise add-back and the safeguard
    (:func:`best_explaining_psf` picks one once the restoration exists): the Gaussian of
    the blur evidence (:func:`blind_kernel`; None: no blur), and the straight motion the
    learned PSF estimator (:func:`xraydeblur.infer.learned_psf.estimate_learned_psf`,
    unrefined) finds when the no-blur rule trusts it
    (:func:`xraydeblur.classical.no_blur.trusted_straight_motion`). A
    Gaussian cannot describe motion; the estimator's Gaussians and disks are not offered
    (the evidence's Gaussian did as well on validation: ``benchmarks/trials/addback_kernel.py``).
    ``learned(image)``: the estimator's unrefined estimate, if the no-blur rule's motion
    cue already has it (:func:`xraydeblur.classical.no_blur.shared_learned_psf`); default:
    run it. Returns ``(candidates, the estimator's summary or None when the image is
    under 64 px and it did not run)``."""
    from .classical.no_blur import trusted_straight_motion, unrefined_learned_psf

    gaussian = blind_kernel(evidence)
    if min(image.shape) < 64:
        return [gaussian], None
    found = (learned or unrefined_learned_psf)(image)
    motion = trusted_straight_motion(found)
    return ([gaussian, found.kernel] if motion else [gaussian]), found.summary()


def best_explaining_psf(image: np.ndarray, estimate: np.ndarray, candidates: list) -> tuple[int, np.ndarray]:
    """Of the ``candidates`` (PSFs (K, K), or None for no blur), the index of the one under
    which the restoration ``estimate`` best explains ``image`` (both float (H, W) in
    [0, 1]): the smallest mean squared ``image - k * estimate`` away from the border (the
    widest candidate's size), and ``k * estimate`` (float32 (H, W)) for it.

    Under motion blur the evidence's Gaussian leaves the motion blur in the residual, and
    putting that back at denoise strength 0 re-blurred the output (validation crops at
    ``S = 0``: 9 px motion 37.31 dB with the Gaussian, 38.32 by this rule, 38.37 with the
    true PSF; ``benchmarks/trials/addback_kernel.py``); on an unblurred
    image where the estimator names a short motion, the Gaussian explains the input
    better and stays."""
    from .degrade import blur

    if len(candidates) == 1:
        k = candidates[0]
        return 0, (estimate if k is None else blur(estimate, k, dtype=np.float32))
    y = np.asarray(image, np.float32)
    b = max((k.shape[0] for k in candidates if k is not None), default=1)
    b = min(b, (min(y.shape) - 1) // 4)
    inner = (slice(b, y.shape[0] - b), slice(b, y.shape[1] - b))
    reblurred = [estimate if k is None else blur(estimate, k, dtype=np.float32) for k in candidates]
    errors = [float(np.mean(np.square(y[inner] - r[inner], dtype=np.float64))) for r in reblurred]
    best = int(np.argmin(errors))
    return best, reblurred[best]


def rejected_psf_note(facts: dict) -> str:
    """One line for a restoration whose identified PSF was rejected (:func:`blind_fallback`),
    "" otherwise (``facts``: :func:`restore`'s)."""
    rejected = facts.get("psf_rejected")
    if not rejected:
        return ""
    found = (facts.get("psf_identified") or {}).get("label", "the PSF identified")
    check = rejected.get("safeguard") or {}
    return (f"{found} identified but not used: the restoration under it failed the safeguard (score {check.get('score')}, "
            f"largest flagged region {check.get('largest_flagged_region_px')} px); restored blind")


def safeguard_facts(degraded: np.ndarray, estimate: np.ndarray, kernel, source: str, with_map: bool, reblurred: np.ndarray | None = None) -> tuple[dict, np.ndarray | None]:
    """The safeguard's JSON-safe report (with its explanation) and its map (or None);
    ``reblurred``: ``kernel * estimate`` when already computed (with a kernel only)."""
    from .degrade import gaussian_kernel
    from .safeguard import check_consistency

    k = kernel if kernel is not None else gaussian_kernel(0.3)
    raw = check_consistency(degraded, estimate, kernel=k, kernel_source=source, with_map=with_map, reblurred=reblurred if kernel is not None else None)
    residual_map = raw.pop("residual_map", None)
    report = {key: (_number(value, 6) if isinstance(value, (float, np.floating)) else value.item() if isinstance(value, np.generic) else value) for key, value in raw.items()}
    report["explanation"] = explain_safeguard(report)
    return report, residual_map


def explain_safeguard(report: dict) -> str:
    """The safeguard's verdict in words: what the score means, the threshold, and what
    to do when it fails (for the CLI report, the API answer and the page)."""
    from .classical.given_psf import MAX_FIT_RATIO
    from .safeguard import MIN_REGION_PX, SCALES_PX

    verdict = "passed" if report.get("consistent") else "FAILED"
    absent = (
        f" The given blur is not in the input: its power spectrum is explained {report.get('given_psf_fit_ratio')} times worse "
        f"with that blur than with none (more than {MAX_FIT_RATIO} fails). Undoing a blur that is not there amplifies noise and fine "
        "detail into texture that the re-blurred check cannot see; check the blur given, or use the default (blind) method."
        if report.get("given_psf_contradicted") else ""
    )
    flagged = report.get("flagged_scales_px") or []
    where = (f"flagged at the {', '.join(f'{s} px' for s in flagged)} scale{'s' if len(flagged) > 1 else ''}, largest region "
             f"{report.get('largest_flagged_region_px')} px" if flagged else "no region flagged at any scale")
    unjudged = [f"{n} px of burned-in overlays" for n in [report.get("overlay_px")] if n] + [
        f"{n} px clipped at the ends of the stored range" for n in [report.get("clipped_px")] if n] + [
        f"{n} px of the restoration saturated beside a saturated input" for n in [report.get("restored_clipped_px")] if n]
    skipped = f" Not judged (nor a kernel radius around them): {' and '.join(unjudged)}." if unjudged else ""
    return (
        f"Safeguard {verdict}. {SAFEGUARD_EXPLANATION} The residual is averaged over windows of "
        f"{', '.join(str(s) for s in SCALES_PX)} px; a region is flagged where it exceeds {report.get('threshold')} times "
        f"what noise and a small kernel error explain, over at least {MIN_REGION_PX} window-grid pixels: {where}. "
        f"Score {report.get('score')}: the residual's RMS over what noise explains (about 1 for an honest restoration).{skipped}{absent}"
    )

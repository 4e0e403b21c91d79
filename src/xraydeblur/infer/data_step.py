"""Data-consistency step of the kernel-aware flagship: when the blur is known, the
network's output is corrected so that, re-blurred, it explains the input.

The shipped ``nafnet-kernel`` is the blind flagship's network followed by this step
(:mod:`xraydeblur.models.registry`, kernel-aware variants): one network, and the known
kernel enters through the step, an unrolled Wiener correction.

``x = argmin ||M (k * x) - y||^2 + b * ||D (x - z)||^2`` with ``z`` the network output
(:func:`xraydeblur.classical.wiener_correction`). How large ``b`` is depends first on the
noise, measured where the kernel leaves no signal
(:func:`xraydeblur.classical.kernel_noise_sigma`, rounding noise included):

* a known kernel, or the PSF ``nafnet-auto`` identifies, gets the learned step
  (:func:`xraydeblur.infer.learned_step.learned_step`) at any noise level: a small
  network, trained under no to strong noise, blends table-free corrections and Wiener
  solves at multiples of the MMSE balance at the measured noise; no table per family,
  noise level or bit depth. On input with noise beyond its rounding (:func:`is_noise_free`
  false: every real radiograph) its solves stop after the step's own noisy cap
  (:func:`xraydeblur.infer.learned_step.noisy_iterations`), the candidates solved as one
  regularisation path (:func:`xraydeblur.classical.wiener_path`). On noisy validation
  crops (2e3 to 3e6 photons per pixel, float to 8 bit) it scored -0.02 to +0.83 dB per
  row against Morozov's rule below (mean of 3 images; worst crop -0.23 dB;
  ``benchmarks/trials/data_step_noise.py --learned``,
  ``benchmarks/results/trials/data_step_noise-learned-any-noise.json``);
* otherwise (``learned=False``: ``nafnet-psf``, chosen and scored with the tables),
  input with any noise beyond its rounding gets Morozov's discrepancy principle
  (:func:`morozov_correction`): ``z`` itself if it explains the input up to that noise,
  else the weakest correction that does, from gains of the MMSE balance at that noise.
  No tuned table; it never fits the noise, so it cannot amplify it;
* and noise-free input gets the tuned Wiener balance for this
  image and kernel (:func:`xraydeblur.classical.tuned_balance`) times a gain from
  :data:`IDENTIFIED_GAINS`, then :data:`GAINS`, looked up by the class of the input (:func:`step_class`): the blur
  family read off the kernel (:func:`xraydeblur.classical._defaults.kernel_family`),
  "-wide" when the kernel's RMS radius exceeds :data:`WIDE_KERNEL_PX`, and the bit depth
  its values lie on ("+8bit" to "+12bit"). ``None`` means no step. So on a noise-free
  image the step restores what a blind prior cannot (a known 9 px motion path).

The "+noise" entries of :data:`GAINS` (the benchmark's 2000-photon noise) are no longer
used by :func:`data_step`: such input goes to Morozov's rule, which scored the same on
those validation rows (within 0.06 dB, ``benchmarks/trials/data_step_noise.py``); they
stay for ``benchmarks/data_step_gain.py``, which scores the tables.

The gains were chosen on the validation split (all 60 images x 14 benchmark
degradations, 256 px crops; never the test split) by ``python benchmarks/data_step_gain.py``
(``--quantise8`` / ``--quantise-bits 10|12`` for the "+8bit" / "+10bit" / "+12bit"
classes, ``--identified`` for :data:`IDENTIFIED_GAINS`); its JSONs
(``benchmarks/results/data_step_gain*.json``) hold the scores, a test checks that
:data:`GAINS` agrees with them, and docs/results.md (section 10) tabulates them.
Why these shapes: smaller gains (a stronger pull towards the data) win for narrow
kernels, whose inversion is well conditioned, wide kernels need more of the network's
prior, hence the "-wide" classes; with noise the network output already explains the
input and pulling it towards the noisier Wiener solution costs, hence large gains or no
step; rounded input (8-12 bit) carries rounding noise the noise estimate misses, hence
its own classes, whose balance is the classical Wiener's for that bit depth.
"""

from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import numpy as np

#: what the data steps run in the current context did (:func:`recording`); None: not recorded
_RECORD: ContextVar[list | None] = ContextVar("xraydeblur_data_step_record", default=None)


@contextmanager
def recording():
    """Collect what every :func:`data_step` run inside the block did, for reports.

    Yields a list that receives one dict per data step (a method runs one per image):
    ``rule`` ("learned": the learned step, with ``noisy`` true when the input was not
    noise-free and its solves were capped; "morozov": the noisy-input rule of the
    table-scored variant; "tuned": the noise-free table),
    ``noise_sigma`` (measured noise, rms in [0, 1] units of full scale),
    ``noise_free_below`` (the :func:`is_noise_free` threshold for this input), and for
    "morozov" ``gain`` (times the MMSE balance; None when the network output already
    explained the input and no correction was made), for "tuned" ``step_class`` and
    ``gain`` (the :data:`GAINS` entry, as text). The record is per context (thread or
    task), so concurrent requests do not mix.

    >>> import numpy as np
    >>> from xraydeblur.degrade import gaussian_kernel
    >>> k = gaussian_kernel(1.5)
    >>> with recording() as steps:
    ...     _ = data_step(np.full((64, 64), 0.5, np.float32), np.full((64, 64), 0.5, np.float32), k)
    >>> steps[0]["rule"], steps[0]["noisy"]
    ('learned', False)
    """
    steps: list = []
    token = _RECORD.set(steps)
    try:
        yield steps
    finally:
        _RECORD.reset(token)


def _note(**facts) -> None:
    """Add ``facts`` to the current data step's record (no-op outside :func:`recording`)."""
    steps = _RECORD.get()
    if steps is not None:
        new = facts.pop("_new", False)  # popped first: never a fact of its own
        if new or not steps:
            steps.append({})
        steps[-1].update(facts)


#: the mean squared residual ``(k * x - y)^2`` a consistent estimate may leave, in units
#: of the estimated noise variance: Morozov's ``tau**2`` (tau slightly above 1 is the
#: textbook safety margin for an inexact noise estimate). Chosen on validation by
#: ``benchmarks/data_step_gain.py`` (its ``discrepancy_target``; a test checks they agree)
DISCREPANCY_TARGET = 1.05
#: rule name in :data:`GAINS`: the discrepancy rule with the signal-dependent
#: (Poisson-Gaussian) noise model and Morozov's textbook target 1 (not tuned: the
#: per-pixel model is meant to state the noise level correctly)
DISCREPANCY_PG = "discrepancy-pg"
#: gains tried by :func:`discrepancy_correction`, weakest correction first
DISCREPANCY_GAINS = (100.0, 30.0, 10.0, 3.0, 1.0)
#: rule name in :data:`GAINS`: choose the gain per image by :func:`discrepancy_correction`
DISCREPANCY = "discrepancy"

#: conjugate-gradient iterations of the data step's masked Wiener solve. The step's
#: balance is small on noise-free input, where the solve converges slowly: on
#: validation, 200 iterations gave more than the 50 of :func:`xraydeblur.classical.wiener`
#: (``benchmarks/data_step_gain.py --cg-iterations``; its JSON's ``cg_iterations`` is
#: this value, a test checks they agree). With noise the larger balance converges early.
CG_ITERATIONS = 200

#: conjugate-gradient iterations of the step on noisy input ("+noise" classes): the
#: noise sets a large balance, the system is well conditioned and converges early
#: (``benchmarks/trials/cg_iterations_trial.py``, results in
#: ``benchmarks/results/trials/cg_iterations*.json``). Noise-free input keeps
#: :data:`CG_ITERATIONS`, also with the large gains of 8-bit and identified-PSF classes:
#: their tiny noise-free balance converges slowly near the image borders.
CG_ITERATIONS_NOISY = 20

#: rule-name prefix in :data:`GAINS`: ``"weighted G"`` = balance gain G with the data term
#: weighted per pixel by the inverse Poisson-Gaussian noise variance (relative to its mean)
WEIGHTED = "weighted"

#: balance gain (times the tuned Wiener balance) per run-time class; None = no step;
#: "discrepancy" = per image, by :func:`discrepancy_correction`; "discrepancy-pg" = the
#: same with the Poisson-Gaussian noise model; "weighted G" = :func:`weighted_correction`
GAINS: dict[str, float | str | None] = {
    "disk": 0.01,
    "disk+noise": None,
    "gaussian": 0.01,
    "gaussian+noise": 100.0,
    "gaussian-wide": 0.03,
    "gaussian-wide+noise": 100.0,
    "motion": 0.01,
    "motion+noise": 30.0,
    "motion-wide": 0.1,
    "motion-wide+noise": 3.0,
    # 8-bit rounded, otherwise noise-free input (benchmarks/results/data_step_gain-8bit.json)
    "disk+8bit": 3.0,
    "gaussian+8bit": 1.0,
    "gaussian-wide+8bit": None,
    "motion+8bit": 1.0,
    "motion-wide+8bit": 1.0,
    # 10- and 12-bit rounded (a DICOM's BitsStored), otherwise noise-free input
    # (benchmarks/results/data_step_gain-10bit.json, -12bit.json)
    "disk+10bit": 3.0,
    "gaussian+10bit": 1.0,
    "gaussian-wide+10bit": 1.0,
    "motion+10bit": 1.0,
    "motion-wide+10bit": 3.0,
    "disk+12bit": 0.1,
    "gaussian+12bit": 0.3,
    "gaussian-wide+12bit": 0.3,
    "motion+12bit": 0.1,
    "motion-wide+12bit": 0.3,
}

#: gains for a PSF *identified* from the image (``nafnet-psf``) rather than known: chosen
#: on validation with the identified PSFs, per class the best mean among the gains whose
#: worst sample lost at most :data:`IDENTIFIED_MAX_LOSS_DB` against the blind network
#: (``python benchmarks/data_step_gain.py --identified ... --max-loss``,
#: ``benchmarks/results/data_step_gain-identified.json``): a slightly wrong PSF makes a
#: small gain ring. Noise-free float classes only; the others use :data:`GAINS`.
IDENTIFIED_GAINS: dict[str, float | str | None] = {
    "disk": None,  # a mis-sized disk makes every gain ring past the loss bound
    "gaussian": 3.0,  # cautious: the best-mean gain lost beyond the bound on one crop
    "gaussian-wide": 0.03,
    "motion": 0.01,
    "motion-wide": 0.03,
}
IDENTIFIED_MAX_LOSS_DB = 1.0

#: RMS radius of the PSF (px, :func:`kernel_rms_radius`) above which a kernel is "wide"
#: and the data step looks its gain up under ``"<family>-wide"``. It lies between the
#: benchmark's 2.7-2.8 px (Gaussian sigma 2, 9 px motion) and 4.2-4.4 px (sigma 3,
#: 15 px motion); a uniform disk of radius 2 px is 1.5 px
WIDE_KERNEL_PX = 3.5


def cg_iterations_for(key: str) -> int:
    """Conjugate-gradient iterations of a data-step solve for the :func:`step_class`
    ``key``: :data:`CG_ITERATIONS_NOISY` for a "+noise" class, else :data:`CG_ITERATIONS`."""
    return CG_ITERATIONS_NOISY if key.endswith("+noise") else CG_ITERATIONS


def kernel_rms_radius(kernel: np.ndarray) -> float:
    """Root-mean-square distance (px) of the PSF's mass from its centroid: about
    sigma * sqrt(2) for an isotropic Gaussian, length / sqrt(12) for straight motion,
    radius / sqrt(2) for a uniform disk."""
    k = np.clip(np.asarray(kernel, np.float64), 0.0, None)
    k = k / k.sum()
    yy, xx = np.indices(k.shape, dtype=np.float64)
    my, mx = (k * yy).sum(), (k * xx).sum()
    return float(np.sqrt((k * ((yy - my) ** 2 + (xx - mx) ** 2)).sum()))


def step_class(image: np.ndarray, kernel: np.ndarray) -> str:
    """The class :data:`GAINS` is keyed by: the run-time class of
    :func:`xraydeblur.classical._defaults.run_time_class` (blur family, then "+noise",
    or "+8bit" / "+10bit" / "+12bit" for an image that is not noisy but holds values of
    that bit depth: its rounding noise is invisible to the noise estimate but not to
    the inverse), with "-wide" after the
    family when the kernel's RMS radius exceeds :data:`WIDE_KERNEL_PX`, e.g.
    ``"motion-wide+noise"``."""
    from ..classical._defaults import run_time_class

    family, plus, noise = run_time_class(image, kernel).partition("+")
    wide = "-wide" if kernel_rms_radius(kernel) > WIDE_KERNEL_PX else ""
    return family + wide + plus + noise


def gain_for(key: str, identified: bool = False) -> float | str | None:
    """The :data:`GAINS` rule of a :func:`step_class` key (:data:`IDENTIFIED_GAINS`
    first when the PSF was ``identified``); a class validation had no sample of (e.g. a
    wide disk) falls back to the same family and noise class without "-wide", and a bit
    depth without its own gains (9 or 11 bit) to the next coarser one
    (:func:`xraydeblur.classical._defaults.coarser_classes`)."""
    from ..classical._defaults import coarser_classes

    for table in (IDENTIFIED_GAINS, GAINS) if identified else (GAINS,):
        for quantised in coarser_classes(key):
            for candidate in (quantised, quantised.replace("-wide", "")):
                if candidate in table:
                    return table[candidate]
    return None


def data_step(
    blurred: np.ndarray, estimate: np.ndarray, kernel: np.ndarray, observed: np.ndarray | None = None, identified: bool = False, learned: bool = True,
    step_stem: str | Path | None = None,
) -> np.ndarray:
    """Correct ``estimate`` (H, W) in [0, 1] towards consistency with ``blurred`` (H, W)
    under the PSF ``kernel`` (K, K), known or (``identified``) found from the image.
    ``observed`` (H, W) in [0, 1], optional: data-term weight per pixel, 0 where
    ``blurred`` is not an observation (a burned-in overlay filled in,
    :func:`xraydeblur.overlay.run_around_overlays`); those pixels are left to the
    estimate. Returns float32 (H, W) in [0, 1].

    The noise is measured where the kernel leaves no signal
    (:func:`xraydeblur.classical.kernel_noise_sigma`, rounding noise included). With
    ``learned`` (and not ``identified``) every input gets the learned step
    (:func:`xraydeblur.infer.learned_step.learned_step`: no table) at that noise, its
    solves capped at the step's noisy cap
    (:func:`xraydeblur.infer.learned_step.noisy_iterations`) when the input is not
    noise-free up to its rounding (:func:`is_noise_free`). Otherwise (the PSF-identifying
    variant ``nafnet-psf``, chosen and scored with the tables) the noise decides:
    noise-free input gets the class's tuned gain (:data:`IDENTIFIED_GAINS` when it was
    ``identified`` from the image, then :data:`GAINS`), any other
    :func:`morozov_correction` at that noise level, which never fits the noise, from
    gains of the balance that is MMSE-optimal at that noise level
    (:func:`xraydeblur.classical.estimate_balance`: no tuned table). ``step_stem``: the
    learned step's weights (``NAME.safetensors`` + ``NAME.json``; default the shipped
    ones), e.g. one trained with a source held out."""
    from ..classical import kernel_noise_sigma

    noise = kernel_noise_sigma(blurred, kernel)
    threshold = noise_free_threshold(blurred)
    _note(_new=True, noise_sigma=float(noise), noise_free_below=threshold)
    noisy = noise > threshold
    if learned and not identified:
        from .learned_step import learned_step, noisy_iterations

        _note(rule="learned", noisy=bool(noisy))
        cap = noisy_iterations(step_stem) if noisy else None
        return learned_step(blurred, estimate, kernel, observed=observed, noise_sigma=noise, stem=step_stem, max_iterations=cap, path=bool(noisy))
    if noisy:
        from ..classical import estimate_balance

        _note(rule="morozov")
        balance = estimate_balance(blurred, kernel, "gradient", noise_sigma=noise)
        return morozov_correction(blurred, estimate, kernel, noise, balance, "gradient", observed=observed)
    key = step_class(blurred, kernel)
    rule = gain_for(key, identified)
    _note(rule="tuned", step_class=key, gain=None if rule is None else str(rule))
    return apply_rule(rule, blurred, estimate, kernel, observed=observed, key=key)


#: the most noise :func:`xraydeblur.classical.kernel_noise_sigma` reads on noise-free
#: input besides its rounding noise ([0, 1] units): on the 336 noise-free validation
#: crops of the benchmark (12 images x 7 blurs x float / 8 / 10 / 12 bit, 256 px) at most
#: 2.4e-4, on motion-blurred Hannover radiographs, whose grain survives where the blur is
#: weak but not zero; the median is 7e-5
NOISE_FLOOR = 2e-4
#: margin of :func:`is_noise_free` over the noise expected of noise-free input
NOISE_FREE_MARGIN = 1.5


def is_noise_free(image: np.ndarray, noise_sigma: float) -> bool:
    """True when ``noise_sigma`` (measured by :func:`xraydeblur.classical.kernel_noise_sigma`)
    is at most :data:`NOISE_FREE_MARGIN` times what noise-free input of ``image``'s bit
    depth reads: its rounding noise (:func:`xraydeblur.classical.rounding_sigma` of
    :func:`xraydeblur.classical.quantisation_bits`) and :data:`NOISE_FLOOR` in
    quadrature. Thresholds: 3.0e-4 for float input, 3.2e-4 at 12 bit, 5.2e-4 at 10 bit,
    1.7e-3 at 8 bit. The tuned gains of :data:`GAINS` assume such input; on validation
    crops with noise far weaker than the benchmark's 0.019 rms they lost up to 23 dB
    against the blind network (``benchmarks/trials/data_step_noise.py``). Noise below
    these thresholds (more than about 1e7 photons per pixel at full scale, far above
    what a detector delivers) still takes them."""
    return noise_sigma <= noise_free_threshold(image)


def noise_free_under(image: np.ndarray, kernel: np.ndarray) -> bool:
    """Whether :func:`data_step` takes ``image`` (H, W in [0, 1]) as noise-free under
    ``kernel`` (K, K): :func:`is_noise_free` at the noise
    :func:`xraydeblur.classical.kernel_noise_sigma` measures there (the benchmarks re-use
    earlier results for such cases when only the noisy-input step changed)."""
    from ..classical import kernel_noise_sigma

    return is_noise_free(image, kernel_noise_sigma(image, kernel))


def noise_free_threshold(image: np.ndarray) -> float:
    """The most noise (rms, [0, 1] units) :func:`is_noise_free` accepts for ``image``
    (H, W): :data:`NOISE_FREE_MARGIN` x (its rounding noise and :data:`NOISE_FLOOR` in
    quadrature)."""
    from ..classical._common import quantisation_bits, rounding_sigma

    return NOISE_FREE_MARGIN * float(np.hypot(rounding_sigma(quantisation_bits(image)), NOISE_FLOOR))


#: balance gains :func:`morozov_correction` chooses from (times the MMSE balance at the
#: measured noise), weakest correction first. The network's output is already close, so
#: the best gain lies well above 1 (30-100 on a noisy 12-bit DICOM); below 0.1 the
#: 20-iteration solve no longer converges and its residual stops falling with the gain
MOROZOV_GAINS = (1000.0, 300.0, 100.0, 30.0, 10.0, 3.0, 1.0, 0.3, 0.1)
#: the mean squared residual a corrected estimate must leave, in units of the noise
#: variance: Morozov's discrepancy principle with target 1 (validation crops: 1.0 scored
#: best among 0.5 / 0.8 / 1 / 1.05 / 1.2 / 1.5 and, from 1.0 up, never below the
#: blind network; ``benchmarks/trials/data_step_noise.py``)
MOROZOV_TARGET = 1.0


#: images of more than twice this side squared choose :func:`morozov_correction`'s gain
#: on their central ``MOROZOV_SELECTION_SIDE`` x ``MOROZOV_SELECTION_SIDE`` px and then
#: solve the whole image once: the residual ratio is a mean over the image, and each
#: trial solve on a 4-megapixel image costs about 2 s
MOROZOV_SELECTION_SIDE = 1024


def morozov_correction(
    blurred: np.ndarray,
    estimate: np.ndarray,
    kernel: np.ndarray,
    noise_sigma: float,
    balance: float,
    regulariser: str,
    observed: np.ndarray | None = None,
    cg_iterations: int = CG_ITERATIONS_NOISY,
    gains: tuple[float, ...] = MOROZOV_GAINS,
    target: float = MOROZOV_TARGET,
    selection_side: int = MOROZOV_SELECTION_SIDE,
) -> np.ndarray:
    """The data step by Morozov's discrepancy principle at a measured noise level:
    ``estimate`` itself when, re-blurred, it explains ``blurred`` up to the noise
    (:func:`residual_ratio` against ``noise_sigma`` at most ``target``), else the
    correction (:func:`xraydeblur.classical.wiener_correction`, balance ``balance`` times a
    gain) with the largest gain of ``gains`` that does, found by bisection (the residual
    grows with the gain), or the smallest gain if none does. A corrected image never
    fits the data closer than the noise, so the noise is not amplified into the image.
    ``observed``: as in :func:`data_step`; ``cg_iterations`` of each solve (default
    :data:`CG_ITERATIONS_NOISY`: on validation crops 20 and 200 iterations chose the same
    gains within 0.01 dB). An image of more than ``2 * selection_side**2`` pixels chooses
    the gain on its central ``selection_side`` px square and is then solved once.
    Returns float32 (H, W) in [0, 1]."""
    from ..classical import wiener_correction

    out = np.clip(np.asarray(estimate, np.float32), 0.0, 1.0)
    if residual_ratio(blurred, out, kernel, noise_sigma, observed=observed) <= target:
        _note(gain=None)
        return out

    def solve(y, z, w, gain):
        return wiener_correction(y, z, kernel, balance * gain, regulariser, cg_iterations=cg_iterations, weights=w)

    h, w = blurred.shape
    whole = h * w <= 2 * selection_side * selection_side
    y0, x0 = max(0, (h - selection_side) // 2), max(0, (w - selection_side) // 2)
    box = (slice(None), slice(None)) if whole else (slice(y0, y0 + selection_side), slice(x0, x0 + selection_side))
    weights = None if observed is None else observed[box]
    i, solved = _morozov_choice(lambda g: solve(blurred[box], estimate[box], weights, g), blurred[box], kernel, noise_sigma, weights, gains, target)
    _note(gain=float(gains[i]))
    return solved if whole else solve(blurred, estimate, observed, gains[i])


def _morozov_choice(solve, blurred, kernel, noise_sigma, observed, gains, target) -> tuple[int, np.ndarray]:
    """(index into ``gains``, its solution) of :func:`morozov_correction`'s rule, with
    ``solve(gain)`` the correction of ``blurred`` at that gain."""
    solved: dict[int, np.ndarray] = {}

    def fits(i: int) -> bool:
        solved[i] = solve(gains[i])
        return residual_ratio(blurred, solved[i], kernel, noise_sigma, observed=observed) <= target

    if fits(0):  # the usual case on noisy input: one solve
        return 0, solved[0]
    lo, hi = 1, len(gains) - 1  # invariant: every gain before lo fails; the answer is at most hi
    if not fits(hi):
        return hi, solved[hi]
    while lo < hi:
        mid = (lo + hi) // 2
        if fits(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi, solved[hi]


def apply_rule(
    rule: float | str | None,
    blurred: np.ndarray,
    estimate: np.ndarray,
    kernel: np.ndarray,
    balance: tuple | None = None,
    observed: np.ndarray | None = None,
    key: str | None = None,
) -> np.ndarray:
    """One data-step rule as :data:`GAINS` names it: None (no step), a balance gain,
    ``"discrepancy"``, ``"discrepancy-pg"`` or ``"weighted G"``. ``balance``: the
    ``(balance, regulariser)`` of :func:`xraydeblur.classical.tuned_balance` if already computed; ``observed``:
    as in :func:`data_step`; ``key``: the input's :func:`step_class` if already known
    (it sets the solve's iterations, :func:`cg_iterations_for`). Returns float32 (H, W)
    in [0, 1]."""
    from ..classical import tuned_balance, wiener_correction

    if rule is None:
        return np.clip(np.asarray(estimate, np.float32), 0.0, 1.0)
    balance, regulariser = balance or tuned_balance(blurred, kernel)
    iterations = cg_iterations_for(key or step_class(blurred, kernel))
    if rule == DISCREPANCY:
        return discrepancy_correction(blurred, estimate, kernel, balance, regulariser, observed=observed, cg_iterations=iterations)
    if rule == DISCREPANCY_PG:
        return discrepancy_correction(
            blurred, estimate, kernel, balance, regulariser, target=1.0, noise_model="poisson-gaussian", observed=observed, cg_iterations=iterations
        )
    if isinstance(rule, str) and rule.startswith(WEIGHTED):
        gain = float(rule.split()[1])
        return weighted_correction(blurred, estimate, kernel, balance * gain, regulariser, observed, iterations)
    return wiener_correction(blurred, estimate, kernel, balance * rule, regulariser, cg_iterations=iterations, weights=observed)


def weighted_correction(
    blurred: np.ndarray,
    estimate: np.ndarray,
    kernel: np.ndarray,
    balance: float,
    regulariser: str,
    observed: np.ndarray | None = None,
    cg_iterations: int = CG_ITERATIONS,
) -> np.ndarray:
    """:func:`xraydeblur.classical.wiener_correction` with the data term weighted per
    pixel by the mean over the local Poisson-Gaussian noise variance
    (:func:`xraydeblur.classical.noise_variance_map`): weighted least squares for
    signal-dependent noise, trusting dark (less noisy) pixels more; times ``observed``
    (as in :func:`data_step`) if given. Float32 (H, W)."""
    from ..classical import noise_variance_map, wiener_correction

    variance = noise_variance_map(blurred)
    weights = variance.mean() / variance
    return wiener_correction(blurred, estimate, kernel, balance, regulariser, cg_iterations, weights=weights if observed is None else weights * observed)


def residual_ratio(
    blurred: np.ndarray, estimate: np.ndarray, kernel: np.ndarray, noise_sigma: float | np.ndarray, border: int = 8, observed: np.ndarray | None = None
) -> float:
    """Mean of the squared residual ``(k * estimate - blurred)^2`` over the interior
    (``border`` px excluded) divided by the noise variance: ``noise_sigma**2`` for a
    scalar, or per pixel for an (H, W) map of standard deviations. About 1 for an
    estimate that explains the input up to the noise, more when it does not.
    ``observed`` (H, W) weights the mean (0: a pixel that is not an observation). On an
    image under ``4 * border`` px the border shrinks to a quarter of its side."""
    from ..degrade import blur

    border = min(border, (min(np.shape(blurred)) - 1) // 4)  # a tiny image keeps an interior
    inner = (slice(border, -border or None), slice(border, -border or None))
    residual = (blur(estimate, kernel) - blurred)[inner].astype(np.float64)
    sigma = np.maximum(np.asarray(noise_sigma, np.float64), 1e-6)
    variance = (sigma[inner] if sigma.ndim == 2 else sigma) ** 2
    ratio = residual**2 / variance
    if observed is None:
        return float(np.mean(ratio))
    weight = np.asarray(observed, np.float64)[inner]
    return float((ratio * weight).sum() / max(weight.sum(), 1e-12))


def discrepancy_correction(
    blurred: np.ndarray,
    estimate: np.ndarray,
    kernel: np.ndarray,
    balance: float,
    regulariser: str,
    target: float | None = None,
    noise_model: str = "white",
    observed: np.ndarray | None = None,
    cg_iterations: int = CG_ITERATIONS,
) -> np.ndarray:
    """Morozov's discrepancy principle for the data step: ``estimate`` itself when it
    already explains ``blurred`` up to the noise (:func:`residual_ratio` at most
    ``target``, default :data:`DISCREPANCY_TARGET`), else the correction with the
    largest gain of :data:`DISCREPANCY_GAINS` that does (the smallest gain if none
    does). So a denoised network output that is already consistent is not pulled
    towards a noisier Wiener solution.

    ``noise_model``: ``"white"`` (default) judges the residual
    against one robust noise level for the whole image
    (:func:`xraydeblur.classical.estimate_noise_sigma`); ``"poisson-gaussian"``
    against a per-pixel level that grows with brightness
    (:func:`xraydeblur.classical.noise_variance_map`). X-ray quantum noise is
    signal-dependent: one median level under-states it in bright regions, which then
    look inconsistent and get over-corrected. ``observed``: as in :func:`data_step`;
    ``cg_iterations``: of each solve (:func:`cg_iterations_for`).
    Returns float32 (H, W) in [0, 1]."""
    from ..classical import estimate_noise_sigma, noise_variance_map, wiener_correction

    target = DISCREPANCY_TARGET if target is None else target
    if noise_model == "white":
        sigma = estimate_noise_sigma(blurred)
    elif noise_model == "poisson-gaussian":
        sigma = np.sqrt(noise_variance_map(blurred))
    else:
        raise ValueError(f"unknown noise model {noise_model!r}: 'white' or 'poisson-gaussian'")
    out = np.clip(np.asarray(estimate, np.float32), 0.0, 1.0)
    if residual_ratio(blurred, out, kernel, sigma, observed=observed) <= target:
        return out
    for gain in DISCREPANCY_GAINS:
        out = wiener_correction(blurred, estimate, kernel, balance * gain, regulariser, cg_iterations=cg_iterations, weights=observed)
        if residual_ratio(blurred, out, kernel, sigma, observed=observed) <= target:
            break
    return out

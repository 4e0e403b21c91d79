"""Data-consistency step of the kernel-aware network: when the blur is known, the
network's output is corrected so that, re-blurred, it explains the input.

``x = argmin ||M (k * x) - y||^2 + b * ||D (x - z)||^2`` with ``z`` the network output
(:func:`xraydeblur.classical.wiener_correction`). ``b`` is the tuned Wiener balance for
this image and kernel (noise-adaptive, :func:`xraydeblur.classical.estimate_balance`)
times a gain from :data:`GAINS`, looked up by the run-time class of the input: the blur
family read off the kernel (:func:`xraydeblur.classical._defaults.kernel_family`) and
"+noise" when the image is judged noisy (:func:`xraydeblur.classical._defaults.is_noisy`).
``None`` means no step (the network output is returned). So on a noise-free image the
step restores what a blind prior cannot (a known 9 px motion path), and on a noisy one
it leaves the network's denoised estimate (nearly) untouched.

The gains were chosen on the validation split (12 images x 14 benchmark degradations,
256 px crops; the test split was not used), with ``z`` the kernel-aware network's own
output, by ``python benchmarks/data_step_gain.py --out benchmarks/results/data_step_gain.json``
(its ``gains`` are copied here; a test checks that they agree). For noisy motion and disk
blur the per-image discrepancy rule (:func:`discrepancy_correction`) won over every
fixed gain: a fixed gain pulls a smooth network output that already explains the input
towards the noisier Wiener solution. Mean validation PSNR (dB)
per class of the blind flagship, of ``z`` alone, of Wiener with the true kernel and of
``z`` after the step with the chosen gain:

==============  =======  =====  =====  ======  ===========  ==============
class           samples  blind  z      Wiener  gain         z + data step
==============  =======  =====  =====  ======  ===========  ==============
disk                 12  40.51  41.13   49.70  0.03         53.96
disk+noise           12  37.78  37.78   37.26  discrepancy  37.79
gaussian             36  39.34  39.75   42.17  0.1          43.17
gaussian+noise       36  37.01  37.02   36.56  100          37.02
motion               36  37.51  38.22   45.92  0.1          47.78
motion+noise         36  36.47  36.56   36.50  discrepancy  36.76
==============  =======  =====  =====  ======  ===========  ==============
"""

import numpy as np

#: the mean squared residual ``(k * x - y)^2`` a consistent estimate may leave, in units
#: of the estimated noise variance: Morozov's ``tau**2`` (tau slightly above 1 is the
#: textbook safety margin for an inexact noise estimate). Chosen on validation by
#: ``benchmarks/data_step_gain.py`` (its ``discrepancy_target``; a test checks they agree)
DISCREPANCY_TARGET = 1.0
#: gains tried by :func:`discrepancy_correction`, weakest correction first
DISCREPANCY_GAINS = (100.0, 30.0, 10.0, 3.0, 1.0)
#: rule name in :data:`GAINS`: choose the gain per image by :func:`discrepancy_correction`
DISCREPANCY = "discrepancy"

#: balance gain (times the tuned Wiener balance) per run-time class; None = no step;
#: "discrepancy" = per image, by :func:`discrepancy_correction`
GAINS: dict[str, float | str | None] = {"disk": 0.03, "disk+noise": DISCREPANCY, "gaussian": 0.1, "gaussian+noise": 100.0, "motion": 0.1, "motion+noise": DISCREPANCY}


def data_step(blurred: np.ndarray, estimate: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correct ``estimate`` (H, W) in [0, 1] towards consistency with ``blurred`` (H, W)
    under the known PSF ``kernel`` (K, K). Returns float32 (H, W) in [0, 1]."""
    from ..classical import tuned_balance, wiener_correction
    from ..classical._defaults import is_noisy, kernel_family

    key = kernel_family(kernel) + ("+noise" if is_noisy(blurred) else "")
    gain = GAINS.get(key, GAINS.get(key.split("+")[0]))
    if gain is None:
        return np.clip(np.asarray(estimate, np.float32), 0.0, 1.0)
    balance, regulariser = tuned_balance(blurred, kernel)
    if gain == DISCREPANCY:
        return discrepancy_correction(blurred, estimate, kernel, balance, regulariser)
    return wiener_correction(blurred, estimate, kernel, balance * gain, regulariser)


def residual_ratio(blurred: np.ndarray, estimate: np.ndarray, kernel: np.ndarray, noise_sigma: float, border: int = 8) -> float:
    """Mean squared residual ``(k * estimate - blurred)^2`` over the interior (``border``
    px excluded), divided by ``noise_sigma**2``: about 1 for an estimate that explains
    the input up to the noise, more when it does not."""
    from ..degrade import blur

    residual = (blur(estimate, kernel) - blurred)[border:-border, border:-border]
    return float(np.mean(residual.astype(np.float64) ** 2)) / max(noise_sigma, 1e-6) ** 2


def discrepancy_correction(
    blurred: np.ndarray, estimate: np.ndarray, kernel: np.ndarray, balance: float, regulariser: str, target: float | None = None
) -> np.ndarray:
    """Morozov's discrepancy principle for the data step: ``estimate`` itself when it
    already explains ``blurred`` up to the noise (:func:`residual_ratio` at most
    ``target``, default :data:`DISCREPANCY_TARGET`), else the correction with the
    largest gain of :data:`DISCREPANCY_GAINS` that does (the smallest gain if none
    does). So a denoised network output that is already consistent is not pulled
    towards a noisier Wiener solution. Returns float32 (H, W) in [0, 1]."""
    from ..classical import estimate_noise_sigma, wiener_correction

    target = DISCREPANCY_TARGET if target is None else target
    sigma = estimate_noise_sigma(blurred)
    out = np.clip(np.asarray(estimate, np.float32), 0.0, 1.0)
    if residual_ratio(blurred, out, kernel, sigma) <= target:
        return out
    for gain in DISCREPANCY_GAINS:
        out = wiener_correction(blurred, estimate, kernel, balance * gain, regulariser)
        if residual_ratio(blurred, out, kernel, sigma) <= target:
            break
    return out

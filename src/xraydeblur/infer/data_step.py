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
(its ``gains`` are copied here; a test checks that they agree). Mean validation PSNR (dB)
per class of the blind flagship, of ``z`` alone, of Wiener with the true kernel and of
``z`` after the step with the chosen gain:

==============  =======  =====  =====  ======  =====  ==============
class           samples  blind  z      Wiener  gain   z + data step
==============  =======  =====  =====  ======  =====  ==============
disk                 12  40.51  41.13   49.70  0.03   53.96
disk+noise           12  37.78  37.78   37.26  100    37.78
gaussian             36  39.34  39.75   42.17  0.1    43.17
gaussian+noise       36  37.01  37.02   36.56  100    37.02
motion               36  37.51  38.22   45.92  0.1    47.78
motion+noise         36  36.47  36.56   36.50  3      36.69
==============  =======  =====  =====  ======  =====  ==============
"""

import numpy as np

#: balance gain (times the tuned Wiener balance) per run-time class; None = no step
GAINS: dict[str, float | None] = {"disk": 0.03, "disk+noise": 100.0, "gaussian": 0.1, "gaussian+noise": 100.0, "motion": 0.1, "motion+noise": 3.0}


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
    return wiener_correction(blurred, estimate, kernel, balance * gain, regulariser)

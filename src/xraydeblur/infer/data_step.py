"""Data-consistency step of the kernel-aware network: when the blur is known, the
network's output is corrected so that, re-blurred, it explains the input.

``x = argmin ||M (k * x) - y||^2 + b * ||D (x - z)||^2`` with ``z`` the network output
(:func:`xraydeblur.classical.wiener_correction`). ``b`` is the tuned Wiener balance for
this image and kernel (noise-adaptive, :func:`xraydeblur.classical.estimate_balance`)
times a gain: :data:`NOISE_FREE_GAIN` when the image is judged noise-free, else
:data:`NOISY_GAIN`. So on a noise-free image the step restores what a blind prior
cannot (a known 9 px motion path), and on a noisy one it leaves the network's denoised
estimate nearly untouched.

The gains were chosen on the validation split (6 images x 14 benchmark degradations,
256 px crops; the test split was not used) by ``python benchmarks/data_step_gain.py``
(table in ``benchmarks/results/data_step_gain.json``). Mean PSNR (dB) of the blind
network ``z``, of Wiener with the true kernel, and of ``z`` after this step with the
balance gain 1 / 3 / 10 / 30:

================  =====  ======  =====  =====  =====  =====
rows              z      Wiener  1      3      10     30
================  =====  ======  =====  =====  =====  =====
noise-free, 7     38.29  44.39   44.46  43.21  41.85  40.74
noisy, 7          36.46  36.14   36.20  36.47  36.51  36.50
================  =====  ======  =====  =====  =====  =====

With gain 1 (noise-free) and 10 (noisy) the result is above the better of ``z`` and
Wiener on 8 of the 14 rows and at most 0.22 dB below it on the others.
"""

import numpy as np

#: balance gain (times the tuned Wiener balance) for images judged noise-free / noisy
NOISE_FREE_GAIN = 1.0
NOISY_GAIN = 10.0


def data_step(blurred: np.ndarray, estimate: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correct ``estimate`` (H, W) in [0, 1] towards consistency with ``blurred`` (H, W)
    under the known PSF ``kernel`` (K, K). Returns float32 (H, W) in [0, 1]."""
    from ..classical import tuned_balance, wiener_correction
    from ..classical._defaults import is_noisy

    balance, regulariser = tuned_balance(blurred, kernel)
    gain = NOISY_GAIN if is_noisy(blurred) else NOISE_FREE_GAIN
    return wiener_correction(blurred, estimate, kernel, balance * gain, regulariser)

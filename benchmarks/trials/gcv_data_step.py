"""Trial (issue 26): the data step's balance chosen per image by generalised
cross-validation (GCV) instead of the per-class tables, on the VALIDATION split (the
test split is never read).

The kernel-aware mode (``nafnet-kernel`` given the true kernel) is below Wiener with its
best balance per image on the noise-free 8- and 12-bit rows
(benchmarks/results/kernel_aware_oracle.json). GCV chooses a regularisation weight per
image from the data alone, with no noise level and no table: for the data step's
problem ``min ||k * x - y||^2 + lam ||D (x - z)||^2`` (``z`` the blind network's
output, ``D`` the gradient) in the circulant approximation on the mirror-extended
residual ``y - k * z``, ``GCV(lam) = n sum |1 - a|^2 |R|^2 / (sum (1 - a))^2`` with
``a = |H|^2 / (|H|^2 + lam |D|^2)``, minimised over :data:`LAMBDAS`; the step is then
the shipped masked solve (:func:`xraydeblur.classical.wiener_correction`, 200
conjugate-gradient iterations) at that weight.

Per crop (the benchmark's 256 px crops of ``--images`` evenly spaced validation images,
14 degradations, at each ``--bits``): PSNR (dB, against the sharp crop) of the blind
network ``z``, the shipped ``nafnet-kernel`` (tables / Morozov), the GCV step, the best
weight of every third entry of :data:`LAMBDAS` for the step (an oracle), and Wiener
with its best balance per image (the classical oracle of the issue's goal).

    python benchmarks/trials/gcv_data_step.py --images 3 --bits 8 12 --out benchmarks/results/trials/gcv_data_step.json
"""

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: regularisation weights GCV chooses from (log-spaced)
LAMBDAS = np.logspace(-9, 0, 37)
#: Wiener balances of the classical oracle (as benchmarks/kernel_aware_oracle.py)
WIENER_BALANCES = np.logspace(-6, 0, 19)
COLUMNS = ("blind z", "shipped", "gcv", "step, best weight", "wiener, best balance")


def gcv_weight(blurred: np.ndarray, estimate: np.ndarray, kernel: np.ndarray) -> float:
    """The weight of :data:`LAMBDAS` with the smallest GCV score (see the module doc)."""
    from xraydeblur.classical._common import as_kernel, extend, psf2otf, regulariser_power
    from xraydeblur.degrade import blur

    k = as_kernel(kernel)
    ext = extend(blurred.astype(np.float64) - blur(estimate.astype(np.float64), k), k.shape)
    H2 = np.abs(psf2otf(k, ext.shape)) ** 2
    D2 = regulariser_power("gradient", ext.shape)
    R2 = np.abs(np.fft.rfft2(ext.data)) ** 2
    w = np.full(H2.shape, 2.0)  # half spectrum: conjugate columns count twice
    w[:, 0] = 1.0
    if ext.shape[1] % 2 == 0:
        w[:, -1] = 1.0
    n = ext.shape[0] * ext.shape[1]
    scores = []
    for lam in LAMBDAS:
        one_minus_a = lam * D2 / (H2 + lam * D2 + 1e-30)
        scores.append(n * np.sum(w * one_minus_a**2 * R2) / np.sum(w * one_minus_a) ** 2)
    return float(LAMBDAS[int(np.argmin(scores))])


def main() -> None:
    from _trial import crops_at_bits, print_markdown, row_means, write_trial

    from xraydeblur.classical import wiener, wiener_correction
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--bits", type=int, nargs="+", default=[8, 12])
    parser.add_argument("--out")
    args = parser.parse_args()

    blind, kernel_aware = get_method("nafnet-blind"), get_method("nafnet-kernel")
    samples = []
    for suffix, case, sharp, degraded, kernel in crops_at_bits(args.images, 256, args.bits):
        z = np.clip(np.asarray(blind(degraded, None)), 0, 1).astype(np.float32)
        lam = gcv_weight(degraded, z, kernel)
        score = {
            "blind z": psnr(sharp, z),
            "shipped": psnr(sharp, np.asarray(kernel_aware(degraded, kernel))),
            "gcv": psnr(sharp, wiener_correction(degraded, z, kernel, lam, "gradient", cg_iterations=200)),
            "step, best weight": max(psnr(sharp, wiener_correction(degraded, z, kernel, w, "gradient", cg_iterations=200)) for w in LAMBDAS[::3]),
            "wiener, best balance": max(psnr(sharp, np.clip(wiener(degraded, kernel, balance=b), 0, 1)) for b in WIENER_BALANCES),
        }
        samples.append({"case": case.key + suffix, "family": case.family + suffix, "gcv_weight": lam, "psnr": score})
        print(f"{case.family + suffix:30s} " + " ".join(f"{c} {v:.2f}" for c, v in score.items()) + f" (weight {lam:.1e})", flush=True)
    table = row_means(samples, COLUMNS)
    print_markdown(table, COLUMNS, {"gcv - shipped": lambda v: f"{v['gcv'] - v['shipped']:+.2f}", "gcv - wiener": lambda v: f"{v['gcv'] - v['wiener, best balance']:+.2f}"})
    write_trial(args.out, "benchmarks/trials/gcv_data_step.py", table, samples)


if __name__ == "__main__":
    main()

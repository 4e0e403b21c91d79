"""Trial (issue 26): where does plain Wiener's best balance lie, in units of the MMSE
balance the learned data step centres its candidates on?

For each noise-free validation crop (``--images`` images, the benchmark's 7 blurs, at
each bit depth of ``--bits``) it measures the noise where the kernel leaves no signal,
the MMSE balance ``b`` at it (as :func:`xraydeblur.infer.learned_step.step_candidates`
does without a noise floor) and the PSNR of Wiener (masked borders, 100 iterations) at
each gain of :data:`GAINS` times ``b``. The step's v4 grid spanned 0.1-10 x ``b``; v5's
spans 0.46-46 x. Validation split only::

    python benchmarks/trials/wiener_grid_scan.py --images 4 --bits 8 10 --out benchmarks/results/trials/wiener_grid_scan.json
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: Wiener gains scanned (times the MMSE balance at the measured noise)
GAINS = (0.1, 0.22, 0.46, 1.0, 2.2, 4.6, 10.0, 22.0, 46.0, 100.0, 220.0)


def main() -> None:
    from _trial import crop_args, crops_at_bits, print_markdown, row_means, write_trial
    from xraydeblur.classical import estimate_balance, kernel_noise_sigma, wiener
    from xraydeblur.metrics import psnr

    args = crop_args(__doc__, [8, 10])
    samples = []
    for suffix, case, sharp, degraded, kernel in crops_at_bits(args.images, args.crop, args.bits):
        if case.degradation.dose:
            continue  # noisy input takes Morozov's rule
        noise = float(kernel_noise_sigma(degraded, kernel))
        balance = estimate_balance(degraded, kernel, "gradient", noise_sigma=noise)
        scores = {f"x{g:g}": psnr(sharp, np.clip(wiener(degraded, kernel, balance=balance * g, cg_iterations=100), 0, 1)) for g in GAINS}
        best = max(scores, key=scores.get)
        samples.append({"family": case.family + suffix, "image": case.row.file, "noise": noise, "best_gain": float(best[1:]), "psnr": scores})
        print(samples[-1]["family"], case.row.file, "best gain", best, flush=True)
    columns = tuple(f"x{g:g}" for g in GAINS)
    table = row_means(samples, columns)
    print_markdown(table, columns)
    gains = [s["best_gain"] for s in samples]
    print(f"\nbest gain per crop: median {np.median(gains):g}, above 10 on {sum(g > 10 for g in gains)} of {len(gains)}, below 0.46 on {sum(g < 0.46 for g in gains)}")
    write_trial(args.out, "benchmarks/trials/wiener_grid_scan.py", table, samples)


if __name__ == "__main__":
    main()

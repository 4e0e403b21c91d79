"""Trial (issue 26): should the learned data step's balance see a noise floor?

:func:`xraydeblur.infer.learned_step.step_candidates` places its candidates at gains of
the MMSE balance at the noise measured where the kernel leaves no signal. On noise-free
float input that noise reads 3e-8 to 2e-4, the balance sits at its 1e-5 floor, and every
strong correction is nearly unregularised (the 200-iteration solve stops it): on long
motion the best candidate falls below the gain tables' one solve, which the blend then
cannot beat. :data:`xraydeblur.infer.data_step.NOISE_FLOOR` (2e-4) is the most such
input reads besides its rounding; this trial computes the candidates with the noise at
least that (``hypot(measured, floor)``, as :func:`~xraydeblur.infer.data_step.is_noise_free`
combines them) and scores the best candidate per image (an upper bound for the blend,
which would need retraining on the new candidates) against the measured noise's and the
gain tables' step. Validation crops only::

    python benchmarks/trials/step_noise_floor.py --images 4 --bits 0 12 --out benchmarks/results/trials/step_noise_floor.json
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    from _trial import crop_args, crops_at_bits, print_markdown, row_means, write_trial
    from xraydeblur.classical import kernel_noise_sigma
    from xraydeblur.infer.data_step import NOISE_FLOOR, data_step
    from xraydeblur.infer.learned_step import step_candidates
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    args = crop_args(__doc__, [0, 12])
    blind = get_method("nafnet-blind")
    samples = []
    for suffix, case, sharp, degraded, kernel in crops_at_bits(args.images, args.crop, args.bits):
        if case.degradation.dose:
            continue  # noisy input takes Morozov's rule, not the learned step
        z = blind(degraded)
        noise = float(kernel_noise_sigma(degraded, kernel))
        best = {}
        for name, level in (("measured noise", noise), ("noise floored", float(np.hypot(noise, NOISE_FLOOR)))):
            _, stack = step_candidates(degraded, z, kernel, noise_sigma=level)
            best[f"best candidate, {name}"] = max(psnr(sharp, c) for c in stack)
        row = {"family": case.family + suffix, "image": case.row.file, "noise": noise,
               "psnr": {"tables": psnr(sharp, data_step(degraded, z, kernel, learned=False)), **best}}
        samples.append(row)
        print(row, flush=True)
    columns = ("tables", "best candidate, measured noise", "best candidate, noise floored")
    table = row_means(samples, columns)
    print_markdown(table, columns, {"floored - measured": lambda r: f"{r[columns[2]] - r[columns[1]]:+.2f}"})
    write_trial(args.out, "benchmarks/trials/step_noise_floor.py", table, samples)


if __name__ == "__main__":
    main()

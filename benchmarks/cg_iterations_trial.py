"""How many conjugate-gradient iterations the data step needs when its balance gain is
large, on whole VALIDATION radiographs (the test split is never read).

The data step (:func:`xraydeblur.infer.data_step.data_step`) solves a masked Wiener
problem by conjugate gradients, :data:`~xraydeblur.infer.data_step.CG_ITERATIONS` (200)
of them, which noise-free input (gains 0.01-0.1, an ill-conditioned system) needs. With
a gain of 3 or more (noisy and 8-bit input) the system is well conditioned. For every
``--every``-th validation radiograph (up to ``--images``), at native resolution, under
each benchmark degradation whose data-step class has such a gain (the noisy ones, and
the noise-free ones rounded to 8 bit as a PNG or JPEG holds them), this runs the step
on the blind flagship's output with the true kernel and that class's gain, stopping
after each of ``--iterations`` iterations, and reports the PSNR against the sharp image
minus the PSNR after 200 iterations (dB) and the step's seconds. Prints a table and
writes JSON.

    python benchmarks/cg_iterations_trial.py --out benchmarks/results/trials/cg_iterations.json

``--identified``: instead, the noise-free float inputs whose class has such a gain among
the gains for an identified PSF (``nafnet-psf``: Gaussian, gain 3), the true kernel
standing in for the identified one.

    python benchmarks/cg_iterations_trial.py --identified --out benchmarks/results/trials/cg_iterations-identified.json
"""

import argparse
import sys
import time

import numpy as np

from _trial import write_trial

REFERENCE = 200


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=3)
    p.add_argument("--every", type=int, default=15, help="take every N-th validation image")
    p.add_argument("--iterations", type=int, nargs="+", default=[5, 10, 20, 40])
    p.add_argument("--identified", action="store_true", help="noise-free float inputs with the identified-PSF gains")
    p.add_argument("--out")
    args = p.parse_args()
    from xraydeblur.classical import tuned_balance, wiener_correction
    from xraydeblur.data import load_image, split_rows
    from xraydeblur.data.benchmark import BENCHMARK_DEGRADATIONS
    from xraydeblur.degrade import Degradation, quantize
    from xraydeblur.infer.data_step import WELL_CONDITIONED_GAIN, gain_for, step_class
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    network = get_method("nafnet-blind")
    caps = sorted(set(args.iterations)) + [REFERENCE]
    samples = []
    for row in split_rows("val")[:: args.every][: args.images]:
        sharp = load_image(row)
        for d in BENCHMARK_DEGRADATIONS:
            if args.identified and d.dose:
                continue
            params = dict(d.params, angle=30.0) if d.kind == "motion" else dict(d.params)
            blurred, kernel = Degradation(d.kind, params, d.dose, d.read_noise).apply(sharp, seed=0)
            blurred = blurred.astype(np.float32)
            if not d.dose and not args.identified:
                blurred = quantize(blurred, 8)  # as an 8-bit PNG / JPEG holds it
            key = step_class(blurred, kernel)
            gain = gain_for(key, identified=args.identified)
            if not isinstance(gain, float) or gain < WELL_CONDITIONED_GAIN:
                continue
            estimate = network(blurred)
            balance, regulariser = tuned_balance(blurred, kernel)
            psnrs, seconds = {}, {}
            for cap in caps:
                t = time.perf_counter()
                out = wiener_correction(blurred, estimate, kernel, balance * gain, regulariser, cg_iterations=cap)
                seconds[str(cap)] = time.perf_counter() - t
                psnrs[str(cap)] = psnr(sharp, out, border=8)
            family = Degradation(d.kind, d.params, d.dose, d.read_noise).name + ("" if d.dose or args.identified else "+8bit")
            samples.append({"case": f"{row.file}::{family}", "family": family, "class": key, "gain": gain, "shape": list(sharp.shape),
                            "psnr": psnrs, "seconds": seconds})
            print(f"{row.file} {family} ({key}, gain {gain:g}): " + " ".join(f"{c}: {psnrs[str(c)] - psnrs[str(REFERENCE)]:+.4f} dB {seconds[str(c)]:.1f} s" for c in caps), file=sys.stderr, flush=True)

    table = {
        str(cap): {
            "mean_psnr_minus_reference": float(np.mean([s["psnr"][str(cap)] - s["psnr"][str(REFERENCE)] for s in samples])),
            "largest_abs_psnr_difference": float(max(abs(s["psnr"][str(cap)] - s["psnr"][str(REFERENCE)]) for s in samples)),
            "seconds": float(np.sum([s["seconds"][str(cap)] for s in samples])),
        }
        for cap in caps
    }
    print(f"\n{len(samples)} cases (whole validation radiographs, data-step gains >= {WELL_CONDITIONED_GAIN:g})")
    print(f"| iterations | PSNR minus {REFERENCE} iterations, mean (dB) | largest |difference| (dB) | seconds, all cases |\n|---|---|---|---|")
    for cap, row in table.items():
        print(f"| {cap} | {row['mean_psnr_minus_reference']:+.5f} | {row['largest_abs_psnr_difference']:.5f} | {row['seconds']:.1f} |")
    write_trial(args.out, "benchmarks/cg_iterations_trial.py", table, samples)
    return 0


if __name__ == "__main__":
    sys.exit(main())

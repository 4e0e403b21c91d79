"""How many conjugate-gradient iterations the data step needs when its balance gain is
large, on VALIDATION radiographs, whole or as the benchmark's crops (the test split is
never read). The shipped rule (:func:`xraydeblur.infer.data_step.cg_iterations_for`):
20 on noisy input, 200 on noise-free input; the crops showed that 8-bit and
identified-PSF inputs need more than 20 near the borders.

The data step (:func:`xraydeblur.infer.data_step.data_step`) solves a masked Wiener
problem by conjugate gradients, :data:`~xraydeblur.infer.data_step.CG_ITERATIONS` (200)
of them, which noise-free input (gains 0.01-0.1, an ill-conditioned system) needs. With
a gain of 1 or more (noisy and 8-bit input) the system is better conditioned. For every
``--every``-th validation radiograph (up to ``--images``), at native resolution, under
each benchmark degradation whose data-step class has such a gain (the noisy ones, and
the noise-free ones rounded to 8 bit as a PNG or JPEG holds them), this runs the step
on the blind flagship's output with the true kernel and that class's gain, stopping
after each of ``--iterations`` iterations, and reports the PSNR against the sharp image
minus the PSNR after 200 iterations (dB) and the step's seconds. Prints a table and
writes JSON.

    python benchmarks/trials/cg_iterations_trial.py --out benchmarks/results/trials/cg_iterations.json

``--identified``: instead, the noise-free float inputs whose class has such a gain among
the gains for an identified PSF (``nafnet-psf``: Gaussian, gain 3), the true kernel
standing in for the identified one.

    python benchmarks/trials/cg_iterations_trial.py --identified --out benchmarks/results/trials/cg_iterations-identified.json

``--crop N``: instead of whole radiographs, the benchmark's N px crops
(:func:`xraydeblur.data.benchmark_cases`, the crops the benchmark tables and the
gain choice score) of every ``--every``-th validation image; a crop's solve converges
more slowly than a whole image's. With ``--identified`` the kernel is then the PSF
``nafnet-psf`` identifies from the crop (:func:`xraydeblur.infer.identify.identified_kernel`;
untrusted crops are left out), as that method runs.

    python benchmarks/trials/cg_iterations_trial.py --crop 256 --images 60 --every 1 --iterations 20 40 60 100 --out benchmarks/results/trials/cg_iterations-crops.json
    python benchmarks/trials/cg_iterations_trial.py --crop 256 --identified --images 60 --every 1 --iterations 20 40 60 100 --out benchmarks/results/trials/cg_iterations-identified-crops.json
"""

import argparse
import sys
import time

import numpy as np

from _trial import write_trial

REFERENCE = 200
#: classes with a data-step gain of at least this are tried (noisy: 3-100; 8-bit: 1-3;
#: identified Gaussian: 3). The noise-free float classes, gains 0.01-0.1, are ill
#: conditioned and keep 200 iterations by construction
TRIED_GAIN = 1.0


def _inputs(row, crop: int | None):
    """(family, sharp, blurred float32, true kernel, dose) per benchmark degradation of one
    validation row: the benchmark's ``crop`` px crop, or (None) the whole radiograph
    (motion at a fixed 30 degrees)."""
    from xraydeblur.data import benchmark_cases, load_image
    from xraydeblur.data.benchmark import BENCHMARK_DEGRADATIONS
    from xraydeblur.degrade import Degradation

    image = load_image(row)
    if crop:
        for case in benchmark_cases([row], crop=crop):
            sharp, blurred, kernel = case.load(image)
            yield case.family, sharp, blurred, kernel, case.degradation.dose
        return
    for d in BENCHMARK_DEGRADATIONS:
        params = dict(d.params, angle=30.0) if d.kind == "motion" else dict(d.params)
        blurred, kernel = Degradation(d.kind, params, d.dose, d.read_noise).apply(image, seed=0)
        yield Degradation(d.kind, d.params, d.dose, d.read_noise).name, image, blurred.astype(np.float32), kernel, d.dose


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=3)
    p.add_argument("--every", type=int, default=15, help="take every N-th validation image")
    p.add_argument("--iterations", type=int, nargs="+", default=[5, 10, 20, 40])
    p.add_argument("--identified", action="store_true", help="noise-free float inputs with the identified-PSF gains")
    p.add_argument("--crop", type=int, help="score the benchmark's crops of this side (px) instead of whole radiographs")
    p.add_argument("--out")
    args = p.parse_args()
    from xraydeblur.classical import tuned_balance, wiener_correction
    from xraydeblur.data import split_rows
    from xraydeblur.degrade import quantize
    from xraydeblur.infer.data_step import gain_for, step_class
    from xraydeblur.infer.identify import identified_kernel
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    network = get_method("nafnet-blind")
    caps = sorted(set(args.iterations)) + [REFERENCE]
    border = 0 if args.crop else 8  # crops are scored as the benchmark scores them
    samples = []
    for row in split_rows("val")[:: args.every][: args.images]:
        for family, sharp, blurred, kernel, dose in _inputs(row, args.crop):
            if args.identified and dose:
                continue
            if not dose and not args.identified:
                blurred = quantize(blurred, 8)  # as an 8-bit PNG / JPEG holds it
                family += "+8bit"
            if args.identified and args.crop:
                kernel, _ = identified_kernel(blurred)
                if kernel is None:
                    continue
            key = step_class(blurred, kernel)
            gain = gain_for(key, identified=args.identified)
            if not isinstance(gain, float) or gain < TRIED_GAIN:
                continue
            estimate = network(blurred)
            balance, regulariser = tuned_balance(blurred, kernel)
            psnrs, seconds = {}, {}
            for cap in caps:
                t = time.perf_counter()
                out = wiener_correction(blurred, estimate, kernel, balance * gain, regulariser, cg_iterations=cap)
                seconds[str(cap)] = time.perf_counter() - t
                psnrs[str(cap)] = psnr(sharp, out, border=border)
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
    scope = f"{args.crop} px benchmark crops of validation radiographs" if args.crop else "whole validation radiographs"
    print(f"\n{len(samples)} cases ({scope}, data-step gains >= {TRIED_GAIN:g})")
    print(f"| iterations | PSNR minus {REFERENCE} iterations, mean (dB) | largest |difference| (dB) | seconds, all cases |\n|---|---|---|---|")
    for cap, row in table.items():
        print(f"| {cap} | {row['mean_psnr_minus_reference']:+.5f} | {row['largest_abs_psnr_difference']:.5f} | {row['seconds']:.1f} |")
    write_trial(args.out, "benchmarks/trials/cg_iterations_trial.py", table, samples)
    return 0


if __name__ == "__main__":
    sys.exit(main())

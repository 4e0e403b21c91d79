"""Trial: the blind flagship followed by the data step with a BLINDLY IDENTIFIED PSF
(:func:`xraydeblur.classical.psf_search.estimate_psf`: Gaussian, disk or straight
motion from the power spectrum), scored on the VALIDATION split (the test split is
never read). ``--other`` scores instead blurs the identification does not model
(curved motion, anisotropic Gaussian, exponential detector blur, no blur at all),
as float and quantised to 8 bit: what it must not make worse. ``--quantise8`` scores
the seven noise-free benchmark blurs rounded to 8 bit (what an 8-bit PNG holds).

For each of ``--images`` validation images (every 5th row) x the 14 benchmark
degradations (256 px crops) it records the PSNR of:

- ``input`` and ``blind`` (the shipped blind flagship, output ``z``),
- ``blind + step, true k``: ``z`` after the shipped data step given the true kernel
  (what ``nafnet-kernel`` does: the ceiling for this route),
- ``blind + step, found k``: ``z`` after the same step given the identified PSF
  (``z`` itself when "no blur" is identified),
- ``blind + step, found k, fitted sigma``: the same, but when a Gaussian is identified
  its width is taken from :func:`xraydeblur.classical.estimate.estimate_gaussian_sigma`
  (the radial roll-off fit calibrated on the training split),

and which PSF was identified. Prints the per-row means and the identification per
row, writes JSON with every sample (so a rule for when to trust the identification
can be chosen from it without re-running).

    python benchmarks/trials/blind_psf_trial.py --out benchmarks/results/trials/blind_psf.json
"""

import argparse
import sys
import time
from collections import Counter

from _trial import row_means, write_trial

def _other_blurs():
    from xraydeblur.degrade.spec import Degradation

    return [
        Degradation("gaussian", {"sigma": 0.01}),  # no blur
        Degradation("anisotropic", {"sigma": 0.8, "sigma_y": 2.5, "angle": 30.0}),
        Degradation("trajectory", {"length": 9.0, "seed": 1}),
        Degradation("trajectory", {"length": 15.0, "seed": 2}),
        Degradation("exponential", {"scale": 1.5}),
    ]


COLUMNS = ("input", "blind", "blind + step, true k", "blind + step, found k", "blind + step, found k, fitted sigma")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=12, help="validation images (every 5th row)")
    p.add_argument("--offset", type=int, default=0, help="start at this validation row (0-4: other images)")
    p.add_argument("--other", action="store_true", help="score blurs outside the three identified families instead (safety check), noise-free, as float and as 8-bit")
    p.add_argument("--quantise8", action="store_true", help="score the noise-free benchmark blurs rounded to 8 bit instead")
    p.add_argument("--out")
    args = p.parse_args()
    from xraydeblur.classical import MIN_BLIND_SIGMA
    from xraydeblur.classical._defaults import is_noisy
    from xraydeblur.classical.estimate import estimate_gaussian_sigma
    from xraydeblur.classical.psf_search import estimate_psf
    from xraydeblur.degrade import gaussian_kernel, quantize
    from xraydeblur.data import benchmark_cases, load_image, split_rows
    from xraydeblur.infer.data_step import data_step
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    blind = get_method("nafnet-blind")
    samples = []
    degradations = _other_blurs() if args.other else None
    if args.quantise8:
        from xraydeblur.data import BENCHMARK_DEGRADATIONS

        degradations = [d for d in BENCHMARK_DEGRADATIONS if not d.dose]
    for row in split_rows("val")[args.offset :: 5][: args.images]:
        image = load_image(row)
        for case, bits in [(c, b) for c in benchmark_cases([row], crop=256, degradations=degradations) for b in ((None, 8) if args.other else (8,) if args.quantise8 else (None,))]:
            sharp, y, kernel = case.load(image)
            family = case.family
            if bits:
                y = quantize(y, bits)
                family += "+8bit"
            z = blind(y)
            started = time.perf_counter()
            found = estimate_psf(y)
            seconds = time.perf_counter() - started
            stepped_found = z if found.family == "none" else data_step(y, z, found.kernel)
            fitted_sigma = None
            stepped_fitted = stepped_found
            if found.family == "gaussian":
                fitted_sigma = float(estimate_gaussian_sigma(y))
                stepped_fitted = z if fitted_sigma < MIN_BLIND_SIGMA else data_step(y, z, gaussian_kernel(fitted_sigma))
            outs = (y, z, data_step(y, z, kernel), stepped_found, stepped_fitted)
            samples.append(
                {
                    "case": f"{row.file}::{family}",
                    "family": family,
                    "true": dict(case.degradation.params),
                    "found": {"family": found.family, **found.params},
                    "score": found.score,
                    "runner_up": found.runner_up,
                    "fitted_sigma": fitted_sigma,
                    "noisy": bool(is_noisy(y)),
                    "seconds": seconds,
                    "psnr": {c: float(psnr(sharp, o)) for c, o in zip(COLUMNS, outs)},
                }
            )
            print(f"{samples[-1]['case'][-40:]:40s} {found.label():40s} " + " ".join(f"{v:6.2f}" for v in samples[-1]["psnr"].values()), flush=True)
    print("\n| degradation | " + " | ".join(COLUMNS) + " | identified |\n|---|" + "---|" * (len(COLUMNS) + 1))
    table = row_means(samples, COLUMNS)
    for fam, means in table.items():
        found = Counter(s["found"]["family"] for s in samples if s["family"] == fam)
        print(f"| {fam} | " + " | ".join(f"{means[c]:.2f}" for c in COLUMNS) + " | " + ", ".join(f"{k} {v}" for k, v in found.items()) + " |")
    write_trial(args.out, "benchmarks/trials/blind_psf_trial.py", table, samples)
    return 0


if __name__ == "__main__":
    sys.exit(main())

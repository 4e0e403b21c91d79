"""Trial (denoise strength 0, blind default): which PSF should put the noise back?

At ``S = 0`` the pipeline returns ``x_hat + (y - k * x_hat)``: the part of the input the
restoration does not explain is put back as noise. Blind, ``k`` is a Gaussian of the blur
evidence's widths (:func:`xraydeblur.pipeline.blind_kernel`); under motion blur that
Gaussian does not describe the blur, the residual then holds the motion blur itself, and
putting it back re-blurs the output (docs/results.md section 6: 9 px motion, 39.54 dB at
``S = 0`` against 39.43 for the input). This trial scores, on the fixed benchmark's crops
of VALIDATION images (the test split is never read), the ``S = 0`` output of the blind
network (scored against ``x + n`` on the interior, as ``xraydeblur evaluate`` does) with the
noise put back by:

- ``gaussian``: the pipeline's blind Gaussian (today);
- ``learned``: the learned PSF estimator's PSF (refined as the shipped rule says) when it
  is usable (:attr:`xraydeblur.infer.learned_psf.LearnedPsfEstimate.usable`), else the
  Gaussian;
- ``learned-motion``: the same, but only when it names straight motion;
- ``learned-unrefined``: ``learned`` without the spectral refinement of its parameters
  (the refinement of a motion PSF costs about a second on a whole radiograph);
- ``shipped``: the pipeline's rule (:func:`xraydeblur.pipeline.blind_psf_candidates`,
  :func:`xraydeblur.pipeline.best_explaining_psf`): the Gaussian, or the estimator's
  trusted straight motion (unrefined) when the restoration explains the input better
  under it;
- ``true``: the true kernel (what a known blur gives; an upper bound).

    python benchmarks/trials/addback_kernel.py --images 12 --every 5 --out benchmarks/results/trials/addback_kernel.json
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _trial import print_markdown, row_means, validation_crops, write_trial  # noqa: E402

COLUMNS = ("input", "gaussian", "learned", "learned-motion", "learned-unrefined", "shipped", "true")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=12)
    p.add_argument("--every", type=int, default=5)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--out")
    args = p.parse_args()
    from xraydeblur.classical.no_blur import image_blur_evidence
    from xraydeblur.evaluate import BORDER
    from xraydeblur.infer.learned_psf import estimate_learned_psf
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr
    from xraydeblur.pipeline import best_explaining_psf, blind_kernel, blind_psf_candidates, keep_noise
    from xraydeblur.degrade import blur

    method = get_method("nafnet-blind")
    samples, t0 = [], time.time()
    for row, case, sharp, degraded, kernel in validation_crops(args.images, args.every, args.crop):
        target = sharp + (degraded - blur(sharp, kernel).astype(np.float32))  # x + n
        estimate = method(degraded, None)
        gaussian = blind_kernel(image_blur_evidence(degraded))
        found = estimate_learned_psf(degraded)
        learned = found.kernel if found.usable else gaussian
        motion = found.kernel if found.usable and found.family == "motion" else gaussian
        coarse = estimate_learned_psf(degraded, refine=False)
        unrefined = coarse.kernel if coarse.usable else gaussian
        candidates = blind_psf_candidates(degraded, image_blur_evidence(degraded))[0]
        shipped = candidates[best_explaining_psf(degraded, estimate, candidates)[0]]
        kernels = {"gaussian": gaussian, "learned": learned, "learned-motion": motion, "learned-unrefined": unrefined, "shipped": shipped, "true": kernel}
        scores = {"input": psnr(target, degraded, border=BORDER)}
        scores.update({name: psnr(target, keep_noise(degraded, estimate, k, 0.0), border=BORDER) for name, k in kernels.items()})
        samples.append({"image": row.file, "case": case.key, "family": case.family, "found": found.label(), "trusted": bool(found.usable), "psnr": scores})
        print(f"{case.key}: found {found.label()} ({found.confidence:.2f}, {'trusted' if found.usable else 'not trusted'}); " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()), flush=True)
    table = row_means(samples, COLUMNS)
    print_markdown(table, COLUMNS)
    print(f"\n{len(samples)} samples in {time.time() - t0:.0f} s")
    write_trial(args.out, "benchmarks/trials/addback_kernel.py", table, samples)


if __name__ == "__main__":
    main()

"""Trial (issue 26): can the Gaussian width ``nafnet-auto`` uses be sharpened by
fitting it to the blind network's output, on the VALIDATION split (the test split is
never read)?

On noise-free input the data step trusts the PSF almost entirely, so a few hundredths
of a pixel of width error cost dB (Gaussian sigma 1 is ``nafnet-auto``'s worst row
against the true kernel). Here the width is re-estimated as the ``s`` that makes the
blind network's output ``z``, blurred by a Gaussian of width ``s``, closest to the
input (least squares, 12 px border left out; bounded search within 0.5 px of the
learned estimator's width). Per crop (the benchmark's 256 px crops of ``--images``
evenly spaced validation images, noise-free float Gaussian rows): the learned width,
the fitted width, and the PSNR (dB) of ``nafnet-kernel`` given the true, the learned
and the fitted width.

    python benchmarks/trials/gaussian_reblur_fit.py --images 6 --out benchmarks/results/trials/gaussian_reblur_fit.json
"""

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

COLUMNS = ("blind z", "true width", "learned width", "fitted width")


def reblur_fit(blurred: np.ndarray, z: np.ndarray, start: float, border: int = 12) -> float:
    """The Gaussian width (px) within 0.5 px of ``start`` whose blur of ``z`` best
    explains ``blurred`` (mean squared difference away from the border)."""
    from scipy.optimize import minimize_scalar

    from xraydeblur.degrade import blur, gaussian_kernel

    inner = (slice(border, -border), slice(border, -border))

    def cost(s: float) -> float:
        return float(np.mean((blur(z, gaussian_kernel(s)) - blurred)[inner] ** 2))

    bounds = (max(0.3, start - 0.5), start + 0.5)
    return float(minimize_scalar(cost, bounds=bounds, method="bounded", options={"xatol": 1e-4}).x)


def main() -> None:
    from _trial import crops_at_bits, print_markdown, row_means, write_trial

    from xraydeblur.degrade import gaussian_kernel
    from xraydeblur.infer.learned_psf import estimate_learned_psf
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--out")
    args = parser.parse_args()

    blind, kernel_aware = get_method("nafnet-blind"), get_method("nafnet-kernel")
    samples = []
    for _, case, sharp, degraded, _ in crops_at_bits(args.images, 256, [0]):
        if case.degradation.kind != "gaussian" or case.degradation.dose:
            continue
        true = float(case.degradation.params["sigma"])
        learned = float(estimate_learned_psf(degraded).params.get("sigma", true))
        z = np.clip(np.asarray(blind(degraded, None)), 0, 1).astype(np.float32)
        fitted = reblur_fit(degraded, z, learned)
        score = {"blind z": psnr(sharp, z)}
        for column, width in (("true width", true), ("learned width", learned), ("fitted width", fitted)):
            score[column] = psnr(sharp, np.asarray(kernel_aware(degraded, gaussian_kernel(width))))
        samples.append({"case": case.key, "family": case.family, "widths": {"true": true, "learned": learned, "fitted": fitted}, "psnr": score})
        print(f"{case.family:18s} true {true:.2f} learned {learned:.3f} fitted {fitted:.3f} | " + " ".join(f"{c} {v:.2f}" for c, v in score.items()), flush=True)
    table = row_means(samples, COLUMNS)
    for family, row in table.items():
        errors = {k: float(np.median([abs(s["widths"][k] - s["widths"]["true"]) for s in samples if s["family"] == family])) for k in ("learned", "fitted")}
        row.update({f"median |{k} - true| px": v for k, v in errors.items()})
    print_markdown(table, COLUMNS, {"median width error, learned / fitted (px)": lambda r: f"{r['median |learned - true| px']:.3f} / {r['median |fitted - true| px']:.3f}"})
    write_trial(args.out, "benchmarks/trials/gaussian_reblur_fit.py", table, samples)


if __name__ == "__main__":
    main()

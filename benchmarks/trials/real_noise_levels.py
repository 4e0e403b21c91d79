"""Trial (issue 26): which data-step rule do real radiographs get? The kernel-aware data
step (:func:`xraydeblur.infer.data_step.data_step`) takes its per-class tuned gains only
on input it judges noise-free (:func:`xraydeblur.infer.data_step.is_noise_free`: the
noise measured where the kernel leaves no signal at most 1.5 x what rounding at the
input's bit depth and the estimator's floor read); any other input gets Morozov's rule
at the measured noise. The issue's unmet goals for the kernel-aware and blind-with-PSF
modes are on the benchmark's noise-free rows.

Reads, as stored (no blur added), the five shared DICOMs (``../shared/data/dicom``; in no
split) and ``--images`` evenly spaced VALIDATION radiographs (the test split is never
read), and prints per image the noise ``kernel_noise_sigma`` measures under a Gaussian
PSF of ``--sigma`` px, the noise-free threshold for its bit depth, and their ratio
(above 1: Morozov's rule, not the tables). Writes JSON.

    python benchmarks/trials/real_noise_levels.py --images 40 --out benchmarks/results/trials/real_noise_levels.json
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    from xraydeblur.classical import kernel_noise_sigma
    from xraydeblur.cli.evaluate import subset
    from xraydeblur.data import load_image
    from xraydeblur.data.manifest import data_root
    from xraydeblur.data.splits import split_rows
    from xraydeblur.degrade import gaussian_kernel
    from xraydeblur.infer.data_step import noise_free_threshold
    from xraydeblur.io import read_radiograph

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=40)
    p.add_argument("--sigma", type=float, default=1.5)
    p.add_argument("--out")
    args = p.parse_args()
    kernel = gaussian_kernel(args.sigma)
    images = [(f"dicom/{path.name}", "shared DICOM", read_radiograph(path).pixels) for path in sorted((data_root() / "dicom").glob("*.dcm"))]
    images += [(row.file, "validation", load_image(row)) for row in subset(split_rows("val"), args.images)]
    records = []
    for name, group, pixels in images:
        noise, threshold = kernel_noise_sigma(pixels, kernel), noise_free_threshold(pixels)
        records.append({"image": name, "group": group, "shape": list(pixels.shape), "noise_sigma": float(noise), "noise_free_threshold": threshold, "ratio": float(noise / threshold)})
    print(f"\n| group | images | judged noise-free | noise / threshold: min | median | max |\n|---|---|---|---|---|---|")
    summary = {}
    for group in dict.fromkeys(r["group"] for r in records):
        ratios = np.array([r["ratio"] for r in records if r["group"] == group])
        summary[group] = {"images": int(ratios.size), "noise_free": int((ratios <= 1).sum()), "min_ratio": float(ratios.min()), "median_ratio": float(np.median(ratios)), "max_ratio": float(ratios.max())}
        s = summary[group]
        print(f"| {group} | {s['images']} | {s['noise_free']} | {s['min_ratio']:.2f} | {s['median_ratio']:.2f} | {s['max_ratio']:.2f} |")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"command": "python benchmarks/trials/real_noise_levels.py " + " ".join(sys.argv[1:]), "sigma_px": args.sigma, "summary": summary, "records": records}, fh, indent=1)


if __name__ == "__main__":
    main()

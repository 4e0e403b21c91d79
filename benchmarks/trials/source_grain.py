"""Trial (issue 26, diagnosis): how much grain does each source's *sharp* radiograph carry?

The benchmark scores restorations against the stored radiograph, so its own noise (film
or detector grain, JPEG artefacts) is part of the truth. Per source, the first
``--images`` radiographs of the manifest: the noise of the central 256 px crop by the
median absolute deviation of its Laplacian (``MAD / 0.6745 / sqrt(20)``, the white-noise
standard deviation it implies, in 1/255) and the crop's standard deviation. Reads the
images only (no blur, no method, no score)::

    python benchmarks/trials/source_grain.py --images 12 --out benchmarks/results/trials/source_grain.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))


def laplacian_noise(crop: np.ndarray) -> float:
    """White-noise standard deviation (same units as ``crop``) implied by the MAD of
    the 5-point Laplacian of ``crop`` (H, W): for white noise of sd ``s`` the Laplacian
    has sd ``s * sqrt(20)``."""
    from scipy.ndimage import laplace

    lap = laplace(crop.astype(np.float64))
    return float(np.median(np.abs(lap - np.median(lap))) / 0.6745 / np.sqrt(20))


def main() -> None:
    from xraydeblur.data import load_image
    from xraydeblur.data.manifest import load_manifest

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=12)
    p.add_argument("--out")
    args = p.parse_args()
    by_source = defaultdict(list)
    for row in load_manifest():
        if row.file.startswith("cxr/"):
            by_source[row.file.split("/")[1]].append(row)
    table = {}
    print("| source | grain (1/255, median) | range | crop sd (1/255) | images |\n|---|---|---|---|---|")
    for source, rows in by_source.items():
        grain, spread = [], []
        for row in rows[: args.images]:
            image = load_image(row)
            h, w = image.shape
            crop = image[h // 2 - 128 : h // 2 + 128, w // 2 - 128 : w // 2 + 128]
            grain.append(255 * laplacian_noise(crop))
            spread.append(255 * float(crop.std()))
        table[source] = {"grain_median": float(np.median(grain)), "grain_min": min(grain), "grain_max": max(grain), "crop_sd": float(np.mean(spread)), "images": len(grain)}
        print(f"| {source} | {np.median(grain):.2f} | {min(grain):.2f}-{max(grain):.2f} | {np.mean(spread):.1f} | {len(grain)} |")
    if args.out:
        Path(args.out).write_text(json.dumps({"command": "python benchmarks/trials/source_grain.py " + " ".join(sys.argv[1:]), "table": table}, indent=1) + "\n")


if __name__ == "__main__":
    main()

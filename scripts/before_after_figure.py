"""README's before/after figure: a real radiograph, blurred, then deblurred by the CLI.

    python scripts/before_after_figure.py --out docs/figures/before_after.png

A 512 x 512 centre crop of one CC BY 3.0 radiograph from ../shared/data (Hannover
Medical School COVID-19 image repository; the only shared pixels the repository may
hold, with their attribution in README's caption) is blurred with a Gaussian of
sigma 2 px plus the benchmark's Poisson-Gaussian noise (dose 2000, read noise 0.002),
saved as the 8-bit PNG a user would upload, and deblurred by
``xraydeblur deblur --force`` with the default method, as a user would run it. The
figure is the input (left) and the output (right), 8-bit grey.
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from xraydeblur.data import data_root
from xraydeblur.degrade import gaussian_blur, poisson_gaussian_noise

SOURCE = "cxr/mhh/1e534853.png"  # Hannover Medical School COVID-19 image repository, CC BY 3.0
CROP = 512


def to_8bit(image: np.ndarray) -> Image.Image:
    return Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/figures/before_after.png")
    args = p.parse_args()
    sharp = np.asarray(Image.open(data_root() / SOURCE).convert("L"), dtype=np.float32) / 255
    h, w = sharp.shape
    top, left = (h - CROP) // 2, (w - CROP) // 2
    sharp = sharp[top : top + CROP, left : left + CROP]
    blurred, _ = gaussian_blur(sharp, 2.0)
    noisy = poisson_gaussian_noise(blurred, 2000, 0.002, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        before, after = Path(tmp) / "before.png", Path(tmp) / "after.png"
        to_8bit(noisy).save(before)
        subprocess.run([str(Path(sys.executable).with_name("xraydeblur")), "deblur", str(before), "-o", str(after), "--force"], check=True)
        left_img = Image.open(before).convert("L")
        right_img = Image.open(after)
        right_img = to_8bit(np.asarray(right_img, dtype=np.float32) / (65535 if right_img.mode.startswith("I") else 255))
    figure = Image.new("L", (2 * CROP + 8, CROP), 255)
    figure.paste(left_img, (0, 0))
    figure.paste(right_img, (CROP + 8, 0))
    figure.save(args.out, optimize=True)
    print(f"{args.out}: {Path(args.out).stat().st_size // 1024} kB")


if __name__ == "__main__":
    main()

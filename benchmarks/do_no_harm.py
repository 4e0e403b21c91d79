"""Do no harm on real, unblurred radiographs: detail and noise texture before and after.

    python benchmarks/do_no_harm.py --out benchmarks/results/do_no_harm.json
    python benchmarks/do_no_harm.py --crop 0 --images 30 --out benchmarks/results/do_no_harm-whole.json

For every real DICOM in ``../shared/data/dicom`` and the first ``--images`` test-split
radiographs (patient scheme), a ``--crop`` px centre crop at native resolution (or the
whole image, ``--crop 0``: ``benchmarks/results/do_no_harm-whole.json``), as stored (no
blur added), goes through the default pipeline three ways: as users get it
(no-blur rule on), forced at denoise strength 0 (keep the noise) and forced at 1 (full
restoration). Per output: PSNR against the input, the Laplacian's std in and out, the
output/input power in 0.25-0.5 and 0.5-1 x Nyquist, and the noise-power ratio on flat
regions (the quarter of 32 px tiles with the least gradient energy) in the same bands.
Goal (issue 27): the default returns the input; forced at S = 0 the power in
0.25-1 x Nyquist stays within 0.8-1.25 of the input's and PSNR >= 50 dB.
"""

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.ndimage import laplace

from xraydeblur.data import data_root, load_image
from xraydeblur.data.splits import split_rows
from xraydeblur.io import read_radiograph
from xraydeblur.methods import get_method
from xraydeblur.metrics import psnr
from xraydeblur.pipeline import restore

BANDS = ((0.25, 0.5), (0.5, 1.0))


def band_ratio(out: np.ndarray, ref: np.ndarray, band: tuple[float, float]) -> float:
    """Output over input power between band[0] and band[1] x Nyquist (whole crop)."""
    def power(x):
        spectrum = np.abs(np.fft.rfft2(x - x.mean())) ** 2
        fy = np.fft.fftfreq(x.shape[0])[:, None]
        fx = np.fft.rfftfreq(x.shape[1])[None, :]
        r = np.hypot(fx, fy) / 0.5
        return spectrum[(r >= band[0]) & (r < band[1])].sum()

    return float(power(out) / max(power(ref), 1e-30))


def flat_tiles(image: np.ndarray, tile: int = 32) -> list[tuple[slice, slice]]:
    """The quarter of ``tile`` px tiles with the least gradient energy (flat regions),
    among tiles that carry any noise: a constant or clipped background (the periphery
    of a whole radiograph) has none to compare."""
    gy, gx = np.gradient(image.astype(np.float64))
    clipped = (image <= 0) | (image >= 1)
    energy = []
    for y in range(0, image.shape[0] - tile + 1, tile):
        for x in range(0, image.shape[1] - tile + 1, tile):
            window = (slice(y, y + tile), slice(x, x + tile))
            e = float((gx[window] ** 2 + gy[window] ** 2).mean())
            if e > 0 and clipped[window].mean() < 0.5:
                energy.append((e, window))
    energy.sort(key=lambda item: item[0])
    return [w for _, w in energy[: max(1, len(energy) // 4)]]


def noise_power_ratio(out: np.ndarray, ref: np.ndarray, tiles, band) -> float:
    """Noise power spectrum ratio (output / input) on the flat tiles, in ``band``."""
    return float(np.mean([band_ratio(out[w], ref[w], band) for w in tiles]))


def measure(name: str, image: np.ndarray, method) -> dict:
    row = {"image": name}
    tiles = flat_tiles(image)
    for label, options in (("default", {}), ("force_S0", {"force": True, "denoise": 0.0}), ("force_S1", {"force": True, "denoise": 1.0})):
        result = restore(image, method, safeguard=False, **options)
        out = result.pixels
        row[label] = {
            "unchanged": result.facts["unchanged"],
            "psnr_vs_input": round(min(psnr(image, out), 99.0), 2),
            "laplacian_std": [round(float(laplace(image.astype(np.float64)).std()), 5), round(float(laplace(out.astype(np.float64)).std()), 5)],
            "power_ratio": [round(band_ratio(out, image, b), 3) for b in BANDS],
            "flat_noise_power_ratio": [round(noise_power_ratio(out, image, tiles, b), 3) for b in BANDS],
        }
    return row


def centre(image: np.ndarray, crop: int) -> np.ndarray:
    """The ``crop`` px centre crop of ``image``; ``crop`` 0: the whole image."""
    if not crop:
        return np.ascontiguousarray(image, dtype=np.float32)
    y0, x0 = max(0, (image.shape[0] - crop) // 2), max(0, (image.shape[1] - crop) // 2)
    return np.ascontiguousarray(image[y0 : y0 + crop, x0 : x0 + crop], dtype=np.float32)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--crop", type=int, default=512, help="centre crop side (px); 0: whole images, as users send them")
    p.add_argument("--images", type=int, default=12, help="test-split radiographs (first N)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/do_no_harm.json"))
    args = p.parse_args()
    method = get_method()
    rows = [measure(path.name, centre(read_radiograph(path).pixels, args.crop), method) for path in sorted((data_root() / "dicom").glob("*.dcm"))]
    rows += [measure(row.file, centre(load_image(row), args.crop), method) for row in split_rows("test")[: args.images]]
    print(f"{'image':44s} {'default':>8s} {'S=0 PSNR':>9s} {'S=0 power':>12s} {'S=1 PSNR':>9s} {'S=1 power':>12s} {'S=1 flat NPS':>13s}")
    for r in rows:
        s0, s1 = r["force_S0"], r["force_S1"]
        print(f"{r['image'][-44:]:44s} {'input' if r['default']['unchanged'] else 'changed':>8s} {s0['psnr_vs_input']:9.2f} {s0['power_ratio'][0]:5.2f}/{s0['power_ratio'][1]:5.2f} "
              f"{s1['psnr_vs_input']:9.2f} {s1['power_ratio'][0]:5.2f}/{s1['power_ratio'][1]:5.2f} {s1['flat_noise_power_ratio'][0]:6.2f}/{s1['flat_noise_power_ratio'][1]:5.2f}")
    summary = {
        "default_unchanged": sum(r["default"]["unchanged"] for r in rows),
        "images": len(rows),
        "force_S0_min_psnr": min(r["force_S0"]["psnr_vs_input"] for r in rows),
        "force_S0_power_ratio_range": [min(min(r["force_S0"]["power_ratio"]) for r in rows), max(max(r["force_S0"]["power_ratio"]) for r in rows)],
    }
    print(json.dumps(summary))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"crop": args.crop, "method": method.name, "summary": summary, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()

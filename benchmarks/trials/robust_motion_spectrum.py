"""Trial (issue 26): the spectrum the PSF refinement fits, the mean over tiles or their geometric mean.

``nafnet-auto`` sharpens the learned estimator's straight-motion length and angle by a
parametric fit of the image's Welch spectrum (:func:`xraydeblur.classical.psf_search.refine_psf`),
the mean periodogram of up to 1024 tiles of 64 px. On a whole radiograph a few tiles
hold most of the energy (lead markers, collimator edges, bone edges), and their
periodograms are anisotropic: under noise, where the motion's spectral zeros are hidden,
they pull the fitted angle (on ``966_fixed.dcm`` blurred by 9 px motion at 30 degrees
with 2000 photons: 24 degrees). The geometric mean over tiles (the mean of the log
periodograms, :func:`xraydeblur.classical.psf_search.welch_spectrum` with
``average="geometric"``) lets each tile count once, in proportion.

On ``--images`` evenly spaced validation radiographs (patient split) at full size and as
their centre ``--crop`` px crops: straight motion of each ``--lengths`` px at a random
angle and a disk of each ``--radii`` px (fixed seed), noise-free and at each ``--doses``
(photons at full scale), stored on ``--bits`` bits. Per case: the family the estimator
names and, where it is right, the parameter errors of the network alone and of the
refinement on each spectrum. Prints median and 90th-percentile errors per family, size
and noise level and writes JSON.

    python benchmarks/trials/robust_motion_spectrum.py --out benchmarks/results/trials/robust_motion_spectrum.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

SPECTRA = ("mean", "geometric")


def errors(found: dict, truth: dict) -> dict:
    """Absolute errors (px, degrees) of the parameters ``found`` against ``truth``."""
    from xraydeblur.models.psf_labels import angle_difference

    if "angle" in truth:
        return {"angle_error": angle_difference(found["angle"], truth["angle"]), "length_error": abs(found["length"] - truth["length"])}
    return {"radius_error": abs(found["radius"] - truth["radius"])}


def main() -> None:
    from xraydeblur.classical.psf_search import refine_psf, welch_spectrum
    from xraydeblur.data import load_image
    from xraydeblur.data.splits import split_rows
    from xraydeblur.degrade import blur, make_kernel, quantize
    from xraydeblur.degrade.noise import poisson_gaussian_noise
    from xraydeblur.infer.learned_psf import estimate_learned_psf

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=12)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--lengths", type=float, nargs="+", default=[5.0, 9.0, 15.0])
    p.add_argument("--radii", type=float, nargs="+", default=[2.0, 3.0])
    p.add_argument("--doses", type=float, nargs="+", default=[20000.0, 2000.0])
    p.add_argument("--bits", type=int, default=12)
    p.add_argument("--out", default="benchmarks/results/trials/robust_motion_spectrum.json")
    args = p.parse_args()

    rows = split_rows("val")
    rows = [rows[i] for i in np.linspace(0, len(rows) - 1, min(args.images, len(rows))).astype(int)]
    rng = np.random.default_rng(26)
    records = []
    for row in rows:
        sharp = load_image(row).astype(np.float64)
        blurs = [("motion", {"length": length, "angle": float(rng.uniform(0, 180))}) for length in args.lengths]
        blurs += [("disk", {"radius": radius}) for radius in args.radii]
        for family, truth in blurs:
            blurred = blur(sharp, make_kernel(family, **truth))
            for dose in [None, *args.doses]:
                seed = int(rng.integers(1 << 30))
                noisy = blurred if dose is None else poisson_gaussian_noise(blurred, dose, seed=seed)
                stored = quantize(np.clip(noisy, 0, 1), args.bits).astype(np.float32)
                h, w = stored.shape
                c = args.crop
                views = {"full": stored, f"crop{c}": stored[(h - c) // 2 : (h - c) // 2 + c, (w - c) // 2 : (w - c) // 2 + c]}
                for view, image in views.items():
                    found = estimate_learned_psf(image, refine=False)
                    record = {"image": row.file, "view": view, "size": list(image.shape), "family": family, "truth": {k: round(v, 2) for k, v in truth.items()},
                              "dose": dose, "found": found.family}
                    if found.family == family:
                        record["network"] = errors(found.params, truth)
                        for name in SPECTRA:
                            t0 = time.perf_counter()
                            refined = refine_psf(image, family, found.params, 64, welch_spectrum(image, 64, 1024, average=name))
                            record[name] = {**errors(refined, truth), "seconds": round(time.perf_counter() - t0, 3)}
                    records.append(record)
                    print(json.dumps({k: v for k, v in record.items() if k not in ("image",)}), flush=True)
    summary: dict = defaultdict(dict)
    measures = {"motion": ("angle_error", "length_error"), "disk": ("radius_error",)}
    for family, names in measures.items():
        print(f"\n| {family}: view | noise | found | " + " | ".join(f"{v} {m} median / p90" for v in ("network", *SPECTRA) for m in names) + " |")
        for view in sorted({r["view"] for r in records}):
            for dose in [None, *args.doses]:
                items = [r for r in records if r["family"] == family and r["view"] == view and r["dose"] == dose]
                right = [r for r in items if r["found"] == family]
                key = f"{family} {view} " + ("noise-free" if dose is None else f"dose {dose:g}")
                entry = {"cases": len(items), "family_found": len(right)}
                cells = []
                for variant in ("network", *SPECTRA):
                    for m in names:
                        values = [r[variant][m] for r in right]
                        entry[f"{variant} {m}"] = [float(np.median(values)), float(np.percentile(values, 90))] if values else None
                        cells.append(f"{np.median(values):.2f} / {np.percentile(values, 90):.2f}" if values else "-")
                summary[key] = entry
                print(f"| {view} | {key.split(' ', 2)[2]} | {len(right)}/{len(items)} | " + " | ".join(cells) + " |")
    Path(args.out).write_text(json.dumps({"command": "python benchmarks/trials/robust_motion_spectrum.py " + " ".join(sys.argv[1:]),
                                          "split": "val (patient)", "summary": summary, "records": records}, indent=1) + "\n")


if __name__ == "__main__":
    main()

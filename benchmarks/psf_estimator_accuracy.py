"""How well the shipped learned PSF estimator names the blur, on the test split.

Two sets, both from test-split radiographs only:

1. ``distribution``: ``--samples`` draws of the training distribution
   (:mod:`xraydeblur.train.psf_data`: every family, 128-384 px windows, noise, 8-16-bit
   grids, JPEG), fixed seed; reported per noise level (noise-free, dose >= 3000 photons,
   dose < 3000): family accuracy, the confusion matrix, and the median absolute errors
   of Gaussian sigma, disk radius, motion length and angle where the family is right.
2. ``benchmark``: the fixed benchmark's crops (``--max-images`` evenly spaced test
   images, ``--crop`` px, 14 degradations) at each of ``--bits``: per row the family
   found, the parameter error, how often the estimate is usable (the shipped rule), and
   the same for the spectral identification of ``nafnet-psf`` (``--spectral``, float
   input only: it takes seconds per crop).

It also times the estimator on a ``--size`` px image (features + network, best of 3).

    python benchmarks/psf_estimator_accuracy.py --samples 1500 --max-images 12 --crop 256 --bits 0 8 12 --spectral --out benchmarks/results/psf_estimator_accuracy.json

``--scheme source --held-out mhh`` scores the mhh radiographs (with an estimator trained
without them: ``--estimator-dir``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def noise_level(facts: dict) -> str:
    if not facts.get("dose"):
        return "noise-free"
    return "dose>=3000" if facts["dose"] >= 3000 else "dose<3000"


def distribution_set(rows, samples: int, folder: Path) -> dict:
    from xraydeblur.infer.learned_psf import estimator_meta, network_output
    from xraydeblur.train import psf_data
    from xraydeblur.train.psf_estimator import accuracy

    temperature = float(estimator_meta(folder).get("temperature", 1.0))
    pool = psf_data.CropPool(rows, per_image=2, seed=123)
    features, _, _, facts = psf_data.batch(pool, np.random.default_rng(2024), samples)
    outputs = network_output(features, folder)
    by_level = defaultdict(list)
    for i, f in enumerate(facts):
        by_level[noise_level(f)].append(i)
    report = {"all": accuracy(outputs, facts, temperature)}
    for level, index in sorted(by_level.items()):
        report[level] = accuracy(outputs[index], [facts[i] for i in index], temperature)
    return report


def _param_error(family: str, found_family: str, found: dict, truth: dict) -> float | None:
    if found_family != family:
        return None
    if family == "gaussian":
        return abs(found["sigma"] - truth["sigma"])
    if family == "disk":
        return abs(found["radius"] - truth["radius"])
    if family == "motion":
        return abs(found["length"] - truth["length"])
    return None


def benchmark_set(rows, crop: int, bits_list: list[int], spectral: bool, folder: Path) -> dict:
    from xraydeblur.evaluate import benchmark_inputs
    from xraydeblur.infer.learned_psf import estimate_learned_psf
    from xraydeblur.models.psf_labels import angle_difference

    per_row: dict[str, dict] = {}
    for bits in bits_list:
        suffix = f"+{bits}bit" if bits else ""
        for row in rows:
            for case, _, degraded, _ in benchmark_inputs([row], crop, bits or None):
                truth_family, truth = case.degradation.kind, case.degradation.params
                entry = per_row.setdefault(case.family + suffix, {"n": 0, "learned": Counter(), "learned_error": [], "learned_angle": [], "refined_error": [], "refined_angle": [], "usable": 0, "spectral": Counter(), "spectral_error": [], "spectral_trusted": 0})
                entry["n"] += 1
                found = estimate_learned_psf(degraded, folder, refine=False)
                refined = estimate_learned_psf(degraded, folder, refine=True)
                entry["learned"][found.family] += 1
                entry["usable"] += int(found.usable)
                for name, estimate in (("learned", found), ("refined", refined)):
                    error = _param_error(truth_family, estimate.family, estimate.params, truth)
                    if error is not None:
                        entry[f"{name}_error"].append(error)
                    if truth_family == "motion" and estimate.family == "motion":
                        entry[f"{name}_angle"].append(angle_difference(estimate.params["angle"], truth["angle"]))
                if spectral and not bits:  # the spectral fit on float input only (seconds per crop)
                    from xraydeblur.classical.psf_search import estimate_psf

                    other = estimate_psf(degraded)
                    entry["spectral"][other.family] += 1
                    entry["spectral_trusted"] += int(other.trusted)
                    error = _param_error(truth_family, other.family, other.params, truth)
                    if error is not None:
                        entry["spectral_error"].append(error)
            print(f"{row.file} {suffix or 'float'} done", flush=True)
    out = {}
    for name, e in per_row.items():
        out[name] = {
            "n": e["n"],
            "learned_families": dict(e["learned"]),
            "learned_median_param_error_px": float(np.median(e["learned_error"])) if e["learned_error"] else None,
            "learned_median_angle_error_deg": float(np.median(e["learned_angle"])) if e["learned_angle"] else None,
            "refined_median_param_error_px": float(np.median(e["refined_error"])) if e["refined_error"] else None,
            "refined_median_angle_error_deg": float(np.median(e["refined_angle"])) if e["refined_angle"] else None,
            "learned_usable": e["usable"],
        }
        if spectral:
            out[name].update(
                spectral_families=dict(e["spectral"]),
                spectral_median_param_error_px=float(np.median(e["spectral_error"])) if e["spectral_error"] else None,
                spectral_trusted=e["spectral_trusted"],
            )
    return out


def timing(size: int, folder: Path) -> dict:
    """Best of 3 seconds on a ``size`` px synthetic radiograph: the spectrum features, the
    whole estimate of the unblurred image (no refinement), and the whole estimate of the
    image blurred by 9 px motion at 30 degrees (the refined family with the most grids)."""
    from xraydeblur.data.synthetic import power_law_scene
    from xraydeblur.degrade import blur, make_kernel
    from xraydeblur.infer.learned_psf import estimate_learned_psf, spectrum_features

    image = power_law_scene(size).astype(np.float32)
    moved = blur(image, make_kernel("motion", length=9.0, angle=30.0)).astype(np.float32)
    estimate_learned_psf(image, folder)
    best = {"features": np.inf, "unblurred": np.inf, "motion": np.inf}
    for _ in range(3):
        for name, run in (("features", lambda: spectrum_features(image)), ("unblurred", lambda: estimate_learned_psf(image, folder)),
                          ("motion", lambda: estimate_learned_psf(moved, folder))):
            t = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - t)
    return {"size": size, "features_seconds": round(best["features"], 4), "estimate_seconds": round(best["unblurred"], 4),
            "estimate_seconds_motion_refined": round(best["motion"], 4)}


def print_tables(result: dict) -> None:
    dist = result["distribution"]
    print(f"\n{'noise level':14s} {'n':>5s} {'family acc':>10s} {'sigma err':>9s} {'radius err':>10s} {'length err':>10s} {'angle err':>9s}")
    for level, r in dist.items():
        e = r["median_abs_error"]
        fmt = lambda v: f"{v:.2f}" if v is not None else "-"  # noqa: E731
        print(f"{level:14s} {r['samples']:5d} {r['family_accuracy']:10.3f} {fmt(e['gaussian_sigma_px']):>9s} {fmt(e['disk_radius_px']):>10s} {fmt(e['motion_length_px']):>10s} {fmt(e['motion_angle_deg']):>9s}")
    print("\nconfusion (all; rows = true family, columns = found):")
    confusion = dist["all"]["confusion"]
    names = list(confusion)
    print(" " * 12 + "".join(f"{n[:10]:>11s}" for n in names))
    for t in names:
        print(f"{t[:12]:12s}" + "".join(f"{confusion[t][p]:11d}" for p in names))
    print(f"\n{'benchmark row':30s} {'n':>3s} {'learned found':40s} {'err px':>6s} {'refined':>7s} {'usable':>6s}  spectral found (err px)")
    for name, r in result["benchmark"].items():
        found = ", ".join(f"{k} {v}" for k, v in sorted(r["learned_families"].items(), key=lambda kv: -kv[1]))
        err, refined = r["learned_median_param_error_px"], r["refined_median_param_error_px"]
        spectral = ", ".join(f"{k} {v}" for k, v in sorted(r.get("spectral_families", {}).items(), key=lambda kv: -kv[1]))
        other = r.get("spectral_median_param_error_px")
        print(f"{name:30s} {r['n']:3d} {found:40s} {err if err is None else round(err, 2)!s:>6s} {refined if refined is None else round(refined, 2)!s:>7s} {r['learned_usable']:6d}  {spectral} ({other if other is None else round(other, 2)})")
    print("\ntiming:", json.dumps(result["timing"]))


def main() -> None:
    from xraydeblur.cli.evaluate import subset
    from xraydeblur.data.splits import split_rows
    from xraydeblur.infer.learned_psf import ESTIMATOR_DIR

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=1500)
    p.add_argument("--max-images", type=int, default=12)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--bits", type=int, nargs="+", default=[0, 8, 12])
    p.add_argument("--spectral", action="store_true", help="also score nafnet-psf's spectral identification")
    p.add_argument("--scheme", default="patient")
    p.add_argument("--held-out", default="mhh")
    p.add_argument("--estimator-dir", default=str(ESTIMATOR_DIR))
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--out", default="benchmarks/results/psf_estimator_accuracy.json")
    args = p.parse_args()
    folder = Path(args.estimator_dir)
    rows = split_rows("test", args.scheme, args.held_out)
    result = {
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "distribution": distribution_set(rows, args.samples, folder),
        "benchmark": benchmark_set(subset(rows, args.max_images), args.crop, args.bits, args.spectral, folder),
        "timing": timing(args.size, folder),
    }
    print_tables(result)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""How often the safeguard passes honest outputs and flags invented structure.

    python benchmarks/safeguard_rates.py --out benchmarks/results/safeguard_rates.json

1. **Honest outputs**: the first ``--images`` test-split radiographs (patient scheme),
   ``--crop`` px centre crops at native resolution under the benchmark's 14 degradations
   (Gaussian 1/2/3, motion 5/9/15, disk 2 px, without and with dose noise), restored by
   the default pipeline (blind, forced, safeguard on the full restoration with the PSF
   the pipeline uses); the first ``--full`` of them at full size under Gaussian sigma
   2 px without and with dose noise; and the 5 real DICOMs at full size, unblurred and
   blurred with Gaussian sigma 2 px, forced. The pass rate is the share judged
   consistent (goal, issue 27: at least 95 %).
2. **Invented structure**: on the honest restorations of Gaussian sigma 2 (with and
   without noise), a Gaussian blob of contrast 1-5 % of full scale and sigma 3-30 px is
   pasted at the centre of the restoration; the detection rate is the share flagged
   (goal: at least 95 % from 2 % and 5 px upwards).

Nothing here tunes the safeguard; it measures the shipped one. ``--from-json`` summarises
an earlier run's cases again (for the summary's ``goals_percent``) without re-measuring.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from xraydeblur.data import benchmark_cases, data_root, load_image
from xraydeblur.data.benchmark import BENCHMARK_DOSE, BENCHMARK_READ_NOISE, BenchmarkCase
from xraydeblur.degrade import Degradation, gaussian_blur
from xraydeblur.data.splits import split_rows
from xraydeblur.io import read_radiograph
from xraydeblur.methods import get_method
from xraydeblur.pipeline import restore, safeguard_facts

CONTRASTS = (0.01, 0.02, 0.03, 0.04, 0.05)
SIZES = (3.0, 5.0, 12.0, 20.0, 30.0)


def blob(shape, contrast: float, sigma: float) -> np.ndarray:
    """A centred Gaussian blob of peak ``contrast`` (full-scale units) and width ``sigma`` px."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    cy, cx = shape[0] / 2, shape[1] / 2
    return (contrast * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))).astype(np.float32)


def measure(images: int, crop: int, full: int) -> tuple[str, list[dict], list[dict]]:
    """``(method name, honest cases, blob detections)`` on the test split (module doc)."""
    method = get_method()
    honest, detections = [], []
    for row in split_rows("test")[:images]:
        image = load_image(row)
        for case in benchmark_cases([row], crop=crop):
            _, degraded, _ = case.load(image)
            result = restore(degraded, method, force=True)
            honest.append({"case": case.key, "family": case.family, "consistent": bool(result.facts["safeguard"]["consistent"]), "score": result.facts["safeguard"]["score"]})
            if case.family in ("gaussian-sigma2", "gaussian-sigma2+noise"):
                source = result.facts.get("kernel_source") or "estimated"
                for contrast in CONTRASTS:
                    for size in SIZES:
                        forged = np.clip(result.estimate + blob(degraded.shape, contrast, size), 0, 1)
                        report, _ = safeguard_facts(degraded, forged, result.kernel, source, False)
                        detections.append({"case": case.key, "noise": "noise" in case.family, "contrast": contrast, "sigma": size, "flagged": not report["consistent"]})

    def record(case: str, family: str, degraded: np.ndarray) -> None:
        report = restore(degraded, method, force=True).facts["safeguard"]
        honest.append({"case": case, "family": family, "consistent": bool(report["consistent"]), "score": report["score"], "flagged_scales_px": report["flagged_scales_px"]})

    for row in split_rows("test")[:full]:
        image = load_image(row)
        for deg in (Degradation("gaussian", {"sigma": 2.0}), Degradation("gaussian", {"sigma": 2.0}, dose=BENCHMARK_DOSE, read_noise=BENCHMARK_READ_NOISE)):
            record(f"{row.file}::{deg.name}", f"full size {deg.name}", BenchmarkCase(row, deg, 0, 10**6).load(image)[1])
    for path in sorted((data_root() / "dicom").glob("*.dcm")):
        pixels = read_radiograph(path).pixels
        record(path.name, "unblurred DICOM", pixels)
        record(path.name, "DICOM gaussian-sigma2", gaussian_blur(pixels, 2.0)[0])
    return method.name, honest, detections


def summarise(honest: list[dict], detections: list[dict]) -> dict:
    """Pass rate, per-family pass rates, the detection table, and the two goal figures
    of issue 27 as percentages."""
    table: dict = {}
    for d in detections:
        key = f"{100 * d['contrast']:g}% sigma {d['sigma']:g}px " + ("noise" if d["noise"] else "no noise")
        table.setdefault(key, []).append(d["flagged"])
    by_family: dict = {}
    for h in honest:
        by_family.setdefault(h["family"], []).append(h["consistent"])
    goal_blobs = [d["flagged"] for d in detections if d["contrast"] >= 0.02 and d["sigma"] >= 5]
    pass_rate = float(np.mean([h["consistent"] for h in honest]))
    return {"honest_pass_rate": pass_rate, "honest_pass_by_family": {k: float(np.mean(v)) for k, v in by_family.items()},
            "blob_detection": {k: float(np.mean(v)) for k, v in table.items()},
            "goals_percent": {"honest_pass": round(100 * pass_rate, 1), "honest_cases": len(honest),
                              "blobs_from_2pct_5px_flagged": round(100 * float(np.mean(goal_blobs)), 1) if goal_blobs else None}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--crop", type=int, default=384)
    p.add_argument("--full", type=int, default=3, help="test radiographs also restored at full size")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/safeguard_rates.json"))
    p.add_argument("--from-json", type=Path, help="summarise an earlier run's cases again instead of measuring")
    args = p.parse_args()
    if args.from_json:
        old = json.loads(args.from_json.read_text())
        name, honest, detections = old["method"], old["honest"], old["detections"]
        args.images, args.crop, args.full = old["images"], old["crop"], old.get("full", 0)
    else:
        name, honest, detections = measure(args.images, args.crop, args.full)
    summary = summarise(honest, detections)
    print(f"honest outputs passing: {summary['goals_percent']['honest_pass']:.1f} % of {len(honest)}")
    for family, value in summary["honest_pass_by_family"].items():
        print(f"  {family:34s} {100 * value:5.1f} %")
    print(f"blobs from 2 % and sigma 5 px flagged: {summary['goals_percent']['blobs_from_2pct_5px_flagged']} %")
    print("blob detection (share flagged):")
    for key, value in summary["blob_detection"].items():
        print(f"  {key:34s} {100 * value:5.1f} %")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"images": args.images, "crop": args.crop, "full": args.full, "method": name, **summary,
                                    "honest": honest, "detections": detections}, indent=1) + "\n")


if __name__ == "__main__":
    main()

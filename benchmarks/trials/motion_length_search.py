"""Trial (issue 26): how far from the learned estimator's motion length the spectral
refinement must search, on the VALIDATION split (the test split is never read).

The network's motion length is its least reliable output (validation: 0.44 to 1.73 times
the true length; its angle is within a few degrees), and the former refinement's first
pass searched only +-30 % around it (:data:`FORMER_FIRST_PASS`): a 15 px motion
estimated at 9 px was then refined to a wrong local fit. The alternative's first pass
searches every length the estimator was trained on (3-21 px, 1 px steps; the angle as
before), then the same finer passes; it is the one shipped since
(:data:`xraydeblur.classical.psf_search.REFINE_PASSES`).

Per validation case (``--images`` evenly spaced images, 256 px crops, the benchmark's
motion degradations with and without noise, at each of ``--bits``) where the estimator
names straight motion: the refined length's error and the learned data step's PSNR with
each refinement, against blind. The packaged estimator on the patient split, or the
mhh-held-out one with ``--scheme source --held-out mhh --weights-dir
benchmarks/weights/unseen-mhh``. Prints a table and writes JSON.

    python benchmarks/trials/motion_length_search.py --images 10 --bits 0 8 12 --out benchmarks/results/trials/motion_length_search.json
"""

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))


#: the motion refinement's first pass before this trial: +-3 px or +-30 % of the length
#: (the larger) at 1 px, angle +-6 degrees at 2 degrees
FORMER_FIRST_PASS = {"length": (3.0, 1.0), "angle": (6.0, 2.0)}


def whole_range_passes(finer: list[dict]) -> list[dict]:
    """A first pass over every trained length (1 px; angle as :data:`FORMER_FIRST_PASS`), then ``finer``."""
    return [{**FORMER_FIRST_PASS, "length": (None, 1.0)}, *finer]


def main() -> None:
    from xraydeblur.classical.psf_search import REFINE_PASSES, _kernel, refine_psf
    from xraydeblur.cli.evaluate import subset
    from xraydeblur.data.splits import split_rows
    from xraydeblur.evaluate import benchmark_iter
    from xraydeblur.infer.data_step import data_step
    from xraydeblur.infer.learned_psf import ESTIMATOR_DIR, FEATURE_TILE, estimate_learned_psf, image_spectrum
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=10)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--bits", type=int, nargs="+", default=[0, 8, 12])
    p.add_argument("--scheme", default="patient", choices=["patient", "source"])
    p.add_argument("--held-out", default="mhh")
    p.add_argument("--weights-dir")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    folder = ESTIMATOR_DIR
    if args.weights_dir:
        from xraydeblur.models.registry import register_weights_dir

        register_weights_dir(args.weights_dir)
        folder = Path(args.weights_dir) / "psf"
    blind = get_method("nafnet-blind")
    step_stem = get_method("nafnet-kernel").extra.get("learned_step")
    finer = REFINE_PASSES["motion"][1:]
    variants = {"former": {"motion": [FORMER_FIRST_PASS, *finer]}, "whole range": {"motion": whole_range_passes(finer)}}
    rows = subset(split_rows("val", args.scheme, args.held_out), args.images)
    records = []
    for bits in args.bits:
        for key, family, sharp, degraded, _kernel_true in benchmark_iter(rows, args.crop, bits or None):
            if not family.startswith("motion"):
                continue
            found = estimate_learned_psf(degraded, folder, refine=False)
            if found.family != "motion":
                continue
            true_length = float(family.split("length")[1].split("+")[0])
            z = blind(degraded)
            power = image_spectrum(degraded)
            rec = {"key": key, "row": family, "blind": psnr(sharp, z), "network_length": found.params["length"], "confidence": found.confidence}
            for name, passes in variants.items():
                t0 = time.perf_counter()
                params = refine_psf(degraded, "motion", found.params, FEATURE_TILE, power, passes=passes)
                rec[f"{name} seconds"] = time.perf_counter() - t0
                rec[f"{name} length error"] = abs(params["length"] - true_length)
                rec[name] = psnr(sharp, data_step(degraded, z, _kernel("motion", params), learned=True, step_stem=step_stem))
            records.append(rec)
            print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in rec.items()}), flush=True)
    by_row = defaultdict(list)
    for r in records:
        by_row[r["row"]].append(r)
    table = {}
    print("\n| row | cases | blind | former - blind | whole range - blind | worst case former / whole range | length error > 0.5 px former / whole range | median seconds former / whole range |")
    print("|---|---|---|---|---|---|---|---|")
    for row, items in by_row.items():
        entry = {"cases": len(items), "blind": float(np.mean([r["blind"] for r in items]))}
        for name in variants:
            entry[name] = float(np.mean([r[name] - r["blind"] for r in items]))
            entry[f"{name} worst"] = float(min(r[name] - r["blind"] for r in items))
            entry[f"{name} length off"] = int(sum(r[f"{name} length error"] > 0.5 for r in items))
            entry[f"{name} median seconds"] = float(np.median([r[f"{name} seconds"] for r in items]))
        table[row] = entry
        print(f"| {row} | {entry['cases']} | {entry['blind']:.2f} | {entry['former']:+.2f} | {entry['whole range']:+.2f} | {entry['former worst']:+.2f} / {entry['whole range worst']:+.2f} | "
              f"{entry['former length off']} / {entry['whole range length off']} | {entry['former median seconds']:.2f} / {entry['whole range median seconds']:.2f} |")
    if args.out:
        args.out.write_text(json.dumps({"command": "python benchmarks/trials/motion_length_search.py " + " ".join(sys.argv[1:]), "split": "val",
                                        "variants": {k: v["motion"] for k, v in variants.items()}, "table": table, "records": records}, indent=1) + "\n")


if __name__ == "__main__":
    main()

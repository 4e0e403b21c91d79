"""How much tile overlap the blind flagship needs on full-size radiographs, scored on
the VALIDATION split (the test split is never read).

Tiled inference (:func:`xraydeblur.infer.tiling.tiled_apply`) bounds memory but is not
exactly whole-image inference (the network's channel attention pools over its input,
and tile edges see padding). This script runs
the shipped ``nafnet-blind`` on whole validation radiographs at native resolution
(every ``--every``-th image, up to ``--images``), each blurred with Gaussian sigma 2 px
plus Poisson-Gaussian noise (the benchmark's dose), whole-image (one pass, no tiles)
and tiled with each overlap of ``--overlaps`` (448 px tiles), and reports per overlap:
mean PSNR against the sharp image (dB), and the mean and largest absolute difference
from the whole-image output ([0, 1] units). Prints a table and writes JSON.

    python benchmarks/tile_overlap.py --out benchmarks/results/tile_overlap.json
"""

import argparse
import json
import sys

import numpy as np


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=4)
    p.add_argument("--every", type=int, default=15, help="take every N-th validation image")
    p.add_argument("--overlaps", type=int, nargs="+", default=[64, 48, 32])
    p.add_argument("--out")
    args = p.parse_args()
    from xraydeblur.data import load_image, split_rows
    from xraydeblur.degrade import Degradation
    from xraydeblur.infer.network import TILE, NetworkMethod
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    stem = get_method("nafnet-blind").run.stem
    whole_net = NetworkMethod(stem, tile=100_000)  # one tile: the whole image
    nets = {o: NetworkMethod(stem, tile=TILE, overlap=o) for o in args.overlaps}
    degradation = Degradation("gaussian", {"sigma": 2.0}, dose=2000.0, read_noise=0.002)
    rows = []
    for row in split_rows("val")[:: args.every][: args.images]:
        sharp = load_image(row)
        blurred, _ = degradation.apply(sharp, seed=0)
        whole = whole_net(blurred)
        rec = {"file": row.file, "shape": list(sharp.shape), "whole": psnr(sharp, whole, border=8)}
        for o, net in nets.items():
            out = net(blurred)
            diff = np.abs(out - whole)
            rec[str(o)] = {"psnr": psnr(sharp, out, border=8), "mean_abs_diff": float(diff.mean()), "max_abs_diff": float(diff.max())}
        rows.append(rec)
        print(f"done {row.file} {sharp.shape}", file=sys.stderr, flush=True)
    summary = {
        str(o): {
            "psnr": float(np.mean([r[str(o)]["psnr"] for r in rows])),
            "psnr_minus_whole": float(np.mean([r[str(o)]["psnr"] - r["whole"] for r in rows])),
            "mean_abs_diff": float(np.mean([r[str(o)]["mean_abs_diff"] for r in rows])),
            "max_abs_diff": float(max(r[str(o)]["max_abs_diff"] for r in rows)),
        }
        for o in args.overlaps
    }
    print(f"\n{len(rows)} validation radiographs, Gaussian sigma 2 + noise; whole-image PSNR {np.mean([r['whole'] for r in rows]):.3f} dB")
    print("| overlap (px) | PSNR (dB) | minus whole-image | mean abs diff from whole | max abs diff |\n|---|---|---|---|---|")
    for o, s in summary.items():
        print(f"| {o} | {s['psnr']:.3f} | {s['psnr_minus_whole']:+.4f} | {s['mean_abs_diff']:.2e} | {s['max_abs_diff']:.2e} |")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"command": "python benchmarks/tile_overlap.py " + " ".join(sys.argv[1:]), "split": "val", "tile": TILE, "summary": summary, "images": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

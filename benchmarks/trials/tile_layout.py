"""Which tile size and overlap the blind flagship should run with: speed on this CPU and
closeness to whole-image inference on the VALIDATION split (the test split is never read).

Tiled inference (:func:`xraydeblur.infer.tiling.tiled_apply`) bounds memory but is not
exactly whole-image inference (the network's channel attention pools over its input,
and tile edges see padding), and the tile side decides how fast the network runs (cache
effects). Three measurements with the shipped ``nafnet-blind`` and its automatically
chosen backend:

1. seconds per megapixel per tile side (``--sides``), tiles run as tiled inference runs
   them (``backend.parallel`` at once), best of ``--repeats`` interleaved rounds;
2. seconds to deblur a 2048 x 2048 synthetic radiograph
   (:func:`xraydeblur.data.synthetic.power_law_scene`) per layout (``--layouts``,
   ``TILE:OVERLAP`` px; the side actually used is :func:`~xraydeblur.infer.tiling.tile_layout`'s),
   best of ``--repeats`` interleaved rounds;
3. per layout, on whole validation radiographs at native resolution (every
   ``--every``-th image, up to ``--images``) blurred with Gaussian sigma 2 px +
   Poisson-Gaussian noise (the benchmark's dose) and with 9 px motion blur without
   noise: PSNR against the sharp image minus the PSNR of whole-image inference (one
   pass, no tiles; dB), and the mean and largest absolute difference from it ([0, 1]).

The rule it prints (``choice``): the fastest layout (2) whose mean PSNR minus
whole-image (3) is at most 0.01 dB below the reference layout's (the first of
``--layouts``). Prints tables and writes JSON.

    python benchmarks/trials/tile_layout.py --out benchmarks/results/trials/tile_layout.json
"""

import argparse
import json
import os
import sys
import time

import numpy as np

#: a layout may lose at most this much (dB, mean over the validation images) against
#: the reference layout's closeness to whole-image inference
MAX_LOSS_DB = 0.01


def _parse(layout: str) -> tuple[int, int]:
    tile, overlap = layout.split(":")
    return int(tile), int(overlap)


def side_speed(backend, sides: list[int], repeats: int) -> dict[int, float]:
    """Seconds per megapixel per tile side (best of ``repeats`` interleaved rounds)."""
    from xraydeblur.infer.backends import _seconds_per_tile

    best = {s: np.inf for s in sides}
    for _ in range(repeats):
        for s in sides:
            x = np.random.default_rng(0).random((1, 1, s, s), dtype=np.float32)
            best[s] = min(best[s], _seconds_per_tile(backend, x, rounds=2) / (s * s) * 1e6)
    return best


def layout_speed(nets: dict, size: int, repeats: int) -> dict[str, float]:
    """Seconds per ``size`` x ``size`` synthetic radiograph per layout (best of ``repeats``)."""
    from xraydeblur.data.synthetic import power_law_scene

    image = power_law_scene(size).astype(np.float32)
    best = {name: np.inf for name in nets}
    for _ in range(repeats):
        for name, net in nets.items():
            t = time.perf_counter()
            net(image)
            best[name] = min(best[name], time.perf_counter() - t)
    return best


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layouts", nargs="+", default=["448:64", "448:32", "304:32", "272:32", "256:32", "256:48", "208:32"])
    p.add_argument("--sides", type=int, nargs="+", default=list(range(176, 337, 16)) + [400, 448])
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--images", type=int, default=4)
    p.add_argument("--every", type=int, default=15, help="take every N-th validation image")
    p.add_argument("--out")
    args = p.parse_args()
    from xraydeblur.data import load_image, split_rows
    from xraydeblur.data.benchmark import BENCHMARK_DOSE, BENCHMARK_READ_NOISE
    from xraydeblur.degrade import Degradation
    from xraydeblur.infer.network import MARGIN, NetworkMethod
    from xraydeblur.infer.tiling import tile_layout
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    stem = get_method("nafnet-blind").run.stem
    reference = NetworkMethod(stem)
    backend = reference.backend
    nets = {}
    for layout in args.layouts:
        tile, overlap = _parse(layout)
        nets[layout] = NetworkMethod(stem, tile=tile, overlap=overlap)
        nets[layout].__dict__["backend"] = backend  # one session for all: same speed conditions
    padded = args.size + 2 * MARGIN
    sides = {layout: tile_layout(padded, *_parse(layout)) for layout in args.layouts}

    per_side = side_speed(backend, args.sides, args.repeats)
    print(f"backend {backend.name}, {os.cpu_count()} CPU cores\n| tile side (px) | s per megapixel |\n|---|---|")
    for s, t in per_side.items():
        print(f"| {s} | {t:.3f} |", flush=True)

    seconds = layout_speed(nets, args.size, args.repeats)

    whole_net = NetworkMethod(stem, tile=100_000, backend="torch")  # one tile: the whole image
    degradations = {
        "gaussian-sigma2+noise": Degradation("gaussian", {"sigma": 2.0}, dose=BENCHMARK_DOSE, read_noise=BENCHMARK_READ_NOISE),
        "motion-length9": Degradation("motion", {"length": 9, "angle": 30.0}),
    }
    rows = []
    for row in split_rows("val")[:: args.every][: args.images]:
        sharp = load_image(row)
        for name, degradation in degradations.items():
            blurred, _ = degradation.apply(sharp, seed=0)
            whole = whole_net(blurred)
            rec = {"file": row.file, "shape": list(sharp.shape), "degradation": name, "whole": psnr(sharp, whole, border=8)}
            for layout, net in nets.items():
                out = net(blurred)
                diff = np.abs(out - whole)
                rec[layout] = {"psnr_minus_whole": psnr(sharp, out, border=8) - rec["whole"], "mean_abs_diff": float(diff.mean()), "max_abs_diff": float(diff.max())}
            rows.append(rec)
        print(f"done {row.file} {sharp.shape}", file=sys.stderr, flush=True)

    summary = {
        layout: {
            "side_at_size": sides[layout][0],
            "tiles_at_size": len(sides[layout][1]) ** 2,
            "seconds": seconds[layout],
            "psnr_minus_whole": float(np.mean([r[layout]["psnr_minus_whole"] for r in rows])),
            "worst_psnr_minus_whole": float(min(r[layout]["psnr_minus_whole"] for r in rows)),
            "mean_abs_diff": float(np.mean([r[layout]["mean_abs_diff"] for r in rows])),
            "max_abs_diff": float(max(r[layout]["max_abs_diff"] for r in rows)),
        }
        for layout in args.layouts
    }
    bound = summary[args.layouts[0]]["psnr_minus_whole"] - MAX_LOSS_DB
    eligible = [layout for layout in args.layouts if summary[layout]["psnr_minus_whole"] >= bound]
    choice = min(eligible, key=lambda layout: summary[layout]["seconds"])
    print(f"\n{args.size} x {args.size} synthetic (speed); {len(rows)} validation cases ({len(rows) // len(degradations)} radiographs x {list(degradations)}) (closeness)")
    print("| layout (tile:overlap px) | side x tiles at this size | seconds | PSNR minus whole-image (dB) | worst | mean abs diff | max abs diff |\n|---|---|---|---|---|---|---|")
    for layout, s in summary.items():
        print(f"| {layout} | {s['side_at_size']} x {s['tiles_at_size']} | {s['seconds']:.2f} | {s['psnr_minus_whole']:+.4f} | {s['worst_psnr_minus_whole']:+.4f} | {s['mean_abs_diff']:.2e} | {s['max_abs_diff']:.2e} |")
    print(f"choice: {choice} (fastest within {MAX_LOSS_DB} dB of {args.layouts[0]}'s closeness to whole-image inference)")
    if args.out:
        with open(args.out, "w") as fh:
            meta = {"command": "python benchmarks/trials/tile_layout.py " + " ".join(sys.argv[1:]), "split": "val", "backend": backend.name, "cpu_count": os.cpu_count()}
            json.dump({**meta, "seconds_per_mp_by_side": {str(k): v for k, v in per_side.items()}, "summary": summary, "choice": choice, "cases": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

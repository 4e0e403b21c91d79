"""How many radiographs carry burned-in overlays (:func:`xraydeblur.overlay.burned_in_mask`).

Counts, per source, the images of a split part whose full-resolution pixels contain
top-of-range text or markers with sharp edges (kept out of every method and returned
unchanged), and the median overlay size in pixels. With ``--benchmark-images N`` it also
counts the fixed benchmark's degraded crops (N evenly spaced images x 14 degradations,
256 px, as ``xraydeblur evaluate --max-images N --crop 256`` builds them) that contain
one, i.e. whether the guard changed any benchmark output.

    python benchmarks/overlay_census.py --split test --benchmark-images 12 --out benchmarks/results/overlay-census.json
    python benchmarks/overlay_census.py --split test --scheme source --held-out mhh --benchmark-images 12
"""

import argparse
import json
import sys

import numpy as np


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--scheme", default="patient", choices=["patient", "source"])
    p.add_argument("--held-out", help="source held out (with --scheme source)")
    p.add_argument("--benchmark-images", type=int, default=0, help="also check the benchmark crops of this many images")
    p.add_argument("--out")
    args = p.parse_args()
    from xraydeblur.cli.evaluate import subset
    from xraydeblur.data import benchmark_cases, load_image, split_rows
    from xraydeblur.overlay import burned_in_mask

    rows = split_rows(args.split, args.scheme, args.held_out)
    census: dict = {}
    for row in rows:
        pixels = int(burned_in_mask(load_image(row)).sum())
        entry = census.setdefault(row.source, {"images": 0, "with_overlay": 0, "overlay_px": []})
        entry["images"] += 1
        if pixels:
            entry["with_overlay"] += 1
            entry["overlay_px"].append(pixels)
    print(f"{args.split} split ({args.scheme}{', held out ' + args.held_out if args.held_out else ''})\n| source | images | with burned-in overlay | median overlay px |\n|---|---|---|---|")
    for source, e in census.items():
        median = int(np.median(e["overlay_px"])) if e["overlay_px"] else 0
        print(f"| {source} | {e['images']} | {e['with_overlay']} | {median} |")
        e["median_overlay_px"] = median
    crops = None
    if args.benchmark_images:
        chosen = subset(rows, args.benchmark_images)
        cases = [(case, row) for row in chosen for case in benchmark_cases([row], crop=256)]
        images = {row.file: load_image(row) for row in chosen}
        crops = sum(bool(burned_in_mask(case.load(images[row.file])[1]).any()) for case, row in cases)
        print(f"\nbenchmark crops with a burned-in overlay: {crops} of {len(cases)}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"command": "python benchmarks/overlay_census.py " + " ".join(sys.argv[1:]), "split": args.split, "scheme": args.scheme,
                       "held_out": args.held_out, "census": census, "benchmark_crops_with_overlay": crops}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

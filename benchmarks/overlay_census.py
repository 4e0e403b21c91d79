"""How many radiographs carry burned-in overlays (:func:`xraydeblur.overlay.burned_in_mask`).

Counts, per source, the images of a patient-split part whose full-resolution pixels
contain top-of-range text or markers with sharp edges (kept out of every method and
returned unchanged), and the median overlay size in pixels.

    python benchmarks/overlay_census.py --split test --out benchmarks/results/overlay-census.json
"""

import argparse
import json
import sys

import numpy as np


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--out")
    args = p.parse_args()
    from xraydeblur.data import load_image, split_rows
    from xraydeblur.overlay import burned_in_mask

    census: dict = {}
    for row in split_rows(args.split):
        pixels = int(burned_in_mask(load_image(row)).sum())
        entry = census.setdefault(row.source, {"images": 0, "with_overlay": 0, "overlay_px": []})
        entry["images"] += 1
        if pixels:
            entry["with_overlay"] += 1
            entry["overlay_px"].append(pixels)
    print(f"{args.split} split (patient)\n| source | images | with burned-in overlay | median overlay px |\n|---|---|---|---|")
    for source, e in census.items():
        median = int(np.median(e["overlay_px"])) if e["overlay_px"] else 0
        print(f"| {source} | {e['images']} | {e['with_overlay']} | {median} |")
        e["median_overlay_px"] = median
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"command": "python benchmarks/overlay_census.py " + " ".join(sys.argv[1:]), "split": args.split, "census": census}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

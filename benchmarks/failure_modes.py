"""Failure modes on non-anatomical structures: lead markers, wires, burned-in text.

Real radiographs (patient split, the benchmark's evenly spaced test images, or
validation images with ``--split val``; 256 px centre crops at native resolution) get three SYNTHETIC structures
(:mod:`xraydeblur.data.overlays`):

- a lead marker "R" (about 40 px tall, bright) drawn before blurring,
- a 2 px wire (+0.3 contrast) drawn before blurring,
- burned-in text "PORTABLE AP" (about 12 px tall, white) drawn AFTER blur and noise,
  so it is sharp in the input and an ideal restoration leaves it untouched;

then each benchmark blur below (without and with the benchmark's noise) and each method.
For every structure it reports PSNR on the structure's pixels (mask dilated by 3 px),
the 99th percentile of the absolute error there (halos, ringing, eaten strokes), PSNR on
the anatomy away from all structures (8 px clear), and how often the safeguard
(:func:`xraydeblur.safeguard.check_consistency`, true kernel) flags the output.
Each method runs as the product runs it (burned-in overlays filled in before the
method and put back after, :mod:`xraydeblur.overlay`) and, for comparison, without
that guard ("no guard").

    python benchmarks/failure_modes.py --out docs/results/failure-modes.json
    python benchmarks/failure_modes.py --split val --out benchmarks/results/failure-modes-val.json

Prints one markdown table per structure; with ``--out X.json`` also writes ``X.md``.
"""

import argparse
import json
import sys
import time

import numpy as np

DEGRADATIONS = ("gaussian-sigma2", "motion-length9", "gaussian-sigma2+noise", "motion-length9+noise")
METHODS = (("blurred input", None, False), ("nafnet-blind", "nafnet-blind", False), ("nafnet-kernel", "nafnet-kernel", True), ("wiener", "wiener", True))
STRUCTURES = ("lead marker", "wire", "burned-in text", "anatomy")


def make_case(case, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(sharp, degraded, kernel, masks): the benchmark case (:meth:`BenchmarkCase.load`)
    with the structures drawn in. Sharp and degraded are float32 (c, c) in [0, 1], c the
    case's crop; masks bool (c, c)."""
    from scipy.ndimage import binary_dilation

    from xraydeblur.data.overlays import burned_in_text, lead_marker, wire

    masks = {}

    def in_the_beam(context: np.ndarray, m: int) -> np.ndarray:
        c = context.shape[0] - 2 * m
        context, marker = lead_marker(context, "R", top=m + 16, left=m + 16, height=40)
        context, line = wire(context, (m + 40, m + c - 30), (m + c - 70, m + 110), bend=25.0)
        masks["lead marker"], masks["wire"] = marker[m:-m, m:-m], line[m:-m, m:-m]
        return context

    sharp, degraded, kernel = case.load(image, draw=in_the_beam)
    c = sharp.shape[0]
    degraded, masks["burned-in text"] = burned_in_text(degraded, "PORTABLE AP", top=c - 24, left=12, height=12)
    sharp, _ = burned_in_text(sharp, "PORTABLE AP", top=c - 24, left=12, height=12)
    masks = {name: binary_dilation(mask, iterations=3) for name, mask in masks.items()}
    anything = np.logical_or.reduce(list(masks.values()))
    masks["anatomy"] = ~binary_dilation(anything, iterations=8)
    return sharp, degraded, kernel, masks


def region_scores(sharp: np.ndarray, out: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(PSNR dB, 99th percentile |error|) over the pixels in ``mask``."""
    err = (np.asarray(out, np.float64) - sharp)[mask]
    return float(10 * np.log10(1.0 / max(np.mean(err**2), 1e-12))), float(np.percentile(np.abs(err), 99))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", default="test", choices=["val", "test"], help="patient-split part (default test)")
    p.add_argument("--max-images", type=int, default=12)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--out")
    args = p.parse_args()
    from xraydeblur.cli.evaluate import subset
    from xraydeblur.data import benchmark_cases, load_image, split_rows
    from xraydeblur.data.benchmark import BENCHMARK_DEGRADATIONS
    from xraydeblur.methods import get_method
    from xraydeblur.safeguard import check_consistency

    degradations = [d for d in BENCHMARK_DEGRADATIONS if d.name in DEGRADATIONS]
    rows = subset(split_rows(args.split), args.max_images)
    runs = {}  # label -> function(degraded, kernel) -> output
    for label, name, uses_kernel in METHODS:
        if name is None:
            runs[label] = lambda y, k: y
            continue
        method = get_method(name)
        runs[label] = lambda y, k, m=method, u=uses_kernel: m(y, k if u else None)
        # the method's own function, without the overlay guard of Method.__call__
        runs[f"{label} (no guard)"] = lambda y, k, m=method, u=uses_kernel: np.clip(m.run(y, k if u else None), 0.0, 1.0)
    cells: dict = {}  # (structure, degradation, method) -> {"psnr": [], "p99": [], "flagged": []}
    start = time.time()
    for i, row in enumerate(rows):
        image = load_image(row)
        for case in benchmark_cases([row], crop=args.crop, degradations=degradations):
            sharp, degraded, kernel, masks = make_case(case, image)
            for label, run in runs.items():
                out = run(degraded, kernel)
                flagged = not check_consistency(degraded, out, kernel)["consistent"]
                for structure, mask in masks.items():
                    value, p99 = region_scores(sharp, out, mask)
                    cell = cells.setdefault((structure, case.family, label), {"psnr": [], "p99": [], "flagged": []})
                    cell["psnr"].append(value)
                    cell["p99"].append(p99)
                    cell["flagged"].append(flagged)
        print(f"[{i + 1}/{len(rows)}] {row.file} ({time.time() - start:.0f} s)", file=sys.stderr, flush=True)
    summary = {
        f"{s} | {d} | {m}": {"psnr": float(np.mean(v["psnr"])), "p99_abs_error": float(np.mean(v["p99"])), "flagged_fraction": float(np.mean(v["flagged"]))}
        for (s, d, m), v in cells.items()
    }
    labels = list(runs)
    lines = [f"Command: `python benchmarks/failure_modes.py {' '.join(sys.argv[1:])}`", "", f"Data: {len(rows)} {args.split}-split images (patient split), {args.crop} px centre crops; structures are synthetic."]
    for structure in STRUCTURES:
        lines += ["", f"### {structure}: PSNR dB (99th percentile |error|)" + ("; safeguard flag rate per method" if structure == "anatomy" else ""), ""]
        lines += ["| degradation | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
        for deg in DEGRADATIONS:
            cells_text = []
            for label in labels:
                s = summary[f"{structure} | {deg} | {label}"]
                cells_text.append(f"{s['psnr']:.2f} ({s['p99_abs_error']:.3f})" + (f", flagged {s['flagged_fraction']:.0%}" if structure == "anatomy" else ""))
            lines.append(f"| {deg} | " + " | ".join(cells_text) + " |")
    print("\n".join(lines))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(
                {
                    "command": "python benchmarks/failure_modes.py " + " ".join(sys.argv[1:]),
                    "split": f"{args.split} (patient)",
                    "images": [r.file for r in rows],
                    "crop": args.crop,
                    "structures": "synthetic: lead marker and wire before blur, burned-in text after blur and noise",
                    "summary": summary,
                },
                fh,
                indent=1,
            )
        with open(str(args.out).removesuffix(".json") + ".md", "w") as fh:
            fh.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Trial (issue 26): the kernel-aware data step on input with realistic noise, on the
VALIDATION split (the test split is never read).

The benchmark has two noise levels: none, and Poisson-Gaussian noise at 2000 photons at
full scale (about 0.019 rms). Real radiographs lie between: 1e4 to 1e7 photons (0.007
to 0.0002 rms). The data step's tuned gains (:data:`xraydeblur.infer.data_step.GAINS`)
were chosen on the two benchmark levels, and its class ("+noise" or not) comes from
:func:`xraydeblur.classical.estimate_noise_sigma`, which cannot tell weak noise from fine
texture. This trial measures, per row (blur x dose x bit depth; centre 256 px crops of
``--images`` evenly spaced validation images):

* the blind network's output ``z`` and the tuned-gain rule (``table``: the class's gain,
  as the data step chose before this trial);
* Morozov's discrepancy principle at the noise level measured where the kernel leaves
  no signal (:func:`xraydeblur.classical.kernel_noise_sigma`) for each ``--targets``:
  ``z`` if it explains the input up to the noise, else the largest gain of
  :data:`xraydeblur.infer.data_step.MOROZOV_GAINS` (times the MMSE balance at that noise,
  :func:`xraydeblur.classical.estimate_balance`) that does;
* the best gain of that grid per image (``oracle``, an upper bound);
* the shipped :func:`xraydeblur.infer.data_step.data_step` (``shipped``);
* with ``--learned``: the learned step (:func:`xraydeblur.infer.learned_step.learned_step`)
  whatever the noise (``learned``: the shipped step sends only noise-free input there),
  and the seconds of its solves and of Morozov's (``learned s``, ``morozov s``); with
  ``--learned-iterations N ...`` also the learned step with every solve capped at N
  conjugate-gradient iterations (``learned N it``, ``learned N it s``; the shipped
  step runs 50-200).

``--blurs`` picks the blurs by name (default the first four; ``motion15`` adds 15 px
motion, the benchmark's widest).

Prints a table (PSNR, dB, mean over the images) and writes JSON.

    python benchmarks/trials/data_step_noise.py --out benchmarks/results/trials/data_step_noise.json
    python benchmarks/trials/data_step_noise.py --targets 1.0 --learned --blurs gaussian1 gaussian2 motion9 motion15 disk2 \\
        --out benchmarks/results/trials/data_step_noise-learned-any-noise.json
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

BLURS = {
    "gaussian1": ("gaussian", {"sigma": 1.0}),
    "gaussian2": ("gaussian", {"sigma": 2.0}),
    "motion9": ("motion", {"length": 9.0, "angle": 30.0}),
    "disk2": ("disk", {"radius": 2.0}),
    "motion15": ("motion", {"length": 15.0, "angle": 30.0}),
}
DEFAULT_BLURS = ("gaussian1", "gaussian2", "motion9", "disk2")
#: (photons at full scale, 0 = none; bit depth, 0 = float)
REGIMES = [(0, 0), (0, 12), (0, 8), (2000, 0), (2e4, 0), (2e4, 12), (2e4, 8), (1e6, 0), (1e6, 12), (1e6, 8), (3e6, 0), (1e7, 0), (1e7, 12)]


def morozov_choice(record: dict, target: float) -> float:
    """PSNR of the Morozov choice at ``target`` from a record's residual ratios."""
    if record["z ratio"] <= target:
        return record["blind"]
    fitting = [p for g, p, r in record["grid"] if r <= target]
    return fitting[0] if fitting else record["grid"][-1][1]


def main() -> None:
    from xraydeblur.classical import estimate_balance, kernel_noise_sigma, wiener_correction
    from xraydeblur.cli.evaluate import subset
    from xraydeblur.data import load_image
    from xraydeblur.data.splits import split_rows
    from xraydeblur.degrade import blur, make_kernel, quantize
    from xraydeblur.degrade.noise import poisson_gaussian_noise
    from xraydeblur.infer.data_step import CG_ITERATIONS_NOISY, MOROZOV_GAINS, apply_rule, data_step, gain_for, residual_ratio, step_class
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=3)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--targets", type=float, nargs="+", default=[0.5, 0.8, 1.0, 1.05, 1.2, 1.5])
    p.add_argument("--blurs", nargs="+", choices=list(BLURS), default=list(DEFAULT_BLURS))
    p.add_argument("--learned", action="store_true", help="score the learned step at every noise level too")
    p.add_argument("--learned-iterations", type=int, nargs="*", default=[], help="with --learned: also with every solve capped at N iterations")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    blind = get_method("nafnet-blind")
    records = []
    for i, row in enumerate(subset(split_rows("val"), args.images)):
        image = load_image(row)
        h, w = image.shape
        c = args.crop
        sharp = image[(h - c) // 2 : (h + c) // 2, (w - c) // 2 : (w + c) // 2]
        for kind, params in (BLURS[b] for b in args.blurs):
            kernel = make_kernel(kind, **params)
            blurred = blur(sharp, kernel)
            for dose, bits in REGIMES:
                degraded = poisson_gaussian_noise(blurred, dose, 0.0, seed=i) if dose else blurred
                degraded = (quantize(degraded, bits) if bits else degraded).astype(np.float32)
                started = time.perf_counter()
                z = blind(degraded)
                key = step_class(degraded, kernel)
                noise = kernel_noise_sigma(degraded, kernel)
                balance = estimate_balance(degraded, kernel, "gradient", noise_sigma=noise)
                rec = {
                    "image": row.file,
                    "row": f"{kind} {list(params.values())[0]:g}, dose {dose:g}, {bits or 'float'} bit",
                    "class": key,
                    "true noise": float(np.std(degraded - blurred)),
                    "kernel noise": noise,
                    "blind": psnr(sharp, z),
                    "table": psnr(sharp, apply_rule(gain_for(key), degraded, z, kernel, key=key)),
                    "shipped": psnr(sharp, data_step(degraded, z, kernel)),
                    "z ratio": residual_ratio(degraded, z, kernel, noise),
                    "grid": [],
                }
                for gain in MOROZOV_GAINS:
                    x = wiener_correction(degraded, z, kernel, balance * gain, "gradient", cg_iterations=CG_ITERATIONS_NOISY)
                    rec["grid"].append((gain, psnr(sharp, x), residual_ratio(degraded, x, kernel, noise)))
                if args.learned:
                    from xraydeblur.infer.data_step import morozov_correction
                    from xraydeblur.infer.learned_step import learned_step

                    t = time.perf_counter()
                    rec["learned"] = psnr(sharp, learned_step(degraded, z, kernel, noise_sigma=noise))
                    rec["learned s"] = time.perf_counter() - t
                    for cap in args.learned_iterations:
                        from xraydeblur.infer.learned_step import blend_candidates, capped_iterations, step_candidates, step_settings

                        capped_settings = capped_iterations(step_settings(), cap)
                        t = time.perf_counter()
                        measured, stack = step_candidates(degraded, z, kernel, noise_sigma=noise, settings=capped_settings)
                        rec[f"learned {cap} it"] = psnr(sharp, blend_candidates(degraded, kernel, measured, stack))
                        rec[f"learned {cap} it s"] = time.perf_counter() - t
                    t = time.perf_counter()
                    morozov_correction(degraded, z, kernel, noise, balance, "gradient")
                    rec["morozov s"] = time.perf_counter() - t
                rec["seconds"] = round(time.perf_counter() - started, 2)
                records.append(rec)
                print(json.dumps({k: (round(v, 5) if isinstance(v, float) else v) for k, v in rec.items() if k != "grid"}), flush=True)
    by_row = defaultdict(list)
    for r in records:
        by_row[r["row"]].append(r)
    table = {}
    for row, items in by_row.items():
        entry = {
            "classes": sorted({r["class"] for r in items}),
            "true noise": float(np.mean([r["true noise"] for r in items])),
            "kernel noise": float(np.mean([r["kernel noise"] for r in items])),
        }
        capped = tuple(c for n in args.learned_iterations for c in (f"learned {n} it", f"learned {n} it s"))
        for column in ("blind", "table", "shipped") + (("learned", "learned s", "morozov s") + capped if args.learned else ()):
            entry[column] = float(np.mean([r[column] for r in items]))
        entry["oracle"] = float(np.mean([max(p for _, p, _ in r["grid"]) for r in items]))
        for t in args.targets:
            entry[f"morozov {t:g}"] = float(np.mean([morozov_choice(r, t) for r in items]))
        entry["shipped worst vs blind"] = float(min(r["shipped"] - r["blind"] for r in items))
        table[row] = entry
    columns = ["blind", "table", "shipped", "oracle"] + [f"morozov {t:g}" for t in args.targets] + (["learned", "learned s", "morozov s"] + list(capped) if args.learned else [])
    print("\n| row | class | noise (true / measured) | " + " | ".join(columns) + " |")
    print("|---|---|---|" + "---|" * len(columns))
    for row, e in table.items():
        print(f"| {row} | {', '.join(e['classes'])} | {e['true noise']:.1e} / {e['kernel noise']:.1e} | " + " | ".join(f"{e[c]:.2f}" for c in columns) + " |")
    means = {c: float(np.mean([e[c] for e in table.values()])) for c in columns}
    print("| mean over rows | | | " + " | ".join(f"{means[c]:.2f}" for c in columns) + " |")
    if args.out:
        args.out.write_text(
            json.dumps({"command": "python benchmarks/trials/data_step_noise.py " + " ".join(sys.argv[1:]), "split": "val", "table": table, "means": means, "samples": records}, indent=1)
            + "\n"
        )


if __name__ == "__main__":
    main()

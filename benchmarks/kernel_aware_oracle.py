"""Does the kernel-aware mode earn its name? ``nafnet-kernel`` given the true kernel
against Wiener and Richardson-Lucy given the same kernel *with their best parameter
per image* (an oracle no user has: chosen against the sharp image).

On the fixed benchmark's crops of the test split (``--max-images`` evenly spaced
images, ``--crop`` px, the 14 degradations) at each input bit depth of ``--bits``
(0 = float): PSNR (dB, denoise strength 1, against the sharp crop) of

* ``nafnet-kernel`` with the true kernel (as shipped: its data-step gains per class);
* Wiener with the true kernel, the best of :data:`WIENER_BALANCES` per image;
* Richardson-Lucy with the true kernel, the best iteration count of 1 to
  ``--rl-iterations`` per image.

Prints one row per degradation and bit depth with the margin of ``nafnet-kernel`` over
the better oracle (the issue-26 goal: above 0 on every row) and writes JSON. With
``--scheme source`` the images are those of the source never seen in training
(``--held-out``), and ``--weights-dir`` must hold networks (and a learned data step,
``step/``) trained with it held out, as ``xraydeblur evaluate`` checks.

    python benchmarks/kernel_aware_oracle.py --max-images 6 --crop 256 --bits 0 8 10 12 --out benchmarks/results/kernel_aware_oracle.json
    python benchmarks/kernel_aware_oracle.py --max-images 6 --crop 256 --bits 0 8 10 12 --scheme source --held-out mhh \
        --weights-dir benchmarks/weights/unseen-mhh --out benchmarks/results/kernel_aware_oracle-source-mhh.json

``--reuse EARLIER.json`` (a run with the same settings) takes the classical oracles of
every case from it, and the kernel-aware score where the data step takes the input as
noise-free (:func:`xraydeblur.infer.data_step.noise_free_under`: that step unchanged),
so a change of the noisy-input step re-runs only the noisy cases; with
``--oracles-only`` it takes the classical oracles alone (a change of the step on every
input, e.g. its candidates solved as a regularisation path).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

#: Wiener balances tried per image (log-spaced)
WIENER_BALANCES = tuple(float(b) for b in np.logspace(-6, 0, 19))


def oracle_wiener(sharp: np.ndarray, degraded: np.ndarray, kernel: np.ndarray) -> tuple[float, float]:
    """(best PSNR, its balance) of Wiener over :data:`WIENER_BALANCES`."""
    from xraydeblur.classical import wiener
    from xraydeblur.metrics import psnr

    scores = [(psnr(sharp, np.clip(wiener(degraded, kernel, balance=b), 0, 1)), b) for b in WIENER_BALANCES]
    return max(scores)


def oracle_richardson_lucy(sharp: np.ndarray, degraded: np.ndarray, kernel: np.ndarray, iterations: int) -> tuple[float, int]:
    """(best PSNR, its iteration count) of Richardson-Lucy over 1..``iterations``."""
    from xraydeblur.classical import richardson_lucy
    from xraydeblur.metrics import psnr

    best = [-np.inf, 0]

    def keep(i, estimate):
        value = psnr(sharp, np.clip(estimate, 0, 1))
        if value > best[0]:
            best[:] = [value, i]

    richardson_lucy(degraded, kernel, iterations=iterations, callback=keep)
    return float(best[0]), int(best[1])


def main() -> None:
    from xraydeblur.cli.evaluate import subset
    from xraydeblur.data.splits import split_rows
    from xraydeblur.evaluate import Variant, benchmark_iter, check_trained_for_split
    from xraydeblur.infer.data_step import noise_free_under
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--max-images", type=int, default=6)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--bits", type=int, nargs="+", default=[0, 8, 10, 12])
    p.add_argument("--rl-iterations", type=int, default=150)
    p.add_argument("--method", default="nafnet-kernel")
    p.add_argument("--scheme", choices=("patient", "source"), default="patient")
    p.add_argument("--held-out", default="mhh", help="with --scheme source: the source never seen in training")
    p.add_argument("--weights-dir", help="networks trained with that source held out (as xraydeblur evaluate --weights-dir)")
    p.add_argument("--out", default="benchmarks/results/kernel_aware_oracle.json")
    p.add_argument(
        "--reuse",
        help="an earlier run's JSON (same settings): its classical oracles for every case, and its kernel-aware score where the input is "
        "noise-free under the kernel (xraydeblur.infer.data_step.is_noise_free: that step unchanged), instead of running them again",
    )
    p.add_argument(
        "--oracles-only",
        action="store_true",
        help="with --reuse: take only the classical oracles from it and run the kernel-aware mode on every case (a change of the noise-free step)",
    )
    args = p.parse_args()
    reused = {r["case"]: r for r in json.loads(Path(args.reuse).read_text())["records"]} if args.reuse else {}
    if args.weights_dir:
        from xraydeblur.models.registry import register_weights_dir

        register_weights_dir(args.weights_dir)
    check_trained_for_split([Variant(args.method, "none")], args.scheme, args.held_out)
    method = get_method(args.method)
    rows = subset(split_rows("test", args.scheme, args.held_out), args.max_images)
    records = []
    for bits in args.bits:
        for key, family, sharp, degraded, kernel in benchmark_iter(rows, args.crop, bits or None):
            earlier = reused.get(key)
            if earlier and not args.oracles_only and noise_free_under(degraded, kernel):
                record = dict(earlier)
            else:
                record = {"case": key, "row": family, "kernel_aware": psnr(sharp, method(degraded, kernel))}
                if earlier:
                    record.update({k: earlier[k] for k in ("wiener_oracle", "wiener_balance", "rl_oracle", "rl_iterations")})
                else:
                    record["wiener_oracle"], record["wiener_balance"] = oracle_wiener(sharp, degraded, kernel)
                    record["rl_oracle"], record["rl_iterations"] = oracle_richardson_lucy(sharp, degraded, kernel, args.rl_iterations)
            records.append(record)
            print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in record.items()}), flush=True)
    by_row = defaultdict(list)
    for r in records:
        by_row[r["row"]].append(r)
    table = []
    print(f"\n| degradation | {args.method} (true k) | Wiener, best balance per image | RL, best iterations per image | margin over the better |")
    print("|---|---|---|---|---|")
    for row, items in by_row.items():
        mean = {k: float(np.mean([r[k] for r in items])) for k in ("kernel_aware", "wiener_oracle", "rl_oracle")}
        margin = mean["kernel_aware"] - max(mean["wiener_oracle"], mean["rl_oracle"])
        table.append({"row": row, "n": len(items), **mean, "margin": margin})
        print(f"| {row} | {mean['kernel_aware']:.2f} | {mean['wiener_oracle']:.2f} | {mean['rl_oracle']:.2f} | {margin:+.2f} |")
    above = sum(t["margin"] > 0 for t in table)
    print(f"\n{args.method} above the better oracle on {above} of {len(table)} rows")
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "reuse", "oracles_only")}
    Path(args.out).write_text(json.dumps({"settings": settings, "wiener_balances": WIENER_BALANCES, "table": table, "rows_above": above, "records": records}, indent=1) + "\n")


if __name__ == "__main__":
    main()

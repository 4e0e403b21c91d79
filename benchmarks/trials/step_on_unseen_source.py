"""Diagnosis (issue 26): why the learned step lags the per-image oracle on a source never
seen in training.

Per benchmark crop (``--images`` evenly spaced images of ``--split``, 256 px, the
noise-free rows ``--rows`` at each bit depth of ``--bits``), with the blind network and
the learned step of the scheme (``--scheme source``: the mhh-held-out networks and step
in ``benchmarks/weights/unseen-mhh``; ``--stem``: another step's weights):

* how much the blind network did: PSNR of its output ``z`` against the input's, the
  correlation of their errors, and the rms residual ``y - k * z`` over the measured noise;
* how well the step blends: its PSNR against its own best candidate's, and its
  :func:`xraydeblur.infer.data_step.residual_ratio` at ``hypot(noise, noise floor)``
  (what ``step_discrepancy_guard.py`` tests).

Runs behind docs/results.md section 10 (v7's diagnosis; the v6 step's files are those of
commit 41d1d63)::

    git show 41d1d63:benchmarks/weights/unseen-mhh/step/learned-step.json > /tmp/v6-mhh/learned-step.json   (and .safetensors)
    python benchmarks/trials/step_on_unseen_source.py --scheme source --stem /tmp/v6-mhh/learned-step \\
        --out benchmarks/results/trials/step_on_unseen_source-v6.json
    python benchmarks/trials/step_on_unseen_source.py --scheme source --out benchmarks/results/trials/step_on_unseen_source-v7.json
    python benchmarks/trials/step_on_unseen_source.py --scheme patient --bits 8 --out benchmarks/results/trials/step_on_unseen_source-patient.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scheme", choices=("patient", "source"), default="source")
    p.add_argument("--split", default="test")
    p.add_argument("--images", type=int, default=3)
    p.add_argument("--bits", type=int, nargs="+", default=[8, 10])
    p.add_argument("--rows", nargs="+", default=["gaussian-sigma1", "motion-length5", "motion-length15", "disk-radius2"])
    p.add_argument("--stem", type=Path, help="the step's weights (default the scheme's)")
    p.add_argument("--out")
    args = p.parse_args()
    from xraydeblur.cli.evaluate import subset
    from xraydeblur.data.splits import split_rows
    from xraydeblur.degrade import blur
    from xraydeblur.evaluate import benchmark_inputs
    from xraydeblur.infer.data_step import residual_ratio
    from xraydeblur.infer.learned_step import blend_candidates, step_candidates, step_settings
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    stem = args.stem
    if args.scheme == "source":
        from xraydeblur.models.registry import register_weights_dir

        register_weights_dir(str(ROOT / "benchmarks/weights/unseen-mhh"))
        stem = stem or ROOT / "benchmarks/weights/unseen-mhh/step/learned-step"
    settings = step_settings(stem)
    blind = get_method("nafnet-blind")
    records = []
    for bits in args.bits:
        for case, sharp, degraded, kernel in benchmark_inputs(subset(split_rows(args.split, args.scheme, "mhh"), args.images), 256, bits or None):
            if case.family not in args.rows:
                continue
            z = blind(degraded)
            noise, stack = step_candidates(degraded, z, kernel, stem=stem)
            out = blend_candidates(degraded, kernel, noise, stack, stem=stem)
            inner = (slice(16, -16), slice(16, -16))
            error_z, error_y = (z - sharp)[inner].ravel(), (degraded - sharp)[inner].ravel()
            record = {
                "case": f"{case.key}+{bits}bit", "row": f"{case.family}+{bits}bit", "noise": noise,
                "input_psnr": psnr(sharp, degraded), "blind_psnr": psnr(sharp, z),
                "error_correlation": float(np.corrcoef(error_z, error_y)[0, 1]),
                "blind_residual_over_noise": float(np.sqrt(np.mean((degraded - blur(z, kernel))[inner] ** 2)) / noise),
                "step_psnr": psnr(sharp, out), "best_candidate_psnr": max(psnr(sharp, c) for c in stack),
                "step_residual_ratio": residual_ratio(degraded, out, kernel, float(np.hypot(noise, settings.get("noise_floor", 0.0)))),
            }
            records.append(record)
            print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in record.items()}), flush=True)
    by_row = defaultdict(list)
    for r in records:
        by_row[r["row"]].append(r)
    table = {}
    print("\n| row | blind - input (dB) | error correlation | blind residual / noise | step - best candidate (dB) | step residual ratio |\n|---|---|---|---|---|---|")
    for row, rs in by_row.items():
        t = {k: [min(r[k] for r in rs), max(r[k] for r in rs)] for k in ("error_correlation", "blind_residual_over_noise", "step_residual_ratio")}
        t["blind_minus_input"] = [min(r["blind_psnr"] - r["input_psnr"] for r in rs), max(r["blind_psnr"] - r["input_psnr"] for r in rs)]
        t["step_minus_best"] = [min(r["step_psnr"] - r["best_candidate_psnr"] for r in rs), max(r["step_psnr"] - r["best_candidate_psnr"] for r in rs)]
        table[row] = t
        fmt = lambda v: f"{v[0]:+.2f} to {v[1]:+.2f}"  # noqa: E731
        print(f"| {row} | {fmt(t['blind_minus_input'])} | {t['error_correlation'][0]:.2f}-{t['error_correlation'][1]:.2f} | "
              f"{t['blind_residual_over_noise'][0]:.1f}-{t['blind_residual_over_noise'][1]:.1f} | {fmt(t['step_minus_best'])} | "
              f"{t['step_residual_ratio'][0]:.2f}-{t['step_residual_ratio'][1]:.2f} |")
    if args.out:
        command = "python benchmarks/trials/step_on_unseen_source.py " + " ".join(sys.argv[1:])
        Path(args.out).write_text(json.dumps({"command": command, "split": args.split, "scheme": args.scheme, "table": table, "records": records}, indent=1) + "\n")


if __name__ == "__main__":
    main()

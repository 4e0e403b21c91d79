"""Trial (do no harm, safeguard): how far the default network's output drifts from the
input at coarse scales, and whether a coarse data-consistency correction removes it.

The blur kernels of the degradation model are at most about 15 px wide, so at scales far
wider than the kernel a restoration must keep the input's local mean:
``G_s * (y - k * x_hat)`` should be noise only. The stage-3 network left a 0.06 % bright
drift over a 50 x 100 px area of a whole DICOM that the safeguard flagged at its 24 px
scale (CHANGELOG.md). This trial restores whole VALIDATION radiographs (the test split
and the shared DICOMs are never read) under Gaussian sigma 2 px, without and with the
benchmark's noise, with the default pipeline (forced), and reports per case the
safeguard's largest z at its 12 and 24 px scales and the PSNR against the sharp image,
for the output as it is and after ``x_hat + G_s * (y - k * x_hat)`` (``--sigma`` s px).

    python benchmarks/trials/coarse_drift.py --out benchmarks/results/trials/coarse_drift-stage3.json
    # the stage-2 network, from git:
    mkdir -p /tmp/stage2 && for f in safetensors json; do git show 5cde98d:src/xraydeblur/weights/nafnet-blind.$f > /tmp/stage2/nafnet-blind.$f; done
    python benchmarks/trials/coarse_drift.py --weights-dir /tmp/stage2 --out benchmarks/results/trials/coarse_drift-stage2.json
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).parent))

from _trial import print_markdown  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=6)
    p.add_argument("--sigma", type=float, default=24.0, help="width of the coarse correction (px)")
    p.add_argument("--weights-dir", help="networks from this folder instead of the package's")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    if args.weights_dir:
        from xraydeblur.models.registry import register_weights_dir

        register_weights_dir(args.weights_dir)
    from xraydeblur.data import load_image
    from xraydeblur.data.benchmark import BENCHMARK_DOSE, BENCHMARK_READ_NOISE
    from xraydeblur.data.splits import split_rows
    from xraydeblur.degrade import Degradation
    from xraydeblur.degrade.convolve import blur
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr
    from xraydeblur.pipeline import restore, safeguard_facts

    method = get_method("nafnet-blind")
    rows, t0 = [], time.time()
    for row in split_rows("val")[:: max(1, len(split_rows("val")) // args.images)][: args.images]:
        sharp = load_image(row)
        for noisy in (False, True):
            deg = Degradation("gaussian", {"sigma": 2.0}, dose=BENCHMARK_DOSE if noisy else None, read_noise=BENCHMARK_READ_NOISE if noisy else 0.0)
            degraded = deg.apply(sharp, np.random.default_rng(7))[0]
            result = restore(degraded, method, force=True)
            kernel, source = result.kernel, result.facts.get("kernel_source") or "estimated"
            corrected = np.clip(result.estimate + gaussian_filter(degraded - blur(result.estimate, kernel), args.sigma), 0, 1)
            record = {"image": row.file, "noise": noisy}
            for name, out in (("as is", result.estimate), ("corrected", corrected)):
                report, _ = safeguard_facts(degraded, out, kernel, source, False)
                z = {s["scale_px"]: s["max_z"] for s in report["scales"]}
                record[name] = {"psnr": round(psnr(sharp, out), 3), "z12": round(z.get(12, float("nan")), 3), "z24": round(z.get(24, float("nan")), 3), "consistent": bool(report["consistent"])}
            rows.append(record)
            print(record, flush=True)
    table = {}
    for noisy in (False, True):
        sel = [r for r in rows if r["noise"] == noisy]
        for name in ("as is", "corrected"):
            table[f"{'noise' if noisy else 'no noise'}, {name}"] = {
                "mean PSNR": float(np.mean([r[name]["psnr"] for r in sel])),
                "max z 12 px": float(np.max([r[name]["z12"] for r in sel])),
                "max z 24 px": float(np.max([r[name]["z24"] for r in sel])),
                "passed": f"{sum(r[name]['consistent'] for r in sel)}/{len(sel)}",
            }
    print_markdown(table, ("mean PSNR", "max z 12 px", "max z 24 px"), {"passed": lambda r: r["passed"]})
    if args.out:
        args.out.write_text(json.dumps({"command": " ".join(sys.argv), "split": "val", "weights_dir": args.weights_dir, "sigma_px": args.sigma, "seconds": round(time.time() - t0, 1), "table": table, "samples": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()

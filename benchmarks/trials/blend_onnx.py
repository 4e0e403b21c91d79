"""Trial (issue 26, speed): the learned step's blend on onnxruntime, windows in parallel
(:mod:`xraydeblur.infer.blend_onnx`), against PyTorch's ``BlendStep.forward_tiled``
(windows one after another, PyTorch's own threads), on the shipped step's network.

Input: random candidates (15 channels), residual and noise level of ``--size`` H W px
(default 2128 x 2000, the shared `966_fixed.dcm`'s size); the timing does not depend on
the values. Alternating runs (``--repeats`` each) after a warm-up, two threads unless
``XRAYDEBLUR_THREADS``/``OMP_NUM_THREADS`` say otherwise; prints the median seconds and
the largest difference between the two outputs, and writes JSON.

    python benchmarks/trials/blend_onnx.py --out benchmarks/results/trials/blend_onnx.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    import torch

    from xraydeblur.infer.backends import cpu_threads
    from xraydeblur.infer.blend_onnx import onnx_blend
    from xraydeblur.infer.learned_step import BLEND_TILE, _network, step_settings

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, nargs=2, default=[2128, 2000], metavar=("H", "W"))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    net, _ = _network()
    runner = onnx_blend(net, step_settings().get("weights_sha256"))
    h, w = args.size
    rng = np.random.default_rng(0)
    stack = rng.random((net.c, h, w), dtype=np.float32)
    residual = (rng.standard_normal((h, w)) * 0.01).astype(np.float32)
    log_noise = -0.5

    def torch_blend():
        with torch.no_grad():
            inputs = (torch.from_numpy(stack[None]), torch.from_numpy(residual[None, None]), torch.full((1, 1, 1, 1), log_noise))
            return net.forward_tiled(*inputs, tile=BLEND_TILE)[0, 0].numpy()

    def onnx_run():
        return runner(stack, residual, log_noise, tile=BLEND_TILE)

    runs = {"pytorch": torch_blend, "onnxruntime": onnx_run}
    times: dict[str, list[float]] = {name: [] for name in runs}
    outputs = {name: run() for name, run in runs.items()}  # warm-up
    for _ in range(args.repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            outputs[name] = run()
            times[name].append(time.perf_counter() - start)
    result = {
        "size": [h, w],
        "threads": cpu_threads(),
        "torch_threads": torch.get_num_threads(),
        "median_seconds": {name: round(statistics.median(t), 3) for name, t in times.items()},
        "seconds": {name: [round(v, 3) for v in t] for name, t in times.items()},
        "max_abs_difference": float(np.abs(outputs["pytorch"] - outputs["onnxruntime"]).max()),
    }
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps({"command": " ".join(sys.argv), **result}, indent=1) + "\n")


if __name__ == "__main__":
    main()

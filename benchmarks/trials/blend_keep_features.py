"""Trial (issue 26, speed): the learned step's blend over a large image with its windows'
features kept between the two passes of ``BlendStep.forward_tiled`` against computed
twice (``KEEP_FEATURES_BYTES`` 0), on the shipped step's network.

Input: random candidates (15 channels), residual and noise level of ``--size`` H W px
(default 2128 x 2000, the shared `966_fixed.dcm`'s size); the timing does not depend on
the values. Alternating runs (``--repeats`` each), two threads unless
``XRAYDEBLUR_THREADS``/``OMP_NUM_THREADS`` say otherwise; prints the median seconds,
whether the outputs are equal to the bit, the features' bytes, and writes JSON.

    python benchmarks/trials/blend_keep_features.py --out benchmarks/results/trials/blend_keep_features.json
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    import torch

    from xraydeblur.infer.learned_step import _network

    from _trial import whole_image_args

    args = whole_image_args(__doc__)
    net, _ = _network()
    h, w = args.size
    g = torch.Generator().manual_seed(0)
    stack = torch.rand(1, net.c, h, w, generator=g)
    residual = torch.randn(1, 1, h, w, generator=g) * 0.01
    log_noise = torch.full((1, 1, 1, 1), -0.5)
    shipped = net.KEEP_FEATURES_BYTES
    windows = -(-h // 512) * -(-w // 512)
    times: dict[str, list[float]] = {"kept": [], "computed twice": []}
    outputs = {}
    with torch.no_grad():
        net.forward_tiled(stack[:, :, :600, :600], residual[:, :, :600, :600], log_noise)  # warm-up
        for _ in range(args.repeats):
            for name, budget in (("kept", shipped), ("computed twice", 0)):
                net.KEEP_FEATURES_BYTES = budget
                started = time.perf_counter()
                outputs[name] = net.forward_tiled(stack, residual, log_noise)
                times[name].append(time.perf_counter() - started)
        del net.KEEP_FEATURES_BYTES
    result = {
        "command": "python benchmarks/trials/blend_keep_features.py " + " ".join(sys.argv[1:]),
        "size": [h, w], "windows": windows, "features_bytes": windows * (512 + 2 * net.TILE_MARGIN) ** 2 * net.head.in_channels * 4,
        "keep_features_bytes": shipped, "threads": torch.get_num_threads(),
        "median_seconds": {k: statistics.median(v) for k, v in times.items()}, "seconds": times,
        "equal": bool(torch.equal(outputs["kept"], outputs["computed twice"])),
    }
    print(json.dumps({k: v for k, v in result.items() if k != "seconds"}, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

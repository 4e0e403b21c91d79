"""Trial (issue 26, speed; not shipped): the learned step's blend on onnxruntime, its
windows run in parallel, against PyTorch's ``BlendStep.forward_tiled`` (windows one after
another, PyTorch's own threads), on the shipped step's network.

The network is exported as two graphs, its features (candidates, residual, log noise ->
24 maps) and its blend (candidates, features, image-wide context logits -> image); the
context's two small linear layers run in NumPy between them, in the two passes of
``forward_tiled`` (features summed over the image, then the blend), so the output is
PyTorch's up to float rounding. Two onnxruntime variants: with its CPU memory arena
(the default) and without.

Input: random candidates (15 channels), residual and noise level of ``--size`` H W px
(default 2128 x 2000, the shared `966_fixed.dcm`'s size); the timing does not depend on
the values. A warm-up, then alternating runs (``--repeats`` each), two threads unless
``XRAYDEBLUR_THREADS``/``OMP_NUM_THREADS`` say otherwise. Prints the median seconds, the
largest difference from PyTorch's output and the process's peak resident memory after
each variant's runs (PyTorch first: what a variant adds over it), and writes JSON.

    python benchmarks/trials/blend_onnx.py --out benchmarks/results/trials/blend_onnx.json
"""

from __future__ import annotations

import io
import json
import resource
import statistics
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: the two exported graphs
GRAPHS = ("features", "blend")


def _export(module, example: tuple, names: list[str], output: str) -> bytes:
    import torch

    axes = {name: {2: "h", 3: "w"} for name in names if name not in ("log_noise", "context")}
    axes[output] = {2: "h", 3: "w"}
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), example, buf, input_names=names, output_names=[output], dynamic_axes=axes, opset_version=17, dynamo=False)
    return buf.getvalue()


def export_graphs(net) -> dict[str, bytes]:
    """ONNX bytes of ``net``'s feature and blend graphs (dynamic height and width)."""
    import torch

    class Part(torch.nn.Module):
        """One of ``net``'s two passes (its method ``name``) as a module to export."""

        def __init__(self, name: str):
            super().__init__()
            self.net, self.name = net, name

        def forward(self, *inputs):
            return getattr(self.net, self.name)(*inputs)

    stack, residual, log_noise = torch.rand(1, net.c, 48, 48), torch.zeros(1, 1, 48, 48), torch.zeros(1, 1, 1, 1)
    with torch.no_grad():
        features = net._features(stack, residual, log_noise)
    return {
        "features": _export(Part("_features"), (stack, residual, log_noise), ["stack", "residual", "log_noise"], "features"),
        "blend": _export(Part("_blend"), (stack, features, torch.zeros(1, net.c + 1, 1, 1)), ["stack", "features", "context"], "out"),
    }


class OnnxBlend:
    """``net`` (a :class:`BlendStep` with image context) on onnxruntime, its windows on
    ``threads`` single-threaded sessions at once (``arena``: onnxruntime's CPU memory
    arena on); call it like :meth:`BlendStep.forward_tiled` with NumPy arrays: ``stack``
    (C, H, W) float32, ``residual`` (H, W), ``log_noise`` a float; returns float32 (H, W)."""

    def __init__(self, net, graphs: dict[str, bytes], threads: int | None = None, arena: bool = True):
        import onnxruntime as ort

        from xraydeblur.infer.backends import cpu_threads

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.enable_cpu_mem_arena = arena
        options.enable_mem_pattern = arena
        self.sessions = {name: ort.InferenceSession(graphs[name], options, providers=["CPUExecutionProvider"]) for name in GRAPHS}
        self.graphs = graphs
        self.threads = threads or cpu_threads()
        self.margin = net.TILE_MARGIN
        self.keep_bytes = net.KEEP_FEATURES_BYTES
        self.width = net.head.in_channels
        layers = [m for m in net.context if hasattr(m, "weight")]
        self.context = [(m.weight.detach().numpy().astype(np.float64), m.bias.detach().numpy().astype(np.float64)) for m in layers]

    def _context_logits(self, mean_features: np.ndarray) -> np.ndarray:
        (w1, b1), (w2, b2) = self.context
        hidden = np.maximum(mean_features @ w1.T + b1, 0.0)
        return (hidden @ w2.T + b2).astype(np.float32)[None, :, None, None]

    def __call__(self, stack: np.ndarray, residual: np.ndarray, log_noise: float, tile: int = 512) -> np.ndarray:
        c, h, w = stack.shape
        m = self.margin
        stack = np.ascontiguousarray(stack[None], np.float32)
        residual = np.ascontiguousarray(residual[None, None], np.float32)
        noise = np.full((1, 1, 1, 1), log_noise, np.float32)
        windows = [(y, x) for y in range(0, h, tile) for x in range(0, w, tile)]
        keep = len(windows) * (tile + 2 * m) ** 2 * self.width * 4 <= self.keep_bytes

        def box(y, x):
            y0, x0, y1, x1 = max(0, y - m), max(0, x - m), min(h, y + tile + m), min(w, x + tile + m)
            inner = (slice(y - y0, y - y0 + min(tile, h - y)), slice(x - x0, x - x0 + min(tile, w - x)))
            return (slice(None), slice(None), slice(y0, y1), slice(x0, x1)), inner

        def features(y, x):
            outer, _ = box(y, x)
            feed = {"stack": np.ascontiguousarray(stack[outer]), "residual": np.ascontiguousarray(residual[outer]), "log_noise": noise}
            return self.sessions["features"].run(None, feed)[0]

        kept: dict = {}
        total = np.zeros(self.width)

        def first_pass(window):
            found = features(*window)
            _, inner = box(*window)
            return window, found, found[0][(slice(None), *inner)].sum(axis=(1, 2), dtype=np.float64)

        out = np.empty((h, w), np.float32)

        def second_pass(window, context):
            y, x = window
            outer, inner = box(y, x)
            found = kept.pop(window, None)
            if found is None:
                found = features(y, x)
            blended = self.sessions["blend"].run(None, {"stack": np.ascontiguousarray(stack[outer]), "features": found, "context": context})[0]
            out[y : y + tile, x : x + tile] = blended[0, 0][inner]

        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            for window, found, sums in pool.map(first_pass, windows):
                total += sums
                if keep:
                    kept[window] = found
            context = self._context_logits(total / (h * w))
            list(pool.map(lambda window: second_pass(window, context), windows))
        return out


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    import torch

    from xraydeblur.infer.backends import cpu_threads
    from xraydeblur.infer.learned_step import _network

    from _trial import whole_image_args

    args = whole_image_args(__doc__)
    net, _ = _network()
    graphs = export_graphs(net)
    h, w = args.size
    rng = np.random.default_rng(0)
    stack = rng.random((net.c, h, w), dtype=np.float32)
    residual = (rng.standard_normal((h, w)) * 0.01).astype(np.float32)
    log_noise = -0.5

    def torch_blend():
        with torch.no_grad():
            inputs = (torch.from_numpy(stack[None]), torch.from_numpy(residual[None, None]), torch.full((1, 1, 1, 1), log_noise))
            return net.forward_tiled(*inputs)[0, 0].numpy()

    runners = {"onnxruntime, no arena": OnnxBlend(net, graphs, arena=False), "onnxruntime, arena": OnnxBlend(net, graphs, arena=True)}
    runs = {"pytorch": torch_blend, **{name: (lambda r=r: r(stack, residual, log_noise)) for name, r in runners.items()}}
    result = {"size": [h, w], "threads": cpu_threads(), "torch_threads": torch.get_num_threads(), "median_seconds": {}, "seconds": {}, "peak_mb_after": {}, "max_abs_difference": {}}
    reference = None
    for name, run in runs.items():  # one variant after another: the peak memory grows with each
        out = run()
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            out = run()
            times.append(time.perf_counter() - start)
        reference = out if reference is None else reference
        result["median_seconds"][name] = round(statistics.median(times), 3)
        result["seconds"][name] = [round(t, 3) for t in times]
        result["peak_mb_after"][name] = round(peak_mb())
        result["max_abs_difference"][name] = float(np.abs(out - reference).max())
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps({"command": " ".join(sys.argv), **result}, indent=1) + "\n")


if __name__ == "__main__":
    main()

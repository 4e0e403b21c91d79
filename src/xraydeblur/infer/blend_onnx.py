"""The learned step's blend network (:class:`xraydeblur.models.blend_step.BlendStep`) on
onnxruntime, its windows run in parallel: what :func:`xraydeblur.infer.learned_step.blend_candidates`
uses on the CPU.

The network is exported as two graphs, its features (candidates, residual, log noise ->
24 maps) and its blend (candidates, features, image-wide context logits -> image); the
context's two small linear layers run in NumPy between them. Windows of ``tile`` px
(plus :data:`BlendStep.TILE_MARGIN` px of context each side) go through single-threaded
sessions on :func:`xraydeblur.infer.backends.cpu_threads` threads at once, in the two
passes of :meth:`BlendStep.forward_tiled` (features summed over the image for the
context, then the blend), so the result is the whole-image network's up to float
rounding (a test checks 1e-4). On a 2128 x 2000 radiograph the blend took 1.61 s against
3.46 s in PyTorch on two threads, outputs within 5.4e-5 (``benchmarks/trials/blend_onnx.py``). The exports are cached like the
main networks' (:mod:`xraydeblur.infer.onnx_cache`, keyed by the step's weights hash);
without onnxruntime, or if an export fails or disagrees with PyTorch on a probe, the
caller keeps PyTorch (:func:`onnx_blend` returns None).
"""

from __future__ import annotations

import io
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

#: the two exported graphs' names (cache keys and session inputs)
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

    class Features(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, stack, residual, log_noise):
            return self.net._features(stack, residual, log_noise)

    class Blend(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, stack, features, context):
            return self.net._blend(stack, features, context)

    stack, residual, log_noise = torch.rand(1, net.c, 48, 48), torch.zeros(1, 1, 48, 48), torch.zeros(1, 1, 1, 1)
    with torch.no_grad():
        features = net._features(stack, residual, log_noise)
    return {
        "features": _export(Features(), (stack, residual, log_noise), ["stack", "residual", "log_noise"], "features"),
        "blend": _export(Blend(), (stack, features, torch.zeros(1, net.c + 1, 1, 1)), ["stack", "features", "context"], "out"),
    }


class OnnxBlend:
    """``net`` (a :class:`BlendStep` with image context) on onnxruntime; call it like
    :meth:`BlendStep.forward_tiled` with NumPy arrays: ``stack`` (C, H, W) float32,
    ``residual`` (H, W), ``log_noise`` a float; returns float32 (H, W) in [0, 1]."""

    def __init__(self, net, graphs: dict[str, bytes], threads: int | None = None):
        import onnxruntime as ort

        from .backends import cpu_threads

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
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


_lock = threading.Lock()
_runners: dict = {}


def onnx_blend(net, weights_sha256: str | None):
    """The :class:`OnnxBlend` of ``net`` (one per weights file and process), or None when
    onnxruntime cannot run it as PyTorch does (env ``XRAYDEBLUR_BACKEND=torch`` also
    keeps PyTorch). The exports are cached on disk under the weights' hash; a fresh
    export must match PyTorch on a probe to 1e-4 before it is used or cached."""
    import os

    from . import onnx_cache

    if os.environ.get("XRAYDEBLUR_BACKEND") == "torch" or net.context is None:
        return None
    with _lock:
        if weights_sha256 in _runners:
            return _runners[weights_sha256]
        keys = {name: onnx_cache.cache_key(f"{weights_sha256}:blend-{name}", net.c, None) if weights_sha256 else None for name in GRAPHS}
        cached = {name: onnx_cache.load(keys[name]) for name in GRAPHS}
        runner = None
        try:
            if all(cached.values()):
                runner = OnnxBlend(net, cached)
            else:
                runner = OnnxBlend(net, export_graphs(net))
                if not _matches_torch(net, runner):
                    runner = None
                else:
                    for name in GRAPHS:
                        onnx_cache.store(keys[name], runner.graphs[name])
        except Exception:  # no onnxruntime, or an export it cannot load: PyTorch
            runner = None
        _runners[weights_sha256] = runner
        return runner


def _matches_torch(net, runner: OnnxBlend) -> bool:
    import torch

    rng = np.random.default_rng(0)
    stack = rng.random((net.c, 70, 90), dtype=np.float32)
    residual = (rng.standard_normal((70, 90)) * 0.01).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(stack[None]), torch.from_numpy(residual[None, None]), torch.full((1, 1, 1, 1), -0.5))[0, 0].numpy()
    return float(np.abs(runner(stack, residual, -0.5, tile=32) - expected).max()) <= 1e-4

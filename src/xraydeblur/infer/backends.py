"""Executors for a restoration network: PyTorch (CPU or CUDA) and onnxruntime (CPU).

Both map a float32 numpy batch (N, C, h, w) to (N, 1, h, w). ``choose_backend`` picks
PyTorch on CUDA when asked/available, else onnxruntime when the model exports and its
output matches PyTorch's within 1e-4 on a fixed probe tile, else PyTorch. The choice is
fixed, never timed: the two differ by up to 1e-4, enough to move a pixel by one grey
level, so a timed choice (which depends on the machine's load) made outputs differ
between runs of the same input, method and version (issue 25).

PyTorch is imported only when it is needed (a model to run, export or probe, or a
machine that may have a GPU): a cached, checked ONNX export on a machine without an
accelerator runs without it (importing torch costs about 2 s of a CLI run).
"""

from __future__ import annotations

import glob
import io
import os
import time
import warnings
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

# ORT_DISABLE_TELEMETRY is set by the package (xraydeblur/infer/__init__.py) before
# onnxruntime is first imported by this module or by the learned PSF estimator


class TorchBackend:
    name = "torch"
    #: tiles to run at once (PyTorch parallelises inside each call)
    parallel = 1

    def __init__(self, model: "torch.nn.Module", device: str = "cpu"):
        import torch

        self.device = torch.device(device)
        self.model = model.to(self.device).eval()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
            return self.model(x).float().cpu().numpy()


def export_onnx(model: "torch.nn.Module", in_channels: int, fixed_size: int | None = None) -> bytes:
    """ONNX (opset 17) of ``model`` with dynamic batch/height/width (unless ``fixed_size``)."""
    import torch

    size = fixed_size or 64
    example = torch.zeros(1, in_channels, size, size)
    axes = {"input": {0: "n"}, "output": {0: "n"}} if fixed_size else {"input": {0: "n", 2: "h", 3: "w"}, "output": {0: "n", 2: "h", 3: "w"}}
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.cpu().eval(), example, buf, input_names=["input"], output_names=["output"], dynamic_axes=axes, opset_version=17, dynamo=False)
    return buf.getvalue()


def cpu_threads() -> int:
    """CPU threads inference may use: env ``XRAYDEBLUR_THREADS``, else every core."""
    return max(1, int(os.environ.get("XRAYDEBLUR_THREADS", 0) or 0) or os.cpu_count() or 1)


_SHARED_ARENA: list[bool] = []  # [True] once registered with onnxruntime's environment


def _register_shared_arena() -> None:
    """One onnxruntime CPU memory arena for every session that asks for the
    environment's allocator (once per process). Each fixed-size session would otherwise
    grow its own arena to its own peak: after flagship tiles of six sides a process held
    426 MB with an arena per session, 265 MB with the shared one and 212 MB with one
    dynamic-size session (``benchmarks/trials/onnx_static_shapes.py``,
    benchmarks/results/trials/onnx_static_shapes.json)."""
    import onnxruntime as ort

    if not _SHARED_ARENA:
        cpu = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
        ort.create_and_register_allocator(cpu, ort.OrtArenaCfg(0, -1, -1, -1))  # onnxruntime's defaults
        _SHARED_ARENA.append(True)


class OnnxBackend:
    """Single-threaded onnxruntime sessions, called from ``parallel`` threads at once.

    On the 2-core target a second intra-op thread gained almost nothing for this
    network's small, memory-bound operators, while two tiles run concurrently were
    clearly faster (overall time: docs/results/speed.json).

    The export has dynamic height and width, but each input shape gets its own session
    with those sizes fixed (onnxruntime's free-dimension overrides), built the first
    time the shape comes. With the sizes known, onnxruntime keeps more of the network in its blocked
    channel layout instead of converting tensors back and forth around each operator
    (109 conversions per run instead of 157): the flagship on a 2048 x 2048 image ran
    1.129 x faster (median of 15 alternating runs; this machine's speed drifts by 10 %
    and more), outputs equal to 1.8e-7, peak 398 MB against 341 MB
    (``benchmarks/trials/onnx_static_shapes.py``,
    benchmarks/results/trials/onnx_static_shapes.json). Tiling gives every tile of an image
    the same shape, so an image needs one session; the ``SESSIONS`` most recently used
    shapes are kept.
    """

    name = "onnxruntime"
    #: input shapes whose sessions are kept (least recently used dropped first)
    SESSIONS = 4

    def __init__(self, onnx_bytes: bytes, threads: int | None = None, fixed_shapes: bool = True):
        import threading

        self.parallel = threads or cpu_threads()
        self.onnx_bytes = onnx_bytes
        self.fixed_shapes = fixed_shapes
        self._sessions: dict[tuple[int, ...], object] = {}
        self._lock = threading.Lock()
        self.session = self._new_session(None)  # checks the export loads; serves any shape

    def _new_session(self, shape: tuple[int, ...] | None):
        import onnxruntime as ort

        return ort.InferenceSession(self.onnx_bytes, self.session_options(shape), providers=["CPUExecutionProvider"])

    def session_options(self, shape: tuple[int, ...] | None):
        """onnxruntime options of the session for ``shape`` (None: dynamic sizes)."""
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        if shape is not None:
            _register_shared_arena()
            opts.add_session_config_entry("session.use_env_allocators", "1")
            # with the sizes known, memory-pattern planning reserves every run's
            # intermediate tensors at once: 493 MB peak instead of 398 MB for a 2048 px
            # image (two tiles at a time), for no measurable speed (same trial)
            opts.enable_mem_pattern = False
            for axis, size in (("n", shape[0]), ("h", shape[2]), ("w", shape[3])):
                opts.add_free_dimension_override_by_name(axis, int(size))
        return opts

    def session_for(self, shape: tuple[int, ...]):
        """The session for inputs of ``shape`` (N, C, h, w), built on first use."""
        if not self.fixed_shapes:
            return self.session
        with self._lock:
            session = self._sessions.pop(shape, None)
            if session is None:
                session = self._new_session(shape)
            self._sessions[shape] = session  # most recently used last
            while len(self._sessions) > self.SESSIONS:
                self._sessions.pop(next(iter(self._sessions)))
            return session

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        return self.session_for(batch.shape).run(["output"], {"input": batch})[0]


def _seconds_per_tile(backend, batch: np.ndarray, rounds: int = 2) -> float:
    """Wall seconds per tile when ``backend.parallel`` tiles run at once, as in tiling."""
    from .tiling import _ordered_map

    n = max(1, backend.parallel)
    list(_ordered_map(backend, [batch] * n, n))  # warm-up
    t = time.perf_counter()
    list(_ordered_map(backend, [batch] * (n * rounds), n))
    return (time.perf_counter() - t) / (n * rounds)


def accelerator_present() -> bool:
    """Whether this machine shows a GPU device node (NVIDIA, AMD ROCm or WSL's GPU);
    without one, CUDA cannot be available and PyTorch need not be imported to ask."""
    return any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/kfd", "/dev/dxg")) or bool(glob.glob("/dev/nvidia[0-9]*"))


def default_device() -> str:
    """Env ``XRAYDEBLUR_DEVICE``, else "cuda" when PyTorch sees a GPU, else "cpu"."""
    chosen = os.environ.get("XRAYDEBLUR_DEVICE")
    if chosen:
        return chosen
    if not accelerator_present():
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def choose_backend(model, in_channels: int, device: str | None = None, fixed_size: int | None = None, prefer: str | None = None, cache_key: str | None = None):
    """The executor to use. ``device``: "cuda" forces PyTorch on the GPU; ``prefer``
    ("torch" | "onnxruntime" | None = automatic, see the module doc) overrides the choice.
    Env ``XRAYDEBLUR_DEVICE`` and ``XRAYDEBLUR_BACKEND`` give the defaults. ``model``:
    the network, or a function that builds it (called only when needed: an ONNX export
    found under ``cache_key`` in :mod:`.onnx_cache` passed the probe when it was stored,
    so neither PyTorch model nor probe is needed then)."""
    from . import onnx_cache

    device = device or default_device()
    prefer = prefer or os.environ.get("XRAYDEBLUR_BACKEND") or None
    automatic_cpu = not device.startswith("cuda") and prefer in (None, "onnxruntime")
    cached = onnx_cache.load(cache_key) if automatic_cpu else None
    if cached is not None:
        try:
            return OnnxBackend(cached)
        except Exception:  # a damaged entry: export again below
            pass
    import torch

    model = model() if callable(model) and not isinstance(model, torch.nn.Module) else model
    torch_backend = TorchBackend(model, device)
    if device.startswith("cuda") or prefer == "torch":
        return torch_backend
    try:
        onnx_backend = OnnxBackend(export_onnx(model, in_channels, fixed_size))
    except Exception:
        return torch_backend
    if prefer == "onnxruntime":
        return onnx_backend
    size = fixed_size or 256
    probe = np.random.default_rng(0).random((1, in_channels, size, size), dtype=np.float32)
    if np.abs(onnx_backend(probe) - torch_backend(probe)).max() > 1e-4:
        return torch_backend
    onnx_cache.store(cache_key, onnx_backend.onnx_bytes)
    return onnx_backend  # deterministic: see the module doc (timing the two is benchmarks' business)

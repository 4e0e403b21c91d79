"""onnxruntime sessions with the input's height and width fixed, against one session
with dynamic sizes (issue 28): speed of the flagship's tiled inference and equality.

The shipped export has dynamic height and width. onnxruntime's free-dimension
overrides fix them per session (:class:`xraydeblur.infer.backends.OnnxBackend`,
``fixed_shapes``). With the sizes known, its blocked-channel (NCHWc) rewrite keeps more
of the network in that layout (fewer ReorderInput / ReorderOutput conversions per
run: both counts are printed). Measured on a 2048 x 2048 synthetic radiograph
(:func:`xraydeblur.data.synthetic.power_law_scene`), tiled as the flagship runs, the two
backends alternating for ``--repeats`` rounds after one warm-up each (which also
builds the fixed-size session); the output difference is the largest absolute
difference in [0, 1] over the image. Memory: the resident set of a fresh process
after tiles of six sides (304-432 px, as images of different sizes give a server) ran
through one dynamic-size session, through fixed-size sessions with an arena each, and
through fixed-size sessions sharing one arena (what ships); and the peak of a fresh
process running the whole image with each backend, and with fixed sizes plus
onnxruntime's memory-pattern planning (which, with the sizes known, reserves each run's
planned intermediate tensors at once; off in what ships). No image of any split is read.

    python benchmarks/trials/onnx_static_shapes.py --out benchmarks/results/trials/onnx_static_shapes.json
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))


def reorder_counts(onnx_bytes: bytes, shape: tuple[int, ...] | None) -> int:
    """ReorderInput + ReorderOutput nodes onnxruntime's optimised graph holds."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as folder:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.optimized_model_filepath = os.path.join(folder, "optimised.onnx")
        if shape:
            for axis, size in zip(("n", "h", "w"), shape):
                opts.add_free_dimension_override_by_name(axis, size)
        ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
        graph = onnx.load(opts.optimized_model_filepath).graph
    return sum(node.op_type in ("ReorderInput", "ReorderOutput") for node in graph.node)


#: tile sides a server meets from images of different sizes (px)
PROBE_SIDES = (400, 432, 368, 336, 400, 304)


def resident_mb_after_shapes(mode: str) -> float:
    """Resident MB of a fresh process after ``PROBE_SIDES`` tiles ran through an
    :class:`OnnxBackend` in ``mode``: "dynamic", "own arenas" or "shared arena"."""
    import subprocess

    code = f"""
import sys, numpy as np
sys.path.insert(0, {str(ROOT / 'src')!r})
from xraydeblur.infer import backends
from xraydeblur.infer.network import NetworkMethod
onnx = NetworkMethod({str(ROOT / 'src/xraydeblur/weights/nafnet-blind')!r}).backend.onnx_bytes
if {mode!r} == "own arenas":
    backends._register_shared_arena = lambda: None  # sessions then ignore the env allocator
    backends._SHARED_ARENA.append(True)
backend = backends.OnnxBackend(onnx, fixed_shapes={mode!r} != "dynamic")
if {mode!r} == "own arenas":
    import onnxruntime
    new = backend._new_session
    def own(shape):
        session = new(None) if shape is None else None
        if session is None:
            opts = onnxruntime.SessionOptions(); opts.intra_op_num_threads = opts.inter_op_num_threads = 1
            for axis, size in zip(("n", "h", "w"), (shape[0], shape[2], shape[3])):
                opts.add_free_dimension_override_by_name(axis, int(size))
            session = onnxruntime.InferenceSession(onnx, opts, providers=["CPUExecutionProvider"])
        return session
    backend._new_session = own
for side in {PROBE_SIDES!r}:
    backend(np.random.default_rng(side).random((1, 1, side, side), dtype=np.float32))
print(int(open("/proc/self/statm").read().split()[1]) * 4096 / 1e6)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def peak_mb_whole_image(mode: str, image_path: str) -> float:
    """Peak resident MB of a fresh process running the flagship network tiled on a
    synthetic image saved at ``image_path`` (.npy; generating it here would set the peak): ``mode`` "dynamic", "fixed" or "fixed, no pattern"
    (fixed sizes without onnxruntime's memory-pattern planning)."""
    import subprocess

    code = f"""
import sys, numpy as np
sys.path.insert(0, {str(ROOT / 'src')!r})
from xraydeblur.data.synthetic import power_law_scene
from xraydeblur.infer.backends import OnnxBackend
from xraydeblur.infer.network import NetworkMethod
class WithPattern(OnnxBackend):
    def session_options(self, shape):
        opts = super().session_options(shape)
        opts.enable_mem_pattern = True
        return opts
method = NetworkMethod({str(ROOT / 'src/xraydeblur/weights/nafnet-blind')!r})
onnx = method.backend.onnx_bytes
mode = {mode!r}
method.__dict__["backend"] = WithPattern(onnx) if mode == "fixed, pattern" else OnnxBackend(onnx, fixed_shapes=mode == "fixed")
method(np.load({image_path!r}))
# VmHWM, not ru_maxrss: the latter keeps the forking parent's resident set across exec
print([int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")][0] / 1e3)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def main() -> None:
    from xraydeblur.data.synthetic import power_law_scene
    from xraydeblur.infer.backends import OnnxBackend
    from xraydeblur.infer.network import MARGIN, NetworkMethod
    from xraydeblur.infer.tiling import tile_layout

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--out", type=Path)
    args = p.parse_args()

    method = NetworkMethod(ROOT / "src/xraydeblur/weights/nafnet-blind")
    onnx_bytes = method.backend.onnx_bytes
    image = power_law_scene(args.size, seed=0).astype(np.float32)
    class WithPattern(OnnxBackend):
        def session_options(self, shape):
            opts = super().session_options(shape)
            opts.enable_mem_pattern = True
            return opts

    backends = {"dynamic sizes": OnnxBackend(onnx_bytes, fixed_shapes=False), "fixed sizes": OnnxBackend(onnx_bytes, fixed_shapes=True),
                "fixed, pattern": WithPattern(onnx_bytes, fixed_shapes=True)}
    seconds = {name: [] for name in backends}
    outputs = {}
    for round_ in range(args.repeats + 1):
        for name, backend in backends.items():
            method.__dict__["backend"] = backend  # the cached property, swapped per run
            t = time.perf_counter()
            outputs[name] = method(image)
            if round_:  # round 0 warms up (and builds the fixed-size session)
                seconds[name].append(time.perf_counter() - t)
    side = tile_layout(args.size + 2 * MARGIN, method.tile, method.overlap)[0]
    rows = {name: {"median_s": float(np.median(s)), "min_s": float(min(s)), "runs_s": [round(x, 3) for x in s],
                   "reorder_nodes": reorder_counts(onnx_bytes, (1, side, side) if backends[name].fixed_shapes else None)} for name, s in seconds.items()}
    dynamic, fixed = rows["dynamic sizes"]["median_s"], rows["fixed sizes"]["median_s"]
    result = {"command": "python benchmarks/trials/onnx_static_shapes.py " + " ".join(sys.argv[1:]), "image": f"power_law_scene {args.size} px, seed 0",
              "cpu_count": os.cpu_count(), "tile_side": side, "rows": rows, "speedup": dynamic / fixed,
              "max_abs_difference": float(np.abs(outputs["dynamic sizes"] - outputs["fixed sizes"]).max())}
    print(f"{'sessions':18s} {'median s':>9s} {'min s':>7s} {'reorders':>9s}")
    for name, row in rows.items():
        print(f"{name:18s} {row['median_s']:9.3f} {row['min_s']:7.3f} {row['reorder_nodes']:9d}")
    print(f"speed-up {result['speedup']:.3f} x; largest output difference {result['max_abs_difference']:.2e}")
    result["resident_mb_after_six_tile_sides"] = {mode: round(resident_mb_after_shapes(mode)) for mode in ("dynamic", "own arenas", "shared arena")}
    print("resident MB after tiles of six sides:", result["resident_mb_after_six_tile_sides"])
    with tempfile.TemporaryDirectory() as folder:
        np.save(os.path.join(folder, "scene.npy"), image)
        result["peak_mb_whole_image"] = {mode: round(peak_mb_whole_image(mode, os.path.join(folder, "scene.npy"))) for mode in ("dynamic", "fixed", "fixed, pattern")}
    print(f"peak MB, {args.size} px image in a fresh process:", result["peak_mb_whole_image"])
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

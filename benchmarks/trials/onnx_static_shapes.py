"""onnxruntime sessions with the input's height and width fixed, against one session
with dynamic sizes (issue 28): speed of the flagship's tiled inference and equality.

The shipped export has dynamic height and width. onnxruntime's free-dimension
overrides fix them per session (:class:`xraydeblur.infer.backends.OnnxBackend`,
``fixed_shapes``). With the sizes known, its blocked-channel (NCHWc) rewrite keeps more
of the network in that layout (fewer ReorderInput / ReorderOutput conversions per
run: both counts are printed). Measured on a 2048 x 2048 synthetic radiograph
(:func:`xraydeblur.data.synthetic.power_law_scene`), tiled as the flagship runs, the
backends of :data:`MODES` alternating for ``--repeats`` rounds after one warm-up each
(which also builds the fixed-size sessions); the output difference is the largest
absolute difference in [0, 1] over the image. Memory, each in a fresh process: the
resident set after tiles of six sides (304-432 px, as images of different sizes give a
server) ran through one dynamic-size session, through fixed-size sessions sharing one
arena (what ships) and through fixed-size sessions with an arena each; and the peak of
running the whole image, also with onnxruntime's memory-pattern planning (which, with
the sizes known, reserves each run's planned intermediate tensors at once; off in what
ships). No image of any split is read.

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


#: the backends compared: "dynamic" (one dynamic-size session, as before), "fixed"
#: (what ships), "fixed, pattern" (with onnxruntime's memory-pattern planning) and
#: "fixed, own arenas" (each session its own memory arena)
MODES = ("dynamic", "fixed", "fixed, pattern", "fixed, own arenas")
#: tile sides a server meets from images of different sizes (px)
PROBE_SIDES = (400, 432, 368, 336, 400, 304)
WEIGHTS = ROOT / "src/xraydeblur/weights/nafnet-blind"


def make_backend(mode: str, onnx_bytes: bytes):
    """An :class:`~xraydeblur.infer.backends.OnnxBackend` as ``mode`` (:data:`MODES`) says."""
    from xraydeblur.infer.backends import OnnxBackend

    class Variant(OnnxBackend):
        def session_options(self, shape):
            opts = super().session_options(shape)
            if shape is not None and mode == "fixed, pattern":
                opts.enable_mem_pattern = True
            if shape is not None and mode == "fixed, own arenas":
                opts.add_session_config_entry("session.use_env_allocators", "0")
            return opts

    return Variant(onnx_bytes, fixed_shapes=mode != "dynamic")


def reorder_counts(mode: str, onnx_bytes: bytes, side: int) -> int:
    """ReorderInput + ReorderOutput nodes in onnxruntime's optimised graph of a
    ``side`` px tile's session in ``mode``."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as folder:
        opts = make_backend(mode, onnx_bytes).session_options(None if mode == "dynamic" else (1, 1, side, side))
        opts.optimized_model_filepath = os.path.join(folder, "optimised.onnx")
        ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
        graph = onnx.load(opts.optimized_model_filepath).graph
    return sum(node.op_type in ("ReorderInput", "ReorderOutput") for node in graph.node)


def in_fresh_process(mode: str, image_path: str | None) -> float:
    """Run the flagship's network in a fresh process with the ``mode`` backend: on the
    whole image saved at ``image_path`` (.npy; generating it there would set the peak),
    returning its peak resident MB (VmHWM: ``ru_maxrss`` keeps the forking parent's
    resident set across exec); or, with None, on one tile of each of
    :data:`PROBE_SIDES`, returning the resident MB after them."""
    import subprocess

    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import onnx_static_shapes as t; t._child({mode!r}, {image_path!r})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def _child(mode: str, image_path: str | None) -> None:
    """The body of :func:`in_fresh_process`; prints the MB."""
    from xraydeblur.infer.network import NetworkMethod

    method = NetworkMethod(WEIGHTS)
    backend = make_backend(mode, method.backend.onnx_bytes)
    if image_path:
        method.__dict__["backend"] = backend
        method(np.load(image_path))
        print([int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")][0] / 1e3)
    else:
        for side in PROBE_SIDES:
            backend(np.random.default_rng(side).random((1, 1, side, side), dtype=np.float32))
        print(int(open("/proc/self/statm").read().split()[1]) * 4096 / 1e6)


def main() -> None:
    from xraydeblur.data.synthetic import power_law_scene
    from xraydeblur.infer.network import MARGIN, NetworkMethod
    from xraydeblur.infer.tiling import tile_layout

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--out", type=Path)
    args = p.parse_args()

    method = NetworkMethod(WEIGHTS)
    onnx_bytes = method.backend.onnx_bytes
    image = power_law_scene(args.size, seed=0).astype(np.float32)
    backends = {mode: make_backend(mode, onnx_bytes) for mode in MODES[:3]}
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
                   "reorder_nodes": reorder_counts(name, onnx_bytes, side)} for name, s in seconds.items()}
    dynamic, fixed = rows["dynamic"]["median_s"], rows["fixed"]["median_s"]
    result = {"command": "python benchmarks/trials/onnx_static_shapes.py " + " ".join(sys.argv[1:]), "image": f"power_law_scene {args.size} px, seed 0",
              "cpu_count": os.cpu_count(), "tile_side": side, "rows": rows, "speedup": dynamic / fixed,
              "max_abs_difference": float(np.abs(outputs["dynamic"] - outputs["fixed"]).max())}
    print(f"{'sessions':18s} {'median s':>9s} {'min s':>7s} {'reorders':>9s}")
    for name, row in rows.items():
        print(f"{name:18s} {row['median_s']:9.3f} {row['min_s']:7.3f} {row['reorder_nodes']:9d}")
    print(f"speed-up {result['speedup']:.3f} x; largest output difference {result['max_abs_difference']:.2e}")
    result["resident_mb_after_six_tile_sides"] = {mode: round(in_fresh_process(mode, None)) for mode in ("dynamic", "fixed", "fixed, own arenas")}
    print("resident MB after tiles of six sides:", result["resident_mb_after_six_tile_sides"])
    with tempfile.TemporaryDirectory() as folder:
        np.save(os.path.join(folder, "scene.npy"), image)
        result["peak_mb_whole_image"] = {mode: round(in_fresh_process(mode, os.path.join(folder, "scene.npy"))) for mode in MODES[:3]}
    print(f"peak MB, {args.size} px image in a fresh process:", result["peak_mb_whole_image"])
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""The flagship's inference form with and without the last two exact rewrites of
:mod:`xraydeblur.models.nafnet_fused` (issue 28): each decoder's 1x1 conv +
PixelShuffle as one transposed conv, and the channel attention's spatial mean as a
global average pool. Speed of the tiled inference on a 2048 x 2048 image and equality.

Forms compared (each exported to ONNX and run by the shipped
:class:`~xraydeblur.infer.backends.OnnxBackend`, fixed-size sessions, tiles as the
flagship runs): "former" (PixelShuffle and mean), "transposed conv" (the first rewrite
only) and "shipped" (both). They alternate for ``--repeats`` rounds after one warm-up
each; the machine's speed drifts by 10 % and more, so read the medians. The output
difference is the largest absolute difference in [0, 1] over the image, against
"former". For each form, the operators onnxruntime runs on one 400 px tile after its
graph optimisation (DepthToSpace, ConvTranspose, layout conversions). The image is a
synthetic radiograph (:func:`xraydeblur.data.synthetic.power_law_scene`); no image of
any split is read.

    python benchmarks/trials/fused_graph.py --out benchmarks/results/trials/fused_graph.json
"""

import argparse
import copy
import json
import sys
import time
import types
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

WEIGHTS = ROOT / "src/xraydeblur/weights/nafnet-blind"
FORMS = ("former", "transposed conv", "shipped")


def _mean_pool_forward(self, x):
    """FusedNAFBlock.forward with the channel attention's spatial mean (the former form)."""
    h = self.norm1(x)
    y = self.gate_a(h) * self.gate_b(h)
    y = y * self.sca(y.mean(dim=(2, 3), keepdim=True))
    x = x + self.conv3(y)
    h = self.norm2(x)
    return x + self.conv5(self.ffn_a(h) * self.ffn_b(h))


def form(name: str, plain, shipped):
    """The network in inference form ``name`` (:data:`FORMS`)."""
    from xraydeblur.models.nafnet_fused import FusedNAFBlock

    if name == "shipped":
        return shipped
    model = copy.deepcopy(shipped)
    for block in model.modules():
        if isinstance(block, FusedNAFBlock):
            block.forward = types.MethodType(_mean_pool_forward, block)
    if name == "former":
        model.ups = copy.deepcopy(plain.ups)
    return model.eval()


def operator_counts(onnx_bytes: bytes, side: int) -> dict[str, int]:
    """Operators of the graph onnxruntime runs for one (1, 1, side, side) tile."""
    import tempfile

    import onnx
    import onnxruntime as ort

    from xraydeblur.infer.backends import OnnxBackend

    opts = OnnxBackend(onnx_bytes, threads=1).session_options((1, 1, side, side))
    with tempfile.TemporaryDirectory() as folder:
        opts.optimized_model_filepath = str(Path(folder) / "optimised.onnx")
        ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
        graph = onnx.load(opts.optimized_model_filepath).graph
    return dict(Counter(node.op_type for node in graph.node))


def main() -> None:
    from xraydeblur.data.synthetic import power_law_scene
    from xraydeblur.infer.backends import OnnxBackend, export_onnx
    from xraydeblur.infer.network import NetworkMethod
    from xraydeblur.models import build_model
    from xraydeblur.train.weights import load_weights

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--out", default="benchmarks/results/trials/fused_graph.json")
    args = parser.parse_args()

    shipped_method = NetworkMethod(WEIGHTS)
    shipped = shipped_method.model  # the fused form as it ships
    state, _ = load_weights(WEIGHTS)
    plain = build_model(shipped_method.meta["arch"], **dict(shipped_method.meta.get("kwargs", {})))
    plain.load_state_dict(state)
    plain.eval()

    image = power_law_scene(args.size, seed=0).astype(np.float32)
    methods, ops = {}, {}
    for name in FORMS:
        onnx_bytes = export_onnx(form(name, plain, shipped), 1)
        method = NetworkMethod(WEIGHTS)
        method.__dict__["backend"] = OnnxBackend(onnx_bytes)
        method(image)  # warm-up: builds the fixed-size sessions
        methods[name] = method
        ops[name] = {k: v for k, v in sorted(operator_counts(onnx_bytes, 400).items())}
    seconds = {name: [] for name in FORMS}
    outputs = {}
    for _ in range(args.repeats):
        for name in FORMS:
            start = time.perf_counter()
            outputs[name] = methods[name](image)
            seconds[name].append(time.perf_counter() - start)

    rows = {}
    base = float(np.median(seconds["former"]))
    print(f"| form | median s | min s | speed-up (medians) | max abs diff | DepthToSpace | ConvTranspose | ReduceMean | layout conversions |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in FORMS:
        med = float(np.median(seconds[name]))
        o = ops[name]
        rows[name] = {
            "seconds": [round(s, 4) for s in seconds[name]],
            "median_seconds": round(med, 4),
            "speedup_vs_former": round(base / med, 4),
            "max_abs_diff_vs_former": float(np.abs(outputs[name] - outputs["former"]).max()),
            "operators_on_a_400px_tile": o,
        }
        conversions = o.get("ReorderInput", 0) + o.get("ReorderOutput", 0)
        print(f"| {name} | {med:.3f} | {min(seconds[name]):.3f} | {base / med:.3f} x | {rows[name]['max_abs_diff_vs_former']:.1e} | {o.get('DepthToSpace', 0)} | {o.get('ConvTranspose', 0)} | {o.get('ReduceMean', 0)} | {conversions} |")
    result = {
        "command": "python benchmarks/trials/fused_graph.py " + " ".join(sys.argv[1:]),
        "image": f"power_law_scene {args.size} px, seed 0",
        "repeats": args.repeats,
        "forms": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

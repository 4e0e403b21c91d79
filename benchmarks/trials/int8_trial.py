"""Trial (not shipped): int8 static quantisation of the blind flagship for onnxruntime,
scored on the VALIDATION split.

Exports the shipped (fused) ``nafnet-blind`` to ONNX, quantises weights (int8, per
channel) and activations (uint8) with onnxruntime's static quantiser, calibrated on
``--calibration`` validation crops, then reports on other validation crops (256 px,
benchmark degradations; the test split is never read) the mean PSNR of the float32 and
the int8 network, the worst per-crop loss, and single-threaded seconds per 400 px tile
(the shipped tile size) for both. The ONNX files live in a temporary folder.

    python benchmarks/trials/int8_trial.py --out benchmarks/results/trials/int8_trial.json
"""

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def seconds_per_tile(session, side: int = 400, rounds: int = 5) -> float:
    """Best of ``rounds`` single runs on a random ``side`` x ``side`` tile (seconds)."""
    x = np.random.default_rng(0).random((1, 1, side, side), dtype=np.float32)
    session.run(None, {"input": x})
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        session.run(None, {"input": x})
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calibration", type=int, default=12, help="validation crops used to calibrate")
    p.add_argument("--images", type=int, default=6, help="validation images (every 7th row)")
    p.add_argument("--out")
    args = p.parse_args()
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from xraydeblur.data import benchmark_cases, load_image, split_rows
    from xraydeblur.infer.backends import export_onnx
    from xraydeblur.infer.network import NetworkMethod
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    crops = []
    for row in split_rows("val")[1::7][: args.images]:
        image = load_image(row)
        crops += [case.load(image)[:2] for case in benchmark_cases([row], crop=256)[::3]]
    calibration, scored = crops[: args.calibration], crops[args.calibration :]

    class Calibration(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"input": y[None, None].astype(np.float32)} for _, y in calibration])

        def get_next(self):
            return next(self.items, None)

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    with tempfile.TemporaryDirectory() as tmp:
        fp32, prepared, int8 = Path(tmp, "fp32.onnx"), Path(tmp, "prepared.onnx"), Path(tmp, "int8.onnx")
        fp32.write_bytes(export_onnx(NetworkMethod(get_method("nafnet-blind").run.stem).model, 1))
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(int8), Calibration(), quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        sessions = {name: ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"]) for name, path in (("float32", fp32), ("int8", int8))}
        values = {name: [psnr(sharp, np.clip(s.run(None, {"input": y[None, None].astype(np.float32)})[0][0, 0], 0, 1)) for sharp, y in scored] for name, s in sessions.items()}
        tile_s = {name: seconds_per_tile(s) for name, s in sessions.items()}
    loss = np.array(values["int8"]) - np.array(values["float32"])
    result = {
        "command": "python benchmarks/trials/int8_trial.py " + " ".join(sys.argv[1:]),
        "split": "val",
        "crops_scored": len(scored),
        "psnr": {name: float(np.mean(v)) for name, v in values.items()},
        "worst_crop_change_db": float(loss.min()),
        "seconds_per_400px_tile_1_thread": tile_s,
        "cpu": platform.processor() or platform.machine(),
    }
    print("| network | mean PSNR (dB) | s per 400 px tile (1 thread) |\n|---|---|---|")
    for name in sessions:
        print(f"| {name} | {result['psnr'][name]:.2f} | {tile_s[name]:.3f} |")
    print(f"worst crop change with int8: {loss.min():+.2f} dB over {len(scored)} crops")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

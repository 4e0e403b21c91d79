"""``xraydeblur evaluate``: score methods on the fixed benchmark set or the paper protocol."""

import json
import platform
import sys

from .common import HelpFormatter

EXAMPLES = """examples:
  xraydeblur evaluate --protocol paper --methods srcnn dae unet wiener --out docs/results/paper.json
  xraydeblur evaluate --max-images 12 --crop 256 --speed-size 2048 --out r.json
  xraydeblur evaluate --scheme source --held-out mhh --weights-dir benchmarks/weights/unseen-mhh \\
      --max-images 12 --crop 256 --out r.json     # networks trained without the mhh source
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="benchmark methods (PSNR, SSIM, seconds/MP)", description=__doc__, epilog=EXAMPLES, formatter_class=HelpFormatter)
    p.add_argument("--protocol", choices=["benchmark", "paper"], default="benchmark")
    p.add_argument("--methods", nargs="*", help="registered method names (default: all)")
    p.add_argument("--split", default="test", choices=["test", "val"], help="which part of the split")
    p.add_argument("--scheme", default="patient", choices=["patient", "source"], help="patient split, or held-out source")
    p.add_argument("--held-out", default="mhh", help="source kept out of training (scheme=source)")
    p.add_argument("--max-images", type=int, help="evenly spaced subset of the split's images")
    p.add_argument("--crop", type=int, default=512, help="benchmark crop side (px, native resolution)")
    p.add_argument("--weights-dir", help="use the networks in this folder (NAME.safetensors + NAME.json) instead of the shipped ones of the same name")
    p.add_argument("--speed-size", type=int, default=0, help="also time every method on one SIZE x SIZE image in a fresh process (seconds, s/MP, peak memory); 0 = skip")
    p.add_argument("--input-bits", type=int, choices=[8, 10, 12], help="round every degraded input to this many bits, as a PNG or JPEG upload (8) or a DICOM (10, 12) holds it (rows get a '+<bits>bit' suffix); default: float inputs")
    p.add_argument("--out", help="write JSON here (and a .md table beside it)")
    p.add_argument(
        "--update",
        action="store_true",
        help="--out names an earlier run of the same cases (protocol, split, scheme, images, crop, input bits): score only --methods and replace their records there, keeping the others' (after retraining one network)",
    )
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def subset(rows, n):
    """``n`` rows evenly spaced over the list (deterministic), or all."""
    if not n or n >= len(rows):
        return rows
    step = len(rows) / n
    return [rows[int(i * step)] for i in range(n)]


def validation_table(variants) -> str:
    """Validation loss / PSNR / SSIM recorded in each network's weights JSON."""
    from ..methods import get_method

    lines = ["| network | validation loss | validation PSNR | validation SSIM | epoch |", "|---|---|---|---|---|"]
    for name in dict.fromkeys(v.method for v in variants if v.method != "blurred"):
        m = get_method(name).extra.get("metrics") or {}
        if m:
            lines.append(f"| {name} | {m['val_loss']:.5f} | {m['val_psnr']:.2f} | {m['val_ssim']:.4f} | {m['epoch']} |")
    return "\n".join(lines)


def run(args) -> int:
    from .. import __version__
    from ..data import manifest_sha256, split_rows
    from ..evaluate import benchmark_iter, check_trained_for_split, default_variants, evaluate, paper_cases

    if args.weights_dir:
        from ..models.registry import register_weights_dir

        try:
            register_weights_dir(args.weights_dir)
        except FileNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    try:
        variants = default_variants(args.methods)
        check_trained_for_split(variants, args.scheme, args.held_out)
    except (KeyError, ValueError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    rows = subset(split_rows(args.split, args.scheme, args.held_out), args.max_images)
    cases = paper_cases(rows) if args.protocol == "paper" else benchmark_iter(rows, args.crop, args.input_bits)
    records = evaluate(cases, variants, progress=not args.quiet and sys.stderr.isatty())
    command = "xraydeblur evaluate " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["evaluate"] else sys.argv[1:])
    if args.update:
        try:
            meta, records, variants = merged_with_earlier(args, command, records, variants, len(rows))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return _write_and_print(args, meta, records, variants)
    meta = {
        "command": command,
        "protocol": args.protocol,
        "split": args.split,
        "scheme": args.scheme,
        "held_out": args.held_out if args.scheme == "source" else None,
        "images": len(rows),
        "weights_dir": args.weights_dir,
        "crop": args.crop if args.protocol == "benchmark" else 224,
        "input_bits": args.input_bits,
        "data_manifest_sha256": manifest_sha256(),
        "package_version": __version__,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }
    from ..evaluate import summarise

    speed = []
    if args.speed_size:
        from ..speed import measure_speed

        names = [v.method for v in variants if v.method != "blurred"]
        speed = [measure_speed(name, args.speed_size, weights_dir=args.weights_dir) for name in dict.fromkeys(names)]
        meta["speed"] = speed
    return _write_and_print(args, meta, records, variants, speed)


def merged_with_earlier(args, command: str, records: list[dict], variants, images: int):
    """``(meta, records, variants)`` of the earlier run in ``args.out`` with the records
    of ``variants`` replaced by the new ``records``; refuses (ValueError) when the earlier
    run scored other cases."""
    from pathlib import Path

    from ..evaluate import Variant

    if not args.out or not Path(args.out).exists():
        raise ValueError("--update needs --out naming an earlier run's JSON")
    earlier = json.loads(Path(args.out).read_text())
    wanted = {"protocol": args.protocol, "split": args.split, "scheme": args.scheme, "images": images, "input_bits": args.input_bits}
    if args.protocol == "benchmark":
        wanted["crop"] = args.crop
    for key, value in wanted.items():
        if earlier.get(key) != value:
            raise ValueError(f"--update: {args.out} has {key}={earlier.get(key)!r}, this run {value!r}: not the same cases")
    labels = {v.label for v in variants}
    new_cases = {r["case"] for r in records}
    if new_cases != {r["case"] for r in earlier["records"]}:
        raise ValueError(f"--update: {args.out} scored other cases")
    kept = [r for r in earlier["records"] if r["variant"] not in labels]
    meta = {k: v for k, v in earlier.items() if k not in ("summary", "summary_by_source", "records")}
    meta["updated_by"] = [*meta.get("updated_by", []), command]
    order = list(dict.fromkeys(r["variant"] for r in earlier["records"]))
    order += [label for label in labels if label not in order]
    cases = list(dict.fromkeys(r["case"] for r in earlier["records"]))
    merged = sorted(kept + records, key=lambda r: (cases.index(r["case"]), order.index(r["variant"])))  # case-major, as evaluate writes
    everything = [Variant(label.split(" [")[0], "true" if label.endswith("[true kernel]") else "none") for label in order if label != "blurred input"]
    return meta, merged, everything


def _write_and_print(args, meta: dict, records: list[dict], variants, speed: list | None = None) -> int:
    from ..evaluate import markdown_table, summarise, write_results

    speed = speed or []
    summary = write_results(args.out, meta, records) if args.out else summarise(records)
    text = []
    for metric in ("psnr", "ssim", "psnr_s0", "ssim_s0", "seconds_per_mp"):
        text += [f"\n### {metric.upper().replace('_', ' ')}\n", markdown_table(summary, metric)]
    text += ["\n### PSNR BY SOURCE (mean over every degradation)\n", markdown_table(summarise(records, by="source"), "psnr").replace("| degradation |", "| source |", 1)]
    if speed:
        from ..speed import speed_table

        text += [f"\n### SPEED AND PEAK MEMORY ({args.speed_size}x{args.speed_size} image, fresh process per method, {speed[0].get('threads', '?')} CPU threads)\n", speed_table(speed)]
    text += ["\n### VALIDATION (from each network's training run)\n", validation_table(variants)]
    body = "\n".join(text)
    print(body)
    if args.out:
        from pathlib import Path

        Path(args.out).with_suffix(".md").write_text(f"Command: `{meta['command']}`\n\nData: {json.dumps({k: meta[k] for k in ('protocol', 'split', 'scheme', 'held_out', 'images', 'crop', 'weights_dir')})}\n{body}\n")
    return 0

"""Throughput of ``xraydeblur node`` in a real loop, Orthanc -> node -> Orthanc, against
``xraydeblur deblur`` on the same images.

The images are the shared DICOM files (../shared/data/dicom: DX/CR/SC, 440x440 to
2000x2128, uncompressed, JPEG 2000 and JPEG-LS, one ACR-NEMA file), cycled to ``--count``
(default 20) in order of size; each copy gets a new SOP Instance UID in memory so the
PACS stores it as a new instance (nothing is written to the repository). They are
uploaded to a private Orthanc (temp folder, loopback ports), the node runs as
``xraydeblur node`` in a subprocess, and one Orthanc job sends them all to it
(``/modalities/.../store``). The clock runs from that request until the node reports
the last derived image delivered back to Orthanc. Per-image latency (C-STORE received by
the node -> derived image stored by Orthanc) comes from the node's log.

The baseline is ``xraydeblur deblur`` (one process, whole batch, same method and blur)
on the same files in a temp folder: wall time including start-up, and per image.

    python benchmarks/node_throughput.py                 # 20 images, wiener, sigma 1 px
    python benchmarks/node_throughput.py --count 2 --out /tmp/x.json
"""

import argparse
import io
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the Orthanc helper of the test suite

#: ``xraydeblur`` of this interpreter
CLI = [sys.executable, "-c", "import sys; from xraydeblur.cli import main; sys.exit(main(sys.argv[1:]))"]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "node_throughput.json"


def images(count: int) -> list[tuple[str, bytes]]:
    """``count`` (name, Part-10 bytes) pairs: the shared DICOMs by size, cycled, each
    with a fresh SOP Instance UID."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ImplicitVRLittleEndian, generate_uid

    from xraydeblur.data import data_root

    files = sorted((data_root() / "dicom").glob("*.dcm"), key=lambda p: p.stat().st_size)
    if not files:
        sys.exit(f"no shared DICOM files in {data_root() / 'dicom'} (set XRAYDEBLUR_DATA)")
    out = []
    for i in range(count):
        path = files[i % len(files)]
        ds = pydicom.dcmread(path, force=True)
        if not getattr(ds, "file_meta", None) or "TransferSyntaxUID" not in ds.file_meta:
            ds.file_meta = FileMetaDataset()
            ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian  # the ACR-NEMA file
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        out.append((path.name, buf.getvalue()))
    return out


def free_port() -> int:
    from conftest import free_port as pick

    return pick()


def run_node(blobs: list, method_args: list, workdir: Path) -> dict:
    import httpx

    from orthanc_helper import Orthanc, accepted

    pacs = Orthanc(workdir / "orthanc", name="benchmark")
    pacs.start()
    node_port, http_port = free_port(), free_port()
    log_path = workdir / "node.log"
    args = [*CLI, "node", "--port", str(node_port), "--http-port", str(http_port), "--allow", "ORTHANC",
            "--forward", f"ORTHANC@127.0.0.1:{pacs.dicom_port}", "--queue-size", str(len(blobs)), "--safeguard", "off", *method_args]
    with open(log_path, "wb") as sink:
        node = subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    status_url = f"http://127.0.0.1:{http_port}/status"
    try:
        ids = [accepted(pacs.upload(data)) for _, data in blobs]
        assert all(ids), "Orthanc refused an image"
        pacs.client.put("/modalities/node", json={"AET": "XRAYDEBLUR", "Host": "127.0.0.1", "Port": node_port})
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(status_url, timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if node.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the node did not start:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        started = time.perf_counter()
        response = pacs.client.post("/modalities/node/store", json={"Resources": ids, "Synchronous": True}, timeout=3600)
        sent = time.perf_counter() - started
        assert response.status_code == 200 and response.json()["FailedInstancesCount"] == 0, response.text[:300]
        while True:
            status = httpx.get(status_url, timeout=10, trust_env=False).json()
            if status["forwarded"] + status["failed"] + status["forward_failed"] >= len(blobs):
                break
            time.sleep(0.1)
        wall = time.perf_counter() - started
        stored = len(pacs.instances())
    finally:
        if node.poll() is None:
            node.send_signal(signal.SIGTERM)
            node.wait(timeout=120)
        pacs.close()
    records = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    done = [r for r in records if r["event"] == "image" and r["outcome"] == "forwarded"]
    latency = [r["latency_s"] for r in done]
    return {
        "images": len(blobs),
        "forwarded": status["forwarded"],
        "failed": status["failed"] + status["forward_failed"],
        "orthanc_instances_after": stored,
        "wall_s": round(wall, 2),
        "orthanc_send_s": round(sent, 2),
        "images_per_minute": round(60 * len(blobs) / wall, 2),
        "latency_s": {"mean": round(statistics.fmean(latency), 2), "median": round(statistics.median(latency), 2), "max": round(max(latency), 2)},
        "queue_wait_s_mean": round(statistics.fmean(r["queue_s"] for r in done), 2),
        "deblur_s_mean": round(statistics.fmean(r["deblur_s"] for r in done), 2),
        "forward_s_mean": round(statistics.fmean(r["forward_s"] for r in done), 2),
    }


def run_deblur(blobs: list, method_args: list, workdir: Path) -> dict:
    src, out = workdir / "in", workdir / "out"
    src.mkdir()
    for i, (name, data) in enumerate(blobs):
        (src / f"{i:02d}-{name}").write_bytes(data)
    started = time.perf_counter()
    result = subprocess.run([*CLI, "deblur", str(src), "-o", str(out), "--quiet", *method_args], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"xraydeblur deblur failed:\n{result.stderr[-2000:]}")
    started = time.perf_counter()  # start-up alone: imports and the method registry
    subprocess.run([*CLI, "deblur", "--method", "list"], capture_output=True, check=True)
    startup = time.perf_counter() - started
    return {
        "images": len(blobs),
        "wall_s": round(wall, 2),
        "images_per_minute": round(60 * len(blobs) / wall, 2),
        "seconds_per_image": round(wall / len(blobs), 2),
        "startup_s": round(startup, 2),
        "seconds_per_image_after_startup": round(max(wall - startup, 0.0) / len(blobs), 2),
    }


def table(node: dict, deblur: dict) -> str:
    rows = [
        ("xraydeblur node (Orthanc -> node -> Orthanc)", node["images_per_minute"], node["wall_s"], f"mean {node['latency_s']['mean']} / median {node['latency_s']['median']} / max {node['latency_s']['max']}"),
        ("xraydeblur deblur (folder -> folder)", deblur["images_per_minute"], deblur["wall_s"], f"{deblur['seconds_per_image']} per image (wall / images); {deblur['seconds_per_image_after_startup']} without the {deblur['startup_s']} s start-up"),
    ]
    lines = [f"{'path':<46} {'images/min':>10} {'wall s':>8}  latency per image (s)"]
    lines += [f"{name:<46} {ipm:>10.2f} {wall:>8.2f}  {lat}" for name, ipm, wall, lat in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=20, help="images to push (the shared DICOMs, cycled)")
    p.add_argument("--method", default="wiener")
    p.add_argument("--sigma", type=float, default=1.0, help="known Gaussian blur (px) given to both paths")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    args = p.parse_args(argv)
    method_args = ["--method", args.method, "--sigma", str(args.sigma)]
    blobs = images(args.count)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="node-throughput-") as tmp:
        node = run_node(blobs, method_args, Path(tmp))
        deblur = run_deblur(blobs, method_args, Path(tmp))
    load_after = os.getloadavg()[0]
    print(table(node, deblur))
    sizes = sorted({name for name, _ in blobs})
    result = {
        "command": "python benchmarks/node_throughput.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "images": f"{args.count} radiographs: the {len(sizes)} shared DICOM files ({', '.join(sizes)}) cycled in order of size, each copy with a new SOP Instance UID",
        "method": args.method,
        "sigma_px": args.sigma,
        "safeguard": "off (node); deblur without --report",
        "node": node,
        "deblur_cli": deblur,
        "cpu_count": os.cpu_count(),
        "load_average_1min": {"before": round(load_before, 2), "after": round(load_after, 2)},
        "cpu": platform.processor() or platform.machine(),
        "date": time.strftime("%Y-%m-%d"),
        "note": "node: one worker, queue as large as the batch, clock from Orthanc's store request to the last derived image delivered; latency = C-STORE received -> delivered, so it includes the wait behind the images sent before (queue_wait_s_mean); deblur: one process, wall time including Python start-up. Both paths run xraydeblur.pipeline.restore; a load average above the CPU count means other work shared the CPUs",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

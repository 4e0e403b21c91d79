"""End-to-end latency and memory of what users wait for: the CLI, the API, the page.

    python benchmarks/end_to_end.py --out benchmarks/results/end_to_end.json

Everything runs in one process tree on this machine, on the same images, in one run:

* the machine-speed reference: scikit-image ``richardson_lucy`` (30 iterations,
  Gaussian PSF sigma 2 px) on the 2048 x 2048 image, in this process, at the start and
  at the end of the run (the mean of the two is the reference);
* images (written to a temporary folder, deleted afterwards; never committed): a
  2048 x 2048 16-bit PNG and the real 2000 x 2128 12-bit DICOM ``966_fixed.dcm`` from
  ``../shared/data/dicom``, both blurred with a Gaussian of sigma 2 px (so the default
  deblurs them; unblurred they are returned unchanged, timed as well), and a
  3000 x 3000 16-bit DICOM (the same radiograph resampled) for peak memory;
* the CLI in a fresh process each time (``xraydeblur deblur IN -o OUT``: PNG -> PNG,
  DICOM -> DICOM), ``xraydeblur info FILE`` and ``xraydeblur deblur --method list``;
* the API on a warm server started by this script: the first request after start and
  later ones (DICOM -> DICOM, PNG -> PNG), and the page's request (the compact binary
  view answer) with its payload size against a 16-bit PNG of the result, and the page
  itself in chromium (Playwright), from choosing the file to the result drawn;
* where the time goes: the steps of the CLI's PNG run timed inside a fresh process
  (start-up, imports, decode, each pipeline step, encode) and the server's steps of the
  page's request (from the answer's ``seconds_by_step``).

The CLI's PNG case and the page's request are run :data:`REPEATS` times, the warm API's
DICOM request :data:`API_REPEATS` times, and the median reported (the shared machine's
speed drifts by 20 % and more); for the API and the page, the request whose overhead
over its own network time is the median (the goals are about that overhead). Wall time
is what the user waits for (process start to exit, request sent to answer
read); peak memory is the largest resident set of the process tree (sampled every
20 ms). The goals of issue 28 are checked as ratios to the Richardson-Lucy reference.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
#: runs of the CLI's PNG case and of the warm API's DICOM request; the median is reported
REPEATS = 3
#: warm API DICOM requests (each one's overhead over its own network time is taken)
API_REPEATS = 5


def _median_request(runs: list[tuple[float, float]]) -> dict:
    """Requests' (seconds, method seconds): the run whose overhead (seconds minus its
    own method's) is the median, with every run's seconds and overhead."""
    seconds, method = sorted(runs, key=lambda r: r[0] - r[1])[len(runs) // 2]
    return {"seconds": round(seconds, 3), "method_seconds": method, "overhead_seconds": round(seconds - method, 3),
            "seconds_all": [round(t, 3) for t, _ in runs], "overhead_all": [round(t - m, 3) for t, m in runs]}
XRAYDEBLUR = [sys.executable, "-c", "import sys; from xraydeblur.cli import main; sys.exit(main(sys.argv[1:]))"]


class PeakMemory:
    """Samples the resident memory (MB) of a process and its children until stopped."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                root = psutil.Process(self.pid)
                total = sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
                self.peak = max(self.peak, total / 1e6)
            except psutil.Error:
                pass
            time.sleep(0.02)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return round(self.peak, 1)


def run_cli(args: list[str]) -> dict:
    """Wall seconds and peak MB of ``xraydeblur ARGS`` in a fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(XRAYDEBLUR + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    memory = PeakMemory(proc.pid)
    _, err = proc.communicate()
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"xraydeblur {' '.join(args)} failed: {err.decode()[-300:]}")
    return {"seconds": round(seconds, 3), "peak_mb": memory.stop()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def minor_faults(pid: int) -> int | None:
    """The process's minor page faults so far (Linux ``/proc``; None elsewhere): each is
    a page the kernel had to map, zero-filled, on first touch."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])
    except (OSError, IndexError, ValueError):
        return None


def post(url: str, data: bytes, accept: str) -> tuple[float, bytes, dict]:
    request = urllib.request.Request(url, data=data, headers={"Accept": accept, "Content-Type": "application/octet-stream"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        body = response.read()
        headers = dict(response.headers)
    return time.perf_counter() - t0, body, headers


def make_images(folder: Path) -> dict:
    """The benchmark's inputs in ``folder``: blurred and unblurred PNG (2048 x 2048) and
    DICOM (2000 x 2128), and a 3000 x 3000 DICOM. Returns their paths."""
    from PIL import Image
    from skimage.transform import resize

    from xraydeblur.data import data_root
    from xraydeblur.degrade import gaussian_blur
    from xraydeblur.io import encode_radiograph, read_radiograph

    rad = read_radiograph(data_root() / "dicom" / "966_fixed.dcm")
    paths = {"dicom_sharp": data_root() / "dicom" / "966_fixed.dcm"}
    blurred, _ = gaussian_blur(rad.pixels, 2.0)
    paths["dicom"] = folder / "blurred.dcm"
    paths["dicom"].write_bytes(encode_radiograph(rad, blurred, "dicom", method="benchmark input: Gaussian blur sigma 2", synthetic=True))
    square = resize(rad.pixels, (2048, 2048), order=1, preserve_range=True).astype(np.float32)
    for name, pixels in (("png_sharp", square), ("png", gaussian_blur(square, 2.0)[0])):
        paths[name] = folder / f"{name}.png"
        Image.fromarray(np.rint(np.clip(pixels, 0, 1) * 65535).astype(np.uint16)).save(paths[name])
    big = resize(rad.pixels, (3000, 3000), order=1, preserve_range=True).astype(np.float32)
    paths["dicom_3000"] = folder / "big.dcm"
    paths["dicom_3000"].write_bytes(encode_radiograph(rad, gaussian_blur(big, 2.0)[0], "dicom", method="benchmark input", synthetic=True))
    return paths


def reference_seconds(png: Path) -> float:
    """scikit-image Richardson-Lucy, 30 iterations, on the 2048 x 2048 image."""
    from skimage.restoration import richardson_lucy

    from xraydeblur.degrade import gaussian_kernel
    from xraydeblur.io import read_radiograph

    image = read_radiograph(png).pixels.astype(np.float64)
    t0 = time.perf_counter()
    richardson_lucy(image, gaussian_kernel(2.0), num_iter=30)
    return round(time.perf_counter() - t0, 3)


def api_rows(paths: dict) -> dict:
    """Timings of a server started here: ready, first request, later requests, page."""
    from PIL import Image

    from xraydeblur.server.view_payload import MEDIA_TYPE

    port = free_port()
    t0 = time.perf_counter()
    server = subprocess.Popen(XRAYDEBLUR + ["serve", "--port", str(port), "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    memory = PeakMemory(server.pid)
    base = f"http://127.0.0.1:{port}"
    rows: dict = {}
    try:
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1).read()
                break
            except OSError:
                if time.perf_counter() - t0 > 300:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.1)
        rows["server_ready_seconds"] = round(time.perf_counter() - t0, 3)
        url = base + "/api/v1/deblur"
        dicom = paths["dicom"].read_bytes()
        before = minor_faults(server.pid)
        seconds, _, headers = post(url, dicom, "application/dicom")
        after = minor_faults(server.pid)
        rows["api_dicom_first"] = {"seconds": round(seconds, 3), "method_seconds": float(headers.get("x-inference-seconds", "nan")),
                                   "server_page_faults": None if before is None or after is None else after - before}
        later, faults = [], []
        for _ in range(API_REPEATS):  # the machine is not steady: the median of several
            before = minor_faults(server.pid)
            seconds, _, headers = post(url, dicom, "application/dicom")
            after = minor_faults(server.pid)
            later.append((seconds, float(headers.get("x-inference-seconds", "nan"))))
            faults.append(None if before is None or after is None else after - before)
        rows["api_dicom"] = {**_median_request(later), "server_page_faults_all": faults}
        seconds, _, headers = post(url, paths["png"].read_bytes(), "image/png")
        rows["api_png"] = {"seconds": round(seconds, 3), "method_seconds": float(headers.get("x-inference-seconds", "nan"))}
        from xraydeblur.server.view_payload import decode_view

        pages = []
        for _ in range(REPEATS):
            seconds, body, headers = post(url, dicom, MEDIA_TYPE)
            pages.append((seconds, float(headers.get("x-inference-seconds", "nan")), body, float(headers.get("x-processing-seconds", "nan"))))
        # the run of median overhead, whose answer's steps are shown
        seconds, method, body, server_seconds = sorted(pages, key=lambda r: r[0] - r[1])[len(pages) // 2]
        header, arrays = decode_view(body)
        buffer = io.BytesIO()
        Image.fromarray(np.asarray(arrays["after"], np.uint16)).save(buffer, format="PNG")
        steps = dict(header.get("seconds_by_step") or {})
        # the steps' own times (some overlap in a second thread); the rest of the server's
        # time is decoding the upload and encoding the answer
        steps["decode_and_dicom_encode"] = round(float(header["seconds"]) - float(header["pipeline_seconds"]), 3)
        steps["answer_encoding"] = round(server_seconds - float(header["seconds"]), 3)
        steps["http_and_transfer"] = round(seconds - server_seconds, 3)
        rows["page_request"] = {**_median_request([(t, m) for t, m, _, _ in pages]),
                                "payload_bytes": len(body), "png16_of_result_bytes": buffer.tell(), "steps": steps}
        rows["page_displayed"] = page_displayed(base, paths["dicom"])
    finally:
        server.terminate()
        server.wait(timeout=30)
        rows["server_peak_mb"] = memory.stop()
    return rows


CLI_STEPS = """
import json, sys, time
t0 = time.perf_counter()
from xraydeblur.io import read_radiograph
from xraydeblur.io.write import encode_radiograph, write_bytes_atomic
from xraydeblur.methods import get_method
from xraydeblur.pipeline import restore
method = get_method()
t1 = time.perf_counter()
rad = read_radiograph(sys.argv[1])
t2 = time.perf_counter()
# as `xraydeblur deblur` runs it: the safeguard checks the result while it is encoded
result = restore(rad.pixels, method, measure_sharpness=False, while_checking=lambda pixels: encode_radiograph(rad, pixels, rad.format))
t3 = time.perf_counter()
write_bytes_atomic(result.prepared if result.prepared is not None else encode_radiograph(rad, result.pixels, rad.format), sys.argv[2])
t4 = time.perf_counter()
print(json.dumps({"imports_and_method_lookup": t1 - t0, "decode": t2 - t1, **result.facts["seconds_by_step"], "pipeline_other": t3 - t2 - result.facts["pipeline_seconds"], "encode_and_write": t4 - t3}))
"""


def page_displayed(base: str, dicom: Path) -> dict:
    """The web page in Debian's chromium (Playwright), on this machine: from choosing the
    file to the result drawn (the viewer's ``data-ready``), :data:`REPEATS` times; the
    run of median overhead over its own network time, with the page's own decode and
    render milliseconds. Skipped (with the reason) where Playwright or chromium is missing."""
    chromium = Path("/usr/bin/chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"skipped": "playwright is not installed"}
    if not chromium.exists():
        return {"skipped": f"{chromium} is missing"}
    runs = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(base + "/")
            page.wait_for_function("() => !document.getElementById('method-select').disabled")
            for _ in range(REPEATS):
                page.evaluate("document.getElementById('viewer').dataset.ready = 'false'")
                with page.expect_response(lambda r: "/api/v1/deblur" in r.url, timeout=120_000) as answer:
                    t0 = time.perf_counter()
                    page.set_input_files("#file-input", str(dicom))
                    page.wait_for_selector("#viewer[data-ready='true']", timeout=120_000)
                    seconds = time.perf_counter() - t0
                method = float(answer.value.headers.get("x-inference-seconds", "nan"))
                viewer = page.locator("#viewer")
                runs.append((seconds, method, int(viewer.get_attribute("data-decode-ms") or 0), int(viewer.get_attribute("data-render-ms") or 0)))
        finally:
            browser.close()
    seconds, method, decode_ms, render_ms = sorted(runs, key=lambda r: r[0] - r[1])[len(runs) // 2]
    return {**_median_request([(t, m) for t, m, _, _ in runs]), "page_decode_ms": decode_ms, "page_render_ms": render_ms}


def cli_breakdown(png: Path, out: Path) -> dict:
    """Where a CLI run's time goes: the steps of ``xraydeblur deblur`` (PNG -> PNG) timed
    inside a fresh process; ``interpreter_start`` is the process wall time they leave.
    ``while_checking`` (encoding the output) runs beside ``safeguard``, so it is listed
    but not counted twice."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CLI_STEPS, str(png), str(out)], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    steps = json.loads(done.stdout.strip().splitlines()[-1])
    steps = {k: round(v, 3) for k, v in steps.items() if v > 0 or k in ("method",)}
    steps["interpreter_start"] = round(wall - sum(v for k, v in steps.items() if k != "while_checking"), 3)
    return {"seconds": round(wall, 3), "steps": steps}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "end_to_end.json")
    args = p.parse_args()
    result: dict = {"machine": f"{os.cpu_count()} CPU cores", "python": sys.version.split()[0], "load_average_1min_before": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = make_images(folder)
        reference = [reference_seconds(paths["png"])]
        result["cli_method_list"] = run_cli(["deblur", "--method", "list"])
        result["cli_info_dicom"] = run_cli(["info", str(paths["dicom"])])
        runs = [run_cli(["deblur", str(paths["png"]), "-o", str(folder / f"out{i}.png")]) for i in range(REPEATS)]
        result["cli_png_2048"] = {**sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2], "seconds_all": [r["seconds"] for r in runs]}
        result["cli_png_2048_unblurred"] = run_cli(["deblur", str(paths["png_sharp"]), "-o", str(folder / "out-sharp.png")])
        result["cli_dicom_2000x2128"] = run_cli(["deblur", str(paths["dicom"]), "-o", str(folder / "out.dcm")])
        result["cli_dicom_unblurred"] = run_cli(["deblur", str(paths["dicom_sharp"]), "-o", str(folder / "out-sharp.dcm")])
        result["cli_dicom_3000"] = run_cli(["deblur", str(paths["dicom_3000"]), "-o", str(folder / "out-big.dcm")])
        result["cli_png_2048_breakdown"] = cli_breakdown(paths["png"], folder / "out-steps.png")
        result.update(api_rows(paths))
        reference.append(reference_seconds(paths["png"]))  # again at the end: the mean of both is the reference
    result["richardson_lucy_30_seconds"] = round(float(np.mean(reference)), 3)
    result["richardson_lucy_30_seconds_all"] = reference
    result["load_average_1min_after"] = round(os.getloadavg()[0], 2)  # above the core count: other work shared the CPUs
    rl = result["richardson_lucy_30_seconds"]
    page = result["page_request"]
    result["goals"] = {
        "cli_png_2048_over_rl30": round(result["cli_png_2048"]["seconds"] / rl, 3),
        "api_dicom_overhead_seconds": round(result["api_dicom"]["seconds"] - result["api_dicom"]["method_seconds"], 3),
        "page_overhead_seconds": round(page["seconds"] - page["method_seconds"], 3),
        "page_displayed_overhead_seconds": result["page_displayed"].get("overhead_seconds"),
        "server_page_faults_per_api_dicom_request": result["api_dicom"]["server_page_faults_all"],
        "first_over_later_request": round(result["api_dicom_first"]["seconds"] / float(np.median(result["api_dicom"]["seconds_all"])), 3),
        "payload_over_png16": round(page["payload_bytes"] / page["png16_of_result_bytes"], 3),
        "info_seconds": result["cli_info_dicom"]["seconds"],
        "method_list_seconds": result["cli_method_list"]["seconds"],
        "peak_mb_3000x3000_dicom": result["cli_dicom_3000"]["peak_mb"],
    }
    print(f"{'what':34s} {'seconds':>8s} {'peak MB':>8s}")
    for key, value in result.items():
        if isinstance(value, dict) and "seconds" in value:
            print(f"{key:34s} {value['seconds']:8.2f} {value.get('peak_mb', float('nan')):8.0f}")
    print(f"{'richardson_lucy_30 (reference)':34s} {rl:8.2f}")
    for key in ("cli_png_2048_breakdown", "page_request"):
        print(f"where the time goes, {key}: " + ", ".join(f"{k} {v:.2f}" for k, v in result[key]["steps"].items()))
    print("goals:", json.dumps(result["goals"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Load test: a real server (uvicorn subprocess, one inference slot, short queue) under
12 concurrent uploads answers each with 200 or a clean 503, stays within a memory
bound, stays healthy, and writes nothing to its temp dir."""

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait

import httpx
import numpy as np
import psutil
import pytest
from PIL import Image

from conftest import SLOW_TEST_METHOD

N_REQUESTS = 12
OVERALL_TIMEOUT_S = 120
RSS_LIMIT_BYTES = 1_500_000_000  # server process and its children, whole run
SIDE = 128


def small_png() -> bytes:
    y, x = np.mgrid[0:SIDE, 0:SIDE]
    img = 0.3 + 0.4 * (((x // 16) + (y // 16)) % 2) + 0.002 * x
    buf = io.BytesIO()
    Image.fromarray(np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _rss(pid: int) -> int:
    try:
        proc = psutil.Process(pid)
        return proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
    except psutil.Error:
        return 0


@pytest.mark.slow
def test_concurrent_uploads_get_200_or_clean_503(live_server):
    server = live_server(
        {
            "XRAYDEBLUR_MAX_CONCURRENT": "1",
            "XRAYDEBLUR_QUEUE_TIMEOUT": "1.5",
            "XRAYDEBLUR_TEST_DELAY": "0.3",
            "XRAYDEBLUR_MAX_UPLOAD_MB": "1",
        }
    )
    data = small_png()
    url = f"{server.url}/api/v1/deblur"

    peak = {"rss": _rss(server.process.pid)}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak["rss"] = max(peak["rss"], _rss(server.process.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    def one(_):
        with httpx.Client(timeout=60) as client:
            return client.post(url, params={"method": SLOW_TEST_METHOD}, content=data, headers={"Content-Type": "image/png"})

    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=N_REQUESTS) as pool:
            futures = [pool.submit(one, i) for i in range(N_REQUESTS)]
            done, pending = wait(futures, timeout=OVERALL_TIMEOUT_S)
            assert not pending, f"{len(pending)} requests still running after {OVERALL_TIMEOUT_S} s"
            responses = [f.result() for f in futures]
    finally:
        stop.set()
        sampler.join(5)
    elapsed = time.monotonic() - started

    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= 1, statuses
    for r in responses:
        assert r.headers["cache-control"] == "no-store"
        if r.status_code == 200:
            assert r.headers["content-type"] == "image/png"
            assert np.asarray(Image.open(io.BytesIO(r.content))).shape == (SIDE, SIDE)
        else:
            detail = r.json()["detail"]
            assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in r.text
            assert int(r.headers["retry-after"]) >= 1
    print(f"\n{N_REQUESTS} requests in {elapsed:.1f} s: {statuses.count(200)} x 200, {statuses.count(503)} x 503; "
          f"peak server RSS {peak['rss'] / 1e6:.0f} MB")
    assert peak["rss"] < RSS_LIMIT_BYTES, f"server RSS peaked at {peak['rss'] / 1e6:.0f} MB"

    # an upload over the byte cap is refused (413, or the connection is closed early)
    try:
        with httpx.Client(timeout=30) as client:
            big = client.post(url, content=b"\0" * 3_000_000, headers={"Content-Type": "application/octet-stream"})
        assert big.status_code == 413 and "limit" in big.json()["detail"]
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        pass

    health = httpx.get(f"{server.url}/healthz", timeout=10)
    assert health.status_code == 200
    assert health.json()["inference"] == {"running": 0, "waiting": 0, "limit": 1}
    assert server.process.poll() is None
    assert list(server.tmpdir.iterdir()) == [], "the server wrote to its temp dir"
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log, log[-2000:]

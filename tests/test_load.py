"""Load test (issue 25): a real server (uvicorn subprocess on 127.0.0.1, two inference
slots, a short queue, a small upload budget) under 16 concurrent small uploads, a few
large ones and one slow client. Every answer is 200 or 503 with Retry-After, /healthz
answers within 1 s throughout, the server's memory returns to within 200 MB of its
idle level, and nothing is written to its temp dir or logged as a traceback.

Bounded: 20 requests, about 30 s on a busy 2-core machine.
"""

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

N_SMALL = 16
N_LARGE = 3
LARGE_PADDING = 24_000_000  # bytes after the PNG's end: a large body, a small image
OVERALL_TIMEOUT_S = 180
HEALTH_LIMIT_S = 1.0
MEMORY_SLACK = 200_000_000
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


class HealthWatch:
    """Polls /healthz every 0.1 s in a thread; keeps the slowest answer and failures."""

    def __init__(self, url: str):
        self.url, self.slowest, self.failures = url, 0.0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    status = client.get(self.url).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                self.slowest = max(self.slowest, time.monotonic() - started)
                if status != 200:
                    self.failures.append(status)
                time.sleep(0.1)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)


def _slow_body(data: bytes, seconds: float = 2.0, pieces: int = 20):
    """The body in ``pieces`` chunks spread over ``seconds`` (a slow client)."""
    step = -(-len(data) // pieces)
    for start in range(0, len(data), step):
        time.sleep(seconds / pieces)
        yield data[start:start + step]


@pytest.mark.slow
def test_load_small_large_and_slow_requests(live_server):
    server = live_server(
        {
            "XRAYDEBLUR_MAX_CONCURRENT": "2",
            "XRAYDEBLUR_QUEUE_TIMEOUT": "3",
            "XRAYDEBLUR_TEST_DELAY": "0.2",
            "XRAYDEBLUR_MAX_UPLOAD_MB": "30",
            "XRAYDEBLUR_UPLOAD_BUDGET_MB": "60",
        }
    )
    small = small_png()
    large = small + bytes(LARGE_PADDING)  # decoders stop at the PNG's end
    url = f"{server.url}/api/v1/deblur"
    params = {"method": SLOW_TEST_METHOD}
    headers = {"Content-Type": "image/png"}

    with httpx.Client(timeout=60) as client:  # warm up: methods loaded, one of each size served
        assert client.post(url, params=params, content=small, headers=headers).status_code == 200
        assert client.post(url, params=params, content=large, headers=headers).status_code == 200
    time.sleep(1.0)
    idle = _rss(server.process.pid)

    def post(body):
        with httpx.Client(timeout=120) as client:
            return client.post(url, params=params, content=body, headers=headers)

    def slow():
        with httpx.Client(timeout=120) as client:
            return client.post(url, params=params, content=_slow_body(small), headers={**headers, "Content-Length": str(len(small))})

    started = time.monotonic()
    with HealthWatch(f"{server.url}/healthz") as health:
        with ThreadPoolExecutor(max_workers=N_SMALL + N_LARGE + 1) as pool:
            futures = [pool.submit(slow)]
            futures += [pool.submit(post, large) for _ in range(N_LARGE)]
            futures += [pool.submit(post, small) for _ in range(N_SMALL)]
            done, pending = wait(futures, timeout=OVERALL_TIMEOUT_S)
            assert not pending, f"{len(pending)} requests still running after {OVERALL_TIMEOUT_S} s"
            responses = [f.result() for f in futures]
    elapsed = time.monotonic() - started

    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= 2, statuses
    for r in responses:
        assert r.headers["cache-control"] == "no-store"
        if r.status_code == 200:
            assert r.headers["content-type"] == "image/png"
            assert np.asarray(Image.open(io.BytesIO(r.content))).shape == (SIDE, SIDE)
        else:
            detail = r.json()["detail"]
            assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in r.text
            assert int(r.headers["retry-after"]) >= 1
    assert health.slowest < HEALTH_LIMIT_S and not health.failures, (health.slowest, health.failures)

    deadline = time.monotonic() + 10
    while _rss(server.process.pid) > idle + MEMORY_SLACK and time.monotonic() < deadline:
        time.sleep(0.25)
    after = _rss(server.process.pid)
    print(f"\n{len(responses)} requests in {elapsed:.1f} s: {statuses.count(200)} x 200, {statuses.count(503)} x 503; "
          f"slowest /healthz {health.slowest * 1000:.0f} ms; server RSS idle {idle / 1e6:.0f} MB, after {after / 1e6:.0f} MB")
    assert after <= idle + MEMORY_SLACK, f"server RSS {after / 1e6:.0f} MB, idle was {idle / 1e6:.0f} MB"

    # an upload over the byte cap is refused (413, or the connection is closed early)
    try:
        with httpx.Client(timeout=30) as client:
            big = client.post(url, content=b"\0" * 31_000_000, headers={"Content-Type": "application/octet-stream"})
        assert big.status_code == 413 and "limit" in big.json()["detail"]
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        pass

    health_now = httpx.get(f"{server.url}/healthz", timeout=10).json()
    assert health_now["inference"] == {"running": 0, "waiting": 0, "limit": 2}
    assert health_now["uploads"]["bytes_held"] == 0
    assert server.process.poll() is None
    assert list(server.tmpdir.iterdir()) == [], "the server wrote to its temp dir"
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log, log[-2000:]

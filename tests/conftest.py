"""Shared test helpers: shared data files, a fast test method, a live server."""

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

TESTS_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = TESTS_DIR.parent

#: fast deterministic method registered by tests (never the default: lowest rank)
TEST_METHOD = "test-identity-sharpen"
#: the same with a fixed delay, to fill the inference queue
SLOW_TEST_METHOD = "test-slow"
#: the kernel-aware data step alone (on the input as its estimate) when a kernel is given
DATA_STEP_TEST_METHOD = "test-data-step"


def shared_data_file(relative: str) -> Path:
    """A file below the shared data root (``../shared/data`` or ``$XRAYDEBLUR_DATA``).

    Missing data skips the test, or fails it when ``XRAYDEBLUR_REQUIRE_DATA=1``.
    """
    from xraydeblur.data.manifest import data_root

    path = data_root() / relative
    if path.is_file():
        return path
    reason = f"shared data file {path} is missing (set XRAYDEBLUR_DATA to the shared data folder)"
    if os.environ.get("XRAYDEBLUR_REQUIRE_DATA") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def motion_blurred_scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(sharp, blurred, kernel)``: :func:`xraydeblur.data.synthetic.power_law_scene` under straight motion of
    9 px at 30 degrees, noise-free (what ``nafnet-psf`` identifies and trusts)."""
    from xraydeblur.data.synthetic import power_law_scene
    from xraydeblur.degrade import Degradation

    sharp = power_law_scene()
    blurred, kernel = Degradation("motion", {"length": 9.0, "angle": 30.0}).apply(sharp)
    return sharp, blurred.astype(np.float32), kernel


def _sharpen(image: np.ndarray, kernel=None) -> np.ndarray:
    """Unsharp mask: cheap, deterministic, and visibly changes the image."""
    from scipy.ndimage import uniform_filter

    return image + 1.5 * (image - uniform_filter(image, size=5, mode="reflect"))


def _data_step_only(image: np.ndarray, kernel=None) -> np.ndarray:
    """The shipped data step (:func:`xraydeblur.infer.data_step.data_step`) on the input
    itself as the estimate when a kernel is given; the input unchanged otherwise."""
    from xraydeblur.infer.data_step import data_step

    return image if kernel is None else data_step(image, image, kernel)


def register_test_methods(delay: float = 0.5) -> list[str]:
    """Register TEST_METHOD, SLOW_TEST_METHOD (``delay`` seconds each call) and
    DATA_STEP_TEST_METHOD."""
    from xraydeblur.methods import Method, register

    def slow(image, kernel=None):
        time.sleep(delay)
        return _sharpen(image, kernel)

    register(Method(TEST_METHOD, "unsharp mask for tests", "classical", _sharpen, version="test-1", rank=-1000))
    register(Method(SLOW_TEST_METHOD, "slow unsharp mask for tests", "classical", slow, version="test-1", rank=-1001))
    register(Method(DATA_STEP_TEST_METHOD, "data step alone for tests", "classical", _data_step_only, version="test-1", rank=-1002))
    return [TEST_METHOD, SLOW_TEST_METHOD, DATA_STEP_TEST_METHOD]


@pytest.fixture
def test_methods():
    """Register the test methods for one test and remove them afterwards."""
    from xraydeblur import methods

    names = register_test_methods()
    yield names
    for name in names:
        methods._REGISTRY.pop(name, None)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_SERVER_CODE = """
import os, sys
sys.path.insert(0, {tests!r})
import conftest
conftest.register_test_methods(delay=float(os.environ.get("XRAYDEBLUR_TEST_DELAY", "0.5")))
import uvicorn
from xraydeblur.server import create_app
uvicorn.run(create_app(), host="127.0.0.1", port={port}, log_level="warning", access_log=False)
"""


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen
    tmpdir: Path
    log: Path


@pytest.fixture
def live_server(tmp_path):
    """Factory: ``live_server(**env)`` starts the app with uvicorn in a subprocess on a
    free loopback port, with TMPDIR pointing at a fresh empty folder; stopped after the test."""
    import httpx

    servers: list[LiveServer] = []

    def start(env: dict | None = None, timeout: float = 90.0) -> LiveServer:
        port = free_port()
        tmpdir = tmp_path / f"server-tmp-{port}"
        tmpdir.mkdir()
        log = tmp_path / f"server-{port}.log"
        full_env = {**os.environ, "TMPDIR": str(tmpdir), "TEMP": str(tmpdir), "TMP": str(tmpdir), "PYTHONUNBUFFERED": "1"}
        full_env.update({k: str(v) for k, v in (env or {}).items()})
        with open(log, "wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-c", _SERVER_CODE.format(tests=str(TESTS_DIR), port=port)],
                cwd=tmp_path, env=full_env, stdout=sink, stderr=subprocess.STDOUT,
            )
        server = LiveServer(f"http://127.0.0.1:{port}", process, tmpdir, log)
        servers.append(server)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"server exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                if httpx.get(server.url + "/healthz", timeout=2).status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        pytest.fail(f"server did not become healthy in {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")

    yield start
    for server in servers:
        if server.process.poll() is None:
            server.process.terminate()
            try:
                server.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait(timeout=15)

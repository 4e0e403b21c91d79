"""The per-user ONNX cache: a checked export is reused by the next process."""

import numpy as np

from xraydeblur.infer.network import NetworkMethod
from xraydeblur.models.registry import WEIGHTS_DIR


def test_second_start_reuses_the_checked_export_without_building_the_model(tmp_path, monkeypatch):
    monkeypatch.setenv("XRAYDEBLUR_CACHE", str(tmp_path))
    monkeypatch.delenv("XRAYDEBLUR_BACKEND", raising=False)
    image = np.random.default_rng(0).random((48, 48)).astype(np.float32)
    first = NetworkMethod(WEIGHTS_DIR / "srcnn")
    expected = first(image)
    assert first.backend.name == "onnxruntime" and len(list(tmp_path.glob("*.onnx"))) == 1
    second = NetworkMethod(WEIGHTS_DIR / "srcnn")
    assert np.array_equal(second(image), expected)
    assert "model" not in second.__dict__  # served from the cache: the PyTorch model was never built


def test_cache_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("XRAYDEBLUR_CACHE", "off")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    NetworkMethod(WEIGHTS_DIR / "srcnn")(np.zeros((40, 40), np.float32))
    assert not any(tmp_path.rglob("*.onnx"))


def test_a_cached_network_runs_in_a_process_that_never_imports_torch(tmp_path, monkeypatch):
    """Importing PyTorch costs about 2 s of every CLI run; with a cached export on a
    machine without a GPU the deblur must not pay it (issue 28)."""
    import subprocess
    import sys

    from xraydeblur.infer.backends import accelerator_present

    if accelerator_present():
        import pytest

        pytest.skip("a GPU machine asks PyTorch whether CUDA works")
    monkeypatch.setenv("XRAYDEBLUR_CACHE", str(tmp_path))
    NetworkMethod(WEIGHTS_DIR / "srcnn")(np.zeros((40, 40), np.float32))  # fills the cache
    code = (
        "import sys, numpy as np\n"
        "from xraydeblur.methods import get_method\n"
        "get_method('srcnn')(np.random.default_rng(0).random((64, 64)).astype(np.float32))\n"
        "print('torch' in sys.modules)\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("XRAYDEBLUR_BACKEND", "XRAYDEBLUR_DEVICE")}
    env["XRAYDEBLUR_CACHE"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-500:]
    assert out.stdout.strip() == "False"

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

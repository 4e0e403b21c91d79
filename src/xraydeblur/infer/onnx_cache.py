"""A per-user cache of exported ONNX networks, so a fresh CLI process or server does not
re-export (trace) the network and re-check it against PyTorch on every start.

An entry is written only after the export matched PyTorch on the probe tile
(:func:`xraydeblur.infer.backends.choose_backend`), under a key made of the weights'
sha256, the input channels and fixed size, and the torch, onnxruntime and package
versions: new weights or new libraries make a new entry. The folder is
``$XRAYDEBLUR_CACHE`` (``off`` disables the cache), else ``$XDG_CACHE_HOME/xraydeblur``,
else ``~/.cache/xraydeblur``. It holds network graphs only, never images; a folder that
cannot be written is simply not used.
"""

import hashlib
import os
import tempfile
from pathlib import Path


#: the exported inference form of the networks (:mod:`xraydeblur.models.nafnet_fused`);
#: raise it when that form changes, so entries of the former graph are not reused (a
#: constant here: importing the models would import torch)
GRAPH_FORM = 2


def cache_dir() -> Path | None:
    """The cache folder, or None when the cache is off."""
    setting = os.environ.get("XRAYDEBLUR_CACHE", "")
    if setting.lower() == "off":
        return None
    if setting:
        return Path(setting)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "xraydeblur"


def cache_key(weights_sha256: str, in_channels: int, fixed_size: int | None) -> str | None:
    """The entry name for these weights and libraries (None without a weights hash)."""
    if not weights_sha256:
        return None
    from importlib.metadata import version

    from .. import __version__

    # library versions from their metadata: importing torch here would cost the 2 s the
    # cache saves
    text = "|".join([weights_sha256, str(in_channels), str(fixed_size), version("torch"), version("onnxruntime"), __version__, f"form{GRAPH_FORM}"])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def load(key: str | None) -> bytes | None:
    """The cached ONNX bytes of ``key``, or None."""
    folder = cache_dir()
    if key is None or folder is None:
        return None
    try:
        return (folder / f"{key}.onnx").read_bytes()
    except OSError:
        return None


def store(key: str | None, onnx_bytes: bytes) -> None:
    """Write an entry atomically; any failure (read-only home, full disk) is ignored."""
    folder = cache_dir()
    if key is None or folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".part", delete=False) as handle:
            handle.write(onnx_bytes)
        os.replace(handle.name, folder / f"{key}.onnx")
    except OSError:
        return

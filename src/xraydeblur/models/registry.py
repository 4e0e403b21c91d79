"""Shipped weights (``xraydeblur/weights/NAME.safetensors`` + ``NAME.json``) registered
as deblurring methods named ``NAME``.

The JSON holds the architecture, its arguments, the training config, package version,
git commit, data manifest hash, validation metrics and the weights' sha256. ``rank`` in
the JSON orders the default (the flagship has the highest).
"""

import json
from pathlib import Path

from ..methods import Method, register

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def shipped_weights() -> list[Path]:
    """Stems (path without suffix) of every shipped weights file."""
    return sorted(p.with_suffix("") for p in WEIGHTS_DIR.glob("*.safetensors") if p.with_suffix(".json").exists())


def _register_all() -> None:
    from ..infer.network import NetworkMethod

    for stem in shipped_weights():
        meta = json.loads(stem.with_suffix(".json").read_text())
        runner = NetworkMethod(stem)
        kind = "kernel-aware" if meta.get("kernel_aware") else "blind"
        register(
            Method(
                name=stem.name,
                description=meta.get("description", f"{meta['arch']} network ({kind})"),
                kind="network",
                run=runner,
                version=f"{meta.get('package_version', '')}+{meta.get('git_commit', '')[:8]}",
                weights_sha256=meta.get("weights_sha256", ""),
                rank=int(meta.get("rank", 50)),
                extra={"arch": meta["arch"], "kernel_aware": bool(meta.get("kernel_aware")), "metrics": meta.get("metrics", {})},
            )
        )


_register_all()

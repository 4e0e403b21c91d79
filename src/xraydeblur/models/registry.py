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


def shipped_weights(folder: Path = WEIGHTS_DIR) -> list[Path]:
    """Stems (path without suffix) of every weights file in ``folder`` that has its JSON."""
    return sorted(p.with_suffix("") for p in Path(folder).glob("*.safetensors") if p.with_suffix(".json").exists())


def training_data(meta: dict) -> dict:
    """The ``data`` section of a weights file's training config (scheme, held_out...)."""
    return dict((meta.get("config") or {}).get("data") or {})


def register_weights(stem: Path) -> str:
    """Register ``stem.safetensors`` + ``stem.json`` as the method ``stem.name``
    (replacing a method of that name). Returns the name."""
    from ..infer.network import NetworkMethod

    meta = json.loads(stem.with_suffix(".json").read_text())
    kind = "kernel-aware" if meta.get("kernel_aware") else "blind"
    register(
        Method(
            name=stem.name,
            description=meta.get("description", f"{meta['arch']} network ({kind})"),
            kind="network",
            run=NetworkMethod(stem),
            version=f"{meta.get('package_version', '')}+{meta.get('git_commit', '')[:8]}",
            weights_sha256=meta.get("weights_sha256", ""),
            rank=int(meta.get("rank", 50)),
            extra={"arch": meta["arch"], "kernel_aware": bool(meta.get("kernel_aware")), "metrics": meta.get("metrics", {}), "training_data": training_data(meta)},
        )
    )
    return stem.name


def register_weights_dir(folder: str | Path) -> list[str]:
    """Register every weights file in ``folder`` under its own name, replacing shipped
    methods of the same name (e.g. the same recipes trained with a source held out)."""
    from ..methods import available_methods

    available_methods()  # load the shipped ones first, so these replace them
    stems = shipped_weights(Path(folder))
    if not stems:
        raise FileNotFoundError(f"no weights (NAME.safetensors + NAME.json) in {folder}")
    return [register_weights(stem) for stem in stems]


for _stem in shipped_weights():
    register_weights(_stem)

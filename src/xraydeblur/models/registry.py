"""Shipped weights (``xraydeblur/weights/NAME.safetensors`` + ``NAME.json``) registered
as deblurring methods named ``NAME``.

The JSON holds the architecture, its arguments, the training config, package version,
git commit, data manifest hash, validation metrics and the weights' sha256. ``rank`` in
the JSON orders the default (the flagship has the highest).

A JSON without its own weights file but with a ``network`` key (``NAME.json``, e.g.
``nafnet-kernel.json``) registers a *kernel-aware variant* of that network: the network
named there (same folder) followed, when the kernel is given, by the data-consistency
step (:mod:`xraydeblur.infer.data_step`). Its JSON holds the description, rank and
the validation metrics of the variant. With ``"identify_psf": true`` (``nafnet-psf.json``)
the variant is blind: given no kernel it identifies one from the image
(:mod:`xraydeblur.infer.identify`) and runs the data step with it when the
identification is trusted; ``"identify_psf": "learned"`` (``nafnet-auto.json``) does the
same with the learned PSF estimator (:mod:`xraydeblur.infer.learned_psf`) and its
confidence rule. ``"gains"``: ``"identified"`` (default for an identifying variant: the
data step's :data:`~xraydeblur.infer.data_step.IDENTIFIED_GAINS`) or ``"known"`` (the
gains of a known kernel, :data:`~xraydeblur.infer.data_step.GAINS`); ``"step": "learned"``
gives an identifying variant the learned data step (at any noise level) instead of those
gains and Morozov's rule (a known kernel always gets it).
"""

import json
from pathlib import Path

from ..methods import Method, register

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def shipped_weights(folder: Path = WEIGHTS_DIR) -> list[Path]:
    """Stems (path without suffix) of every weights file in ``folder`` that has its JSON."""
    return sorted(p.with_suffix("") for p in Path(folder).glob("*.safetensors") if p.with_suffix(".json").exists())


def shipped_variants(folder: Path = WEIGHTS_DIR) -> list[Path]:
    """Stems of every ``NAME.json`` in ``folder`` that names a ``network`` instead of
    having its own weights file."""
    stems = []
    for path in sorted(Path(folder).glob("*.json")):
        if path.with_suffix(".safetensors").exists():
            continue
        try:
            if "network" in json.loads(path.read_text()):
                stems.append(path.with_suffix(""))
        except (OSError, ValueError):
            continue
    return stems


def training_data(meta: dict) -> dict:
    """The ``data`` section of a weights file's training config (scheme, held_out...)."""
    return dict((meta.get("config") or {}).get("data") or {})


def _register_network(name: str, run, meta: dict, description: str, rank: int, kernel_aware: bool, identifies_psf: bool = False, psf_estimator: str = "spectral", **extra) -> str:
    """Register a network method ``name`` running ``run``, described by its weights'
    metadata ``meta`` (version, sha256, arch, training data). Returns the name."""
    register(
        Method(
            name=name,
            description=description,
            kind="network",
            run=run,
            version=f"{meta.get('package_version', '')}+{meta.get('git_commit', '')[:8]}",
            weights_sha256=meta.get("weights_sha256", ""),
            rank=rank,
            identifies_psf=identifies_psf,
            psf_estimator=psf_estimator,
            extra={"arch": meta["arch"], "kernel_aware": kernel_aware, **extra, "training_data": training_data(meta)},
        )
    )
    return name


def register_weights(stem: Path) -> str:
    """Register ``stem.safetensors`` + ``stem.json`` as the method ``stem.name``
    (replacing a method of that name). Returns the name."""
    from ..infer.network import NetworkMethod

    meta = json.loads(stem.with_suffix(".json").read_text())
    kind = "kernel-aware" if meta.get("kernel_aware") else "blind"
    description = meta.get("description", f"{meta['arch']} network ({kind})")
    return _register_network(
        stem.name, NetworkMethod(stem), meta, description, int(meta.get("rank", 50)), bool(meta.get("kernel_aware")), metrics=meta.get("metrics", {})
    )


def register_variant(stem: Path) -> str:
    """Register the kernel-aware variant described by ``stem.json`` (its ``network``:
    a weights stem in the same folder, run with the data step when a kernel is given)
    as the method ``stem.name``. Returns the name ("" when it needs the learned PSF
    estimator and that is not shipped)."""
    from ..infer.network import NetworkMethod

    variant = json.loads(stem.with_suffix(".json").read_text())
    parts = {}  # where the variant's learned parts come from, when not the shipped ones
    if variant.get("identify_psf") == "learned":
        from ..infer.learned_psf import ESTIMATOR_DIR, ESTIMATOR_NAME

        # a weights folder of its own (retrained with a source held out) holds its own estimator in psf/
        folder = ESTIMATOR_DIR if stem.parent.resolve() == WEIGHTS_DIR.resolve() else stem.parent / "psf"
        if not (folder / f"{ESTIMATOR_NAME}.onnx").exists():
            return ""  # the learned estimator is not shipped (yet): no such method
        if folder != ESTIMATOR_DIR:
            parts["psf_estimator_dir"] = str(folder)
    network = stem.parent / variant["network"]
    meta = json.loads(network.with_suffix(".json").read_text())
    description = variant.get("description", f"{network.name} + data-consistency step (kernel-aware)")
    identify = variant.get("identify_psf") or False
    identifies = bool(identify)
    step_stem = None
    learned = not identifies or variant.get("step") == "learned"
    if learned:
        from ..infer.learned_step import STEP_STEM

        # the folder's own learned step in step/ (the shipped folder's is STEP_STEM), else the
        # shipped one; the evaluation refuses that where it may have seen the test patients
        own = stem.parent / "step" / STEP_STEM.name
        step_stem = own if own.with_suffix(".safetensors").exists() else STEP_STEM
        parts["learned_step"] = str(step_stem)
    return _register_network(
        stem.name,
        NetworkMethod(
            network, kernel_aware=True, identified_gains=identifies and not learned and variant.get("gains", "identified") == "identified",
            learned_step=learned,
            step_stem=step_stem,
        ),
        meta,
        description,
        int(variant.get("rank", 50)),
        not identifies,  # an identifying variant is scored and offered as blind
        identifies_psf=identifies,
        psf_estimator="learned" if identify == "learned" else "spectral",
        network=network.name,
        metrics=variant.get("metrics", {}),
        **parts,
    )


def register_weights_dir(folder: str | Path) -> list[str]:
    """Register every weights file in ``folder`` under its own name, replacing shipped
    methods of the same name (e.g. the same recipes trained with a source held out)."""
    from ..methods import available_methods

    available_methods()  # load the shipped ones first, so these replace them
    stems = shipped_weights(Path(folder))
    if not stems:
        raise FileNotFoundError(f"no weights (NAME.safetensors + NAME.json) in {folder}")
    variants = [register_variant(stem) for stem in shipped_variants(Path(folder))]
    return [register_weights(stem) for stem in stems] + [name for name in variants if name]


for _stem in shipped_weights():
    register_weights(_stem)
for _stem in shipped_variants():
    register_variant(_stem)

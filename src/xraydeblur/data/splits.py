"""Deterministic patient-level splits (no patient in two parts).

A patient's part depends only on a hash of its id and the seed, so adding or removing
other images never moves a patient between parts.
"""

import hashlib

from .manifest import ManifestRow, load_manifest

#: sources with training radiographs (the DICOM files are kept for I/O tests and demos)
SOURCES = ("kermany", "nih", "mhh")


def _unit_hash(patient_id: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{patient_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def patient_split(rows: list[ManifestRow], test_fraction: float = 0.2, val_fraction: float = 0.1, seed: int = 0) -> dict[str, list[ManifestRow]]:
    """Split rows into ``train`` / ``val`` / ``test`` by patient.

    ``test_fraction`` of patients go to test (the paper's 4:1 split); ``val_fraction``
    of the remaining (train) patients form the validation part. Returns lists in
    manifest order.
    """
    parts: dict[str, list[ManifestRow]] = {"train": [], "val": [], "test": []}
    for row in rows:
        u = _unit_hash(row.patient_id, seed)
        if u < test_fraction:
            parts["test"].append(row)
        elif u < test_fraction + val_fraction * (1 - test_fraction):
            parts["val"].append(row)
        else:
            parts["train"].append(row)
    return parts


def source_split(rows: list[ManifestRow], held_out: str = "mhh", val_fraction: float = 0.1, seed: int = 0) -> dict[str, list[ManifestRow]]:
    """Train/val on every source but ``held_out`` (by patient); test = all of ``held_out``."""
    if held_out not in SOURCES:
        raise ValueError(f"unknown source {held_out!r}; choose from {SOURCES}")
    seen = [r for r in rows if r.source != held_out]
    inner = patient_split(seen, test_fraction=0.0, val_fraction=val_fraction, seed=seed)
    return {"train": inner["train"], "val": inner["val"], "test": [r for r in rows if r.source == held_out]}


def split_rows(part: str, scheme: str = "patient", held_out: str = "mhh", seed: int = 0) -> list[ManifestRow]:
    """Rows of one part (``train``/``val``/``test``) of the radiograph sources.

    ``scheme`` is ``"patient"`` (4:1 patient split over all sources) or ``"source"``
    (``held_out`` source never seen in training).
    """
    rows = [r for r in load_manifest() if r.source in SOURCES]
    parts = patient_split(rows, seed=seed) if scheme == "patient" else source_split(rows, held_out, seed=seed)
    return parts[part]

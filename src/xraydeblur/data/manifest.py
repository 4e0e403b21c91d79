"""The shared data manifest: where the radiographs are and who they belong to."""

import csv
import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np


class DataMissingError(FileNotFoundError):
    """The shared radiographs are not where they should be."""


@dataclass(frozen=True)
class ManifestRow:
    """One file of ``manifest.csv``: ``file`` is relative to the data root."""

    file: str
    source: str  # short source key: "kermany", "nih", "mhh" or "dicom"
    patient_id: str
    width: int
    height: int
    sha256: str
    license: str

    @property
    def image_id(self) -> str:
        return self.file


def data_root() -> Path:
    """``$XRAYDEBLUR_DATA`` if set, else ``../shared/data`` beside the project root
    (then beside the current directory)."""
    env = os.environ.get("XRAYDEBLUR_DATA")
    if env:
        return Path(env)
    project = Path(__file__).resolve().parents[3]
    for base in (project, Path.cwd()):
        candidate = base.parent / "shared" / "data"
        if (candidate / "manifest.csv").exists():
            return candidate
    return project.parent / "shared" / "data"


def _source_key(file: str) -> str:
    parts = file.split("/")
    return parts[1] if parts[0] == "cxr" and len(parts) > 2 else parts[0]


def manifest_path(root: Path | None = None) -> Path:
    path = (root or data_root()) / "manifest.csv"
    if not path.exists():
        raise DataMissingError(f"no manifest at {path}: set XRAYDEBLUR_DATA to the shared data folder")
    return path


@lru_cache(maxsize=4)
def _load(path: str) -> tuple[ManifestRow, ...]:
    rows = []
    with open(path, newline="") as handle:
        for rec in csv.DictReader(handle):
            rows.append(
                ManifestRow(
                    file=rec["file"],
                    source=_source_key(rec["file"]),
                    patient_id=rec["patient_id"],
                    width=int(rec["width"] or 0),
                    height=int(rec["height"] or 0),
                    sha256=rec["sha256"],
                    license=rec["license"],
                )
            )
    return tuple(rows)


def load_manifest(root: Path | None = None) -> list[ManifestRow]:
    """All rows of the manifest, in file order."""
    return list(_load(str(manifest_path(root))))


def manifest_sha256(root: Path | None = None) -> str:
    """sha256 of ``manifest.csv``: names the exact data a model was trained on."""
    return hashlib.sha256(manifest_path(root).read_bytes()).hexdigest()


def load_image(row: ManifestRow, root: Path | None = None) -> np.ndarray:
    """The row's radiograph as float32 (H, W) in [0, 1] at native resolution."""
    from ..io import read_radiograph

    return read_radiograph((root or data_root()) / row.file).pixels

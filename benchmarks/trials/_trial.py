"""Shared by the validation trial scripts: per-row means of scored samples and the
trial JSON (command, split, table, samples)."""

import json
import sys

import numpy as np


def row_means(samples: list[dict], columns: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """``{family: {column: mean PSNR}}`` over ``samples`` (each with ``family`` and a
    ``psnr`` dict holding every column), rows in the order first seen."""
    table = {}
    for family in dict.fromkeys(s["family"] for s in samples):
        rows = [s for s in samples if s["family"] == family]
        table[family] = {c: float(np.mean([s["psnr"][c] for s in rows])) for c in columns}
    return table


def write_trial(path: str | None, script: str, table: dict, samples: list[dict]) -> None:
    """Write the trial's JSON to ``path`` (nothing when None); ``script`` is the path the
    command line names, e.g. ``benchmarks/trials/blind_psf_trial.py``."""
    if path:
        with open(path, "w") as fh:
            json.dump({"command": f"python {script} " + " ".join(sys.argv[1:]), "split": "val", "table": table, "samples": samples}, fh, indent=1)

"""Make a patient subset of the data folder small enough to travel to a lent GPU machine.

A machine reached through a copy of the working tree (64 MiB in all) cannot take the
whole training split (about 160 MB). This picks whole patients of the ``train`` and
``val`` parts of one split scheme by a hash of their id (seed 11, independent of the
split's own hash, so every source keeps its share), links (or, across file systems,
copies) their files into ``--dest`` **outside the repository**, and writes a
``manifest.csv`` with their rows only. Because a patient's part depends only on its own
id (:mod:`xraydeblur.data.splits`), the subset's parts are subsets of that scheme's full
ones: none of its test patients is ever taken. Point ``XRAYDEBLUR_DATA`` at ``--dest``.

    python scripts/gpu_data_subset.py --dest /tmp/xraydeblur-gpu-data --max-mb 46
    python scripts/gpu_data_subset.py --dest /tmp/xraydeblur-gpu-data-2 --max-mb 46 --after-mb 46  # the next patients
    python scripts/gpu_data_subset.py --scheme source --held-out mhh --dest /tmp/xraydeblur-gpu-data-unseen
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from xraydeblur.data.manifest import data_root, manifest_path  # noqa: E402
from xraydeblur.data.splits import split_rows  # noqa: E402


def _unit(patient_id: str) -> float:
    return int.from_bytes(hashlib.sha256(f"subset-11:{patient_id}".encode()).digest()[:8], "big") / 2**64


def choose(max_bytes: int, root: Path, scheme: str = "patient", held_out: str = "mhh", skip: tuple[str, ...] = ()) -> list[str]:
    """Files of the scheme's train and val patients, taken in order of their patient's
    subset hash until ``max_bytes`` would be passed (whole patients only); files in
    ``skip`` (an earlier subset: a later run sees other patients) are never taken."""
    rows = split_rows("train", scheme, held_out) + split_rows("val", scheme, held_out)
    by_patient: dict[str, list[str]] = {}
    for row in rows:
        by_patient.setdefault(row.patient_id, []).append(row.file)
    chosen, total = [], 0
    for patient in sorted(by_patient, key=_unit):
        if set(by_patient[patient]) & set(skip):
            continue
        size = sum((root / f).stat().st_size for f in by_patient[patient])
        if total + size > max_bytes:
            continue
        chosen += by_patient[patient]
        total += size
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", required=True, help="a folder outside the repository")
    parser.add_argument("--max-mb", type=float, default=46.0)
    parser.add_argument("--scheme", choices=("patient", "source"), default="patient")
    parser.add_argument("--held-out", default="mhh")
    parser.add_argument("--after-mb", type=float, default=0.0, help="leave out the patients a subset of this size takes (the earlier run's), take the next ones")
    args = parser.parse_args()
    root, dest = data_root(), Path(args.dest).resolve()
    if ROOT in dest.parents or dest == ROOT:
        sys.exit("--dest must lie outside the repository: the data is never copied into it")
    earlier = tuple(choose(int(args.after_mb * 1e6), root, args.scheme, args.held_out)) if args.after_mb else ()
    files = set(choose(int(args.max_mb * 1e6), root, args.scheme, args.held_out, skip=earlier))
    if dest.exists():
        shutil.rmtree(dest)
    with open(manifest_path(root), newline="") as handle:
        reader = csv.DictReader(handle)
        kept = [rec for rec in reader if rec["file"] in files]
        fields = reader.fieldnames
    for rec in kept:
        target = dest / rec["file"]
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(root / rec["file"], target)
        except OSError:
            shutil.copy2(root / rec["file"], target)
    with open(dest / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(kept)
    size = sum((dest / r["file"]).stat().st_size for r in kept)
    parts = {p: sum(r.file in files for r in split_rows(p, args.scheme, args.held_out)) for p in ("train", "val", "test")}
    print(f"{len(kept)} files, {size / 1e6:.1f} MB in {dest}; of the {args.scheme} split: {parts}")


if __name__ == "__main__":
    main()

"""The lent-GPU training script (scripts/train_on_gpu.sh) and the data subset that
travels with it (scripts/gpu_data_subset.py), rehearsed on the CPU at toy size."""

import csv
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from shared_data import require_data

ROOT = Path(__file__).resolve().parents[1]


def _subset(dest: Path, max_mb: float, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts/gpu_data_subset.py"), "--dest", str(dest), "--max-mb", str(max_mb), *extra], capture_output=True, text=True, timeout=120)


def _rehearsal(tmp_path: Path, config_name: str) -> dict:
    """Environment for a toy-size run of scripts/train_on_gpu.sh: a small data subset and
    ``configs/gpu/<config_name>`` shrunk to a few seconds of one worker (from the shipped
    flagship's weights)."""
    require_data()
    assert _subset(tmp_path / "subset", 4).returncode == 0
    config = tmp_path / "rehearsal.yaml"
    config.write_text(
        f"base: {ROOT / 'configs/gpu' / config_name}\ninit_weights: {ROOT / 'src/xraydeblur/weights/nafnet-blind'}\n"
        "workers: 1\nbatch_size: 2\ndata: {samples_per_epoch: 8, val_samples: 2, val_patch: 64}\n"
        "schedule: {warmup_steps: 1, min_lr: 1.0e-6, seconds: 3}\n"
    )
    return {**os.environ, "PYTHON": sys.executable, "XRAYDEBLUR_DATA": str(tmp_path / "subset"), "NAFNET_CONFIG": str(config)}


def test_the_subset_takes_whole_training_and_validation_patients_and_never_a_test_image(tmp_path):
    require_data()
    from xraydeblur.data.splits import split_rows

    done = _subset(tmp_path / "subset", 6)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader((tmp_path / "subset" / "manifest.csv").open()))
    files = {r["file"] for r in rows}
    assert files and sum((tmp_path / "subset" / f).stat().st_size for f in files) <= 6e6
    assert not files & {r.file for r in split_rows("test", "patient")}
    taken = {r["patient_id"] for r in rows}
    for part in ("train", "val"):  # every image of a patient taken, in either part
        assert all(r.file in files for r in split_rows(part, "patient") if r.patient_id in taken)
    source = _subset(tmp_path / "unseen", 4, "--scheme", "source", "--held-out", "mhh")
    assert source.returncode == 0 and "mhh" not in (tmp_path / "unseen" / "manifest.csv").read_text()
    later = _subset(tmp_path / "later", 6, "--after-mb", "6")  # the next patients, none of the first subset's
    assert later.returncode == 0, later.stderr
    later_files = {r["file"] for r in csv.DictReader((tmp_path / "later" / "manifest.csv").open())}
    assert later_files and not later_files & files
    inside = _subset(ROOT / "runs" / "subset-in-repo", 1)
    assert inside.returncode != 0 and "outside the repository" in inside.stderr


@pytest.mark.timeout(300)
def test_the_gpu_script_trains_both_networks_and_packs_their_weights(tmp_path):
    """The device command at toy size: a few seconds of the NAFNet run and a few PSF
    estimator steps, from the shipped weights, on a small subset; what comes back is
    one archive with both runs' best weights and logs."""
    env = _rehearsal(tmp_path, "nafnet_blind_gpu.yaml")
    env = {**env, "PSF_PROCS": "1", "PSF_STEPS": "2", "PSF_MINUTES": "0.2", "PSF_VAL_EVERY": "2", "PSF_EXTRA": "--val-samples 8 --batch 4 --crops-per-image 1"}
    done = subprocess.run(["bash", str(ROOT / "scripts/train_on_gpu.sh"), str(tmp_path / "out")], env=env, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nafnet exit 0" in done.stdout and "psf exit 0" in done.stdout, done.stdout
    with tarfile.open(tmp_path / "out" / "gpu-run.tar.gz") as archive:
        names = set(archive.getnames())
    for name in ("./nafnet-blind/best.safetensors", "./nafnet-blind/log.csv", "./psf/best.pt", "./psf/summary.json"):
        assert name in names, sorted(names)
    assert not any(n.endswith("last.pt") for n in names)  # resumable state stays behind: weights only


@pytest.mark.timeout(200)
def test_the_gpu_script_trains_the_larger_network_from_the_flagship(tmp_path):
    """``train_on_gpu.sh OUT large`` at toy size: the deepened flagship (nafnet-large)
    trains from the shipped flagship's weights and its best weights come back."""
    env = _rehearsal(tmp_path, "nafnet_large_gpu.yaml")
    done = subprocess.run(["bash", str(ROOT / "scripts/train_on_gpu.sh"), str(tmp_path / "out"), "large"], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and "nafnet-large exit 0" in done.stdout, done.stdout + done.stderr
    with tarfile.open(tmp_path / "out" / "gpu-run.tar.gz") as archive:
        names = set(archive.getnames())
    assert {"./nafnet-large/best.safetensors", "./nafnet-large/best.json", "./nafnet-large/log.csv"} <= names, sorted(names)

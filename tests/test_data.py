"""Data: patient-level split, source split, determinism, pairs, benchmark set."""

import numpy as np

from shared_data import require_data
from xraydeblur.data import (
    BENCHMARK_DEGRADATIONS,
    PaperPairs,
    PatchPairs,
    REALISTIC_PRESET,
    SOURCES,
    benchmark_cases,
    load_manifest,
    manifest_sha256,
    patient_split,
    source_split,
)


def _rows():
    require_data()
    return [r for r in load_manifest() if r.source in SOURCES]


def test_patient_split_is_disjoint_deterministic_and_4_to_1():
    rows = _rows()
    parts = patient_split(rows)
    patients = {k: {r.patient_id for r in v} for k, v in parts.items()}
    assert not patients["train"] & patients["test"] and not patients["train"] & patients["val"] and not patients["val"] & patients["test"]
    assert sum(len(v) for v in parts.values()) == len(rows)
    test_share = len(parts["test"]) / len(rows)
    assert 0.15 < test_share < 0.25
    again = patient_split(list(reversed(rows)))
    assert {r.file for r in again["test"]} == {r.file for r in parts["test"]}
    assert len(manifest_sha256()) == 64


def test_source_split_holds_out_a_source():
    parts = source_split(_rows(), held_out="nih")
    assert {r.source for r in parts["test"]} == {"nih"}
    assert "nih" not in {r.source for r in parts["train"] + parts["val"]}


def test_pairs_and_benchmark_cases_are_seeded():
    rows = patient_split(_rows())["val"][:3]
    pairs = PatchPairs(rows, 64, REALISTIC_PRESET, length=4, seed=1)
    a, b = pairs.pair(2), pairs.pair(2)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert a[0].shape == a[1].shape == (64, 64) and abs(a[2].sum() - 1) < 1e-5
    paper = PaperPairs(rows, fixed=True)
    blurred, sharp, _ = paper.pair(0)
    assert blurred.shape == sharp.shape == (224, 224) and 0.5 <= paper.sigma(0) <= 3
    cases = benchmark_cases(rows[:1], crop=128)
    assert len(cases) == len(BENCHMARK_DEGRADATIONS) == 14
    families = {c.family for c in cases}
    assert {"gaussian-sigma1", "gaussian-sigma3+noise", "motion-length15", "disk-radius2+noise"} <= families
    s1, d1, k1 = cases[5].load()
    s2, d2, k2 = benchmark_cases(rows[:1], crop=128)[5].load()
    np.testing.assert_array_equal(d1, d2)
    assert s1.shape == d1.shape == (128, 128)

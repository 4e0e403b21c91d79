"""The given-PSF check: a blur the input does not show fails the safeguard, a true one
does not (real DICOMs from the shared data, whole or as a 512 px crop)."""

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import DATA_STEP_TEST_METHOD, PROJECT_ROOT, shared_data_file
from xraydeblur.classical.given_psf import MAX_FIT_RATIO, given_psf_check
from xraydeblur.degrade import blur, gaussian_kernel, make_kernel, quantize
from xraydeblur.io import read_radiograph

#: unblurred shared DICOMs (the no-blur rule keeps them unchanged)
UNBLURRED = ("dicom/966_fixed.dcm", "dicom/RG1_JLSN.dcm", "dicom/CR-MONO1-10-chest.dcm")
CLAIMS = {"gaussian sigma 2": gaussian_kernel(2.0), "motion 9 px at 20 deg": make_kernel("motion", length=9, angle=20.0)}


def _pixels(relative: str) -> np.ndarray:
    return read_radiograph(shared_data_file(relative)).pixels


@pytest.mark.parametrize("relative", UNBLURRED)
def test_a_blur_the_radiograph_does_not_show_is_contradicted_and_the_true_one_is_not(relative):
    pixels = _pixels(relative)
    for name, kernel in CLAIMS.items():
        absent = given_psf_check(pixels, kernel)
        assert absent["contradicted"] and absent["ratio"] > MAX_FIT_RATIO, (name, absent)
        present = given_psf_check(quantize(blur(pixels, kernel), 12), kernel)
        assert present["contradicted"] is False and present["ratio"] < 1.0, (name, present)


def test_a_psf_too_wide_to_check_is_said_not_checked():
    found = given_psf_check(np.zeros((100, 100), np.float32), gaussian_kernel(12.0))
    assert found["contradicted"] is None and found["reason"].startswith("not checked")


def test_a_given_blur_the_input_does_not_show_fails_the_safeguard(test_methods):
    """The reported case: an unblurred noisy DICOM restored with --sigma 2 re-blurs back to
    the input (the residual test passes) yet holds amplified noise; the check fails it,
    and the same crop truly blurred passes."""
    from xraydeblur.batch import SAFEGUARD_FAILED, safeguard_note
    from xraydeblur.methods import get_method
    from xraydeblur.pipeline import restore

    crop = _pixels("dicom/966_fixed.dcm")[800:1312, 700:1212]
    kernel = gaussian_kernel(2.0)
    method = get_method(DATA_STEP_TEST_METHOD)
    absent = restore(crop, method, kernel=kernel)
    report = absent.facts["safeguard"]
    assert absent.facts["given_psf_check"]["contradicted"]
    assert report["consistent"] is False and report["given_psf_contradicted"]
    assert "not in the input" in report["explanation"]
    note = safeguard_note(absent.facts)
    assert note.startswith(SAFEGUARD_FAILED) and "blur given is not in the input" in note
    present = restore(quantize(blur(crop, kernel), 12), method, kernel=kernel)
    assert present.facts["given_psf_check"]["contradicted"] is False
    assert "given_psf_contradicted" not in present.facts["safeguard"]
    blind = restore(crop, method, force=True)
    assert "given_psf_check" not in blind.facts


def test_the_shipped_ratio_is_the_one_its_benchmark_measured():
    path = PROJECT_ROOT / "benchmarks/results/given_psf_rule.json"
    measured = json.loads(Path(path).read_text())
    assert measured["max_fit_ratio"] == MAX_FIT_RATIO and measured["split"].startswith("val")
    true = measured["summary"]["true"]["all"]["flagged_percent"][f"{MAX_FIT_RATIO:g}"]
    assert true <= 1.0, "the shipped ratio flags more than 1 % of true PSFs on validation"

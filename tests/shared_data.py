"""Access to ../shared/data for tests: fail in CI (XRAYDEBLUR_REQUIRE_DATA=1), else skip."""

import os

import pytest

from xraydeblur.data import data_root


def require_data():
    """The data root; fails (CI) or skips (elsewhere) with a clear reason when absent."""
    root = data_root()
    if not (root / "manifest.csv").exists():
        reason = f"shared radiographs not found at {root} (set XRAYDEBLUR_DATA)"
        if os.environ.get("XRAYDEBLUR_REQUIRE_DATA") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return root


def dicom_files():
    return sorted((require_data() / "dicom").glob("*.dcm"))

"""Tests of ``xraydeblur deblur`` (and the batch engine behind it).

All tests use tiny images and a fast fake method ("test-sharpen", an unsharp mask)
registered in a fixture, so they run in seconds on a busy CPU and do not depend on the
classical or network methods being built. The subprocess tests get the same fake method
through a ``sitecustomize.py`` on ``PYTHONPATH``.
"""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xraydeblur import methods
from xraydeblur.cli import main
from xraydeblur.io import detect_format, read_radiograph
from xraydeblur.methods import Method

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("XRAYDEBLUR_DATA", ROOT.parent / "shared" / "data"))
SCRIPT = ROOT / ".venv" / "bin" / "xraydeblur"
FAKE = "test-sharpen"
MANIFEST = "xraydeblur-manifest.csv"

FAKE_SOURCE = '''
import numpy as np
from scipy.ndimage import uniform_filter


def sharpen(image):
    """Unsharp mask: fast, deterministic, visibly changes the image."""
    return image + 0.5 * (image - uniform_filter(image, size=3, mode="reflect"))
'''
_namespace: dict = {}
exec(FAKE_SOURCE, _namespace)
sharpen = _namespace["sharpen"]

SITECUSTOMIZE = FAKE_SOURCE + f'''

from xraydeblur.methods import Method, register

register(Method(name={FAKE!r}, description="unsharp mask (tests)", kind="classical", run=lambda img, k: sharpen(img), version="t1", rank=10**6))
'''


@pytest.fixture(autouse=True)
def fake_method():
    """Register the fake method (default: highest rank); yields its call log (kernel is None?)."""
    calls: list[bool] = []

    def run(image, kernel):
        calls.append(kernel is None)
        return sharpen(image)

    methods.register(Method(name=FAKE, description="unsharp mask (tests)", kind="classical", run=run, version="t1", weights_sha256="ab" * 32, rank=10**6))
    yield calls
    methods._REGISTRY.pop(FAKE, None)


def _image(h=32, w=40, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = 0.2 + 0.5 * (x / w) + 0.2 * ((x // 8 + y // 8) % 2) + 0.02 * rng.standard_normal((h, w))
    return np.clip(img, 0, 1)


def _save(path: Path, bits=8, fmt=None, seed=0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = _image(seed=seed)
    if bits == 8:
        Image.fromarray(np.rint(img * 255).astype(np.uint8), mode="L").save(path, format=fmt)
    else:
        Image.fromarray(np.rint(img * 65535).astype(np.uint16)).save(path, format=fmt)  # mode I;16
    return path


def _manifest(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".") or p.name.endswith(".part")]


def _deblur(*args) -> int:
    """``xraydeblur deblur ARGS --force``: these tests check the plumbing on small
    synthetic images, which the no-blur rule would return unchanged (tests/test_pipeline.py
    tests the rule)."""
    return main(["deblur", *map(str, args), "--force"])


# --------------------------------------------------------------------------- single files


def test_png_8bit_single_file(tmp_path, capsys, fake_method):
    src = _save(tmp_path / "in.png")
    out = tmp_path / "res" / "out.png"
    assert _deblur(src, "-o", out, "--method", FAKE) == 0
    rad = read_radiograph(out)
    assert rad.format == "png" and rad.bits_stored == 8 and rad.pixels.shape == (32, 40)
    assert not np.array_equal(rad.pixels, read_radiograph(src).pixels)
    assert fake_method == [True]  # blind by default
    assert "1 done, 0 skipped, 0 failed" in capsys.readouterr().out
    assert not (tmp_path / "res" / MANIFEST).exists()  # a single output file has no default manifest
    assert _leftovers(tmp_path / "res") == []


def test_png_16bit_stays_16bit_and_default_method(tmp_path):
    src = _save(tmp_path / "in16.png", bits=16)
    assert _deblur(src, "-o", tmp_path / "out", "--quiet") == 0  # no --method: the default (highest rank)
    out = tmp_path / "out" / "in16.png"
    with Image.open(out) as img:
        assert img.mode.startswith("I")
    rad = read_radiograph(out)
    assert rad.bits_stored == 16
    row = _manifest(tmp_path / "out" / MANIFEST)[0]
    assert row["status"] == "ok" and row["method"] == FAKE


@pytest.mark.parametrize("name,fmt,kind", [("scan.tif", "TIFF", "tiff"), ("scan.jpg", "JPEG", "jpeg")])
def test_tiff_and_jpeg_keep_their_format(tmp_path, name, fmt, kind):
    src = _save(tmp_path / name, bits=16 if kind == "tiff" else 8, fmt=fmt)
    assert _deblur(src, "-o", tmp_path / "out", "--method", FAKE, "-q") == 0
    out = tmp_path / "out" / name
    assert detect_format(out.read_bytes()[:256]) == kind
    assert read_radiograph(out).bits_stored == (16 if kind == "tiff" else 8)


def test_format_option_converts(tmp_path):
    src = _save(tmp_path / "a.tif", bits=16, fmt="TIFF")
    assert _deblur(src, "-o", tmp_path / "out", "--method", FAKE, "--format", "png", "-q") == 0
    out = tmp_path / "out" / "a.png"
    assert detect_format(out.read_bytes()[:256]) == "png" and read_radiograph(out).bits_stored == 16


# --------------------------------------------------------------------------- folders


def test_folder_tree_is_mirrored(tmp_path, capsys):
    tree = tmp_path / "scans"
    _save(tree / "a.png")
    _save(tree / "sub" / "b.tif", bits=16, fmt="TIFF", seed=1)
    _save(tree / "sub" / "deeper" / "c.jpeg", fmt="JPEG", seed=2)
    (tree / "notes.txt").write_text("not an image")
    _save(tree / ".hidden.png")
    out = tmp_path / "out"
    assert _deblur(tree, "-o", out, "--method", FAKE) == 0
    for rel in ("a.png", "sub/b.tif", "sub/deeper/c.jpeg"):
        assert (out / rel).is_file(), rel
    assert not (out / "notes.txt").exists() and not (out / ".hidden.png").exists()
    rows = _manifest(out / MANIFEST)
    assert list(rows[0])[:6] == ["input", "output", "status", "error", "seconds", "method"]
    assert [Path(r["input"]).relative_to(tree).as_posix() for r in rows] == ["a.png", "sub/b.tif", "sub/deeper/c.jpeg"]
    assert {r["status"] for r in rows} == {"ok"} and all(float(r["seconds"]) >= 0 for r in rows)
    assert "3 done, 0 skipped, 0 failed" in capsys.readouterr().out
    assert _leftovers(out) == []


def test_workers_2_processes_all_files_in_input_order(tmp_path):
    tree = tmp_path / "in"
    names = [f"img{i}.png" for i in range(5)]
    for i, name in enumerate(names):
        _save(tree / name, seed=i)
    out = tmp_path / "out"
    assert _deblur(tree, "-o", out, "--method", FAKE, "--workers", "2", "-q") == 0
    rows = _manifest(out / MANIFEST)
    assert [Path(r["input"]).name for r in rows] == names
    assert all(r["status"] == "ok" for r in rows)
    assert all((out / n).is_file() for n in names)
    assert _leftovers(out) == []


# --------------------------------------------------------------------------- DICOM


def _dicom_source() -> Path:
    path = DATA / "dicom" / "CR-MONO1-10-chest.dcm"
    if not path.is_file():
        if os.environ.get("XRAYDEBLUR_REQUIRE_DATA") == "1":
            pytest.fail(f"{path} is missing and XRAYDEBLUR_REQUIRE_DATA=1")
        pytest.skip(f"real DICOM test data not found at {path} (set XRAYDEBLUR_DATA or provide ../shared/data)")
    return path


def test_dicom_in_gives_derived_dicom_out(tmp_path):
    import pydicom

    src = _dicom_source()
    before = src.read_bytes()
    assert _deblur(src, "-o", tmp_path / "out", "--method", FAKE, "-q") == 0
    out = tmp_path / "out" / "CR-MONO1-10-chest.dcm"
    ds = pydicom.dcmread(out)
    assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert FAKE in ds.DerivationDescription and "t1" in ds.DerivationDescription and "ab" * 32 in ds.DerivationDescription
    assert (ds.Rows, ds.Columns) == (440, 440)
    rad = read_radiograph(out)
    assert rad.format == "dicom" and rad.pixels.shape == (440, 440)
    assert src.read_bytes() == before


# --------------------------------------------------------------------------- robustness


def test_corrupt_file_does_not_stop_the_others(tmp_path, capsys):
    tree = tmp_path / "in"
    _save(tree / "a.png")
    (tree / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 10)
    _save(tree / "c.png", seed=3)
    out = tmp_path / "out"
    assert _deblur(tree, "-o", out, "--method", FAKE) == 1
    rows = {Path(r["input"]).name: r for r in _manifest(out / MANIFEST)}
    assert rows["a.png"]["status"] == rows["c.png"]["status"] == "ok"
    assert rows["b.png"]["status"] == "failed" and rows["b.png"]["error"]
    assert "\n" not in rows["b.png"]["error"]
    assert (out / "a.png").is_file() and (out / "c.png").is_file() and not (out / "b.png").exists()
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if "b.png" in line]
    assert len(errors) == 1 and "Traceback" not in captured.err
    assert "2 done, 0 skipped, 1 failed" in captured.out
    assert _leftovers(out) == []


def test_input_is_never_overwritten(tmp_path, capsys):
    src = _save(tmp_path / "x.png")
    before = src.read_bytes()
    assert _deblur(src, "-o", src, "--method", FAKE) == 2
    assert src.read_bytes() == before
    assert "overwrite" in capsys.readouterr().err
    # a folder onto itself: every file refused, nothing touched and nothing written
    # (issue 25 fault 8: no manifest in the input folder either)
    tree = tmp_path / "tree"
    other = _save(tree / "y.png")
    before_other = other.read_bytes()
    assert _deblur(tree, "-o", tree, "--method", FAKE, "--manifest", tmp_path / "m.csv", "-q") == 2
    assert _deblur(tree, "-o", tree, "--method", FAKE, "-q") == 2
    assert other.read_bytes() == before_other
    assert not (tmp_path / "m.csv").exists() and sorted(p.name for p in tree.iterdir()) == ["y.png"]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("nothing to do" in line and "overwrite" in line for line in err)


def test_skip_existing(tmp_path, capsys):
    tree = tmp_path / "in"
    _save(tree / "a.png")
    _save(tree / "b.png", seed=1)
    out = tmp_path / "out"
    assert _deblur(tree, "-o", out, "--method", FAKE) == 0
    (out / "b.png").unlink()
    first = (out / "a.png").read_bytes()
    capsys.readouterr()
    assert _deblur(tree, "-o", out, "--method", FAKE, "--skip-existing") == 0
    rows = {Path(r["input"]).name: r["status"] for r in _manifest(out / MANIFEST)}
    assert rows == {"a.png": "skipped", "b.png": "ok"}
    assert (out / "a.png").read_bytes() == first
    assert "1 done, 1 skipped, 0 failed" in capsys.readouterr().out


def test_ctrl_c_exits_130_and_leaves_no_partial_files(tmp_path, capsys):
    calls = {"n": 0}

    def interrupt_second(image, kernel):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return sharpen(image)

    methods.register(Method(name="test-interrupt", description="stops", kind="classical", run=interrupt_second))
    try:
        tree = tmp_path / "in"
        for i in range(3):
            _save(tree / f"{i}.png", seed=i)
        out = tmp_path / "out"
        assert _deblur(tree, "-o", out, "--method", "test-interrupt") == 130
    finally:
        methods._REGISTRY.pop("test-interrupt", None)
    assert [r["status"] for r in _manifest(out / MANIFEST)] == ["ok"]
    assert sorted(p.name for p in out.iterdir()) == ["0.png", MANIFEST]
    assert "interrupted" in capsys.readouterr().err


# --------------------------------------------------------------------------- options


def test_report_json(tmp_path):
    src = _save(tmp_path / "r.png")
    out = tmp_path / "out" / "r.png"
    assert _deblur(src, "-o", out, "--method", FAKE, "--report", "--sigma", "1.5", "-q") == 0
    report = json.loads((tmp_path / "out" / "r.png.report.json").read_text())
    for key in ("method", "version", "weights_sha256", "seconds", "width", "height", "bits", "sharpness_before", "sharpness_after", "denoise", "unchanged"):
        assert key in report, key
    assert report["method"] == FAKE and report["version"] == "t1" and report["weights_sha256"] == "ab" * 32
    assert (report["width"], report["height"], report["bits"]) == (40, 32, 8)
    assert report["sharpness_after"] > report["sharpness_before"] > 0
    assert report["blind"] is False
    assert report["kernel_family"] == "gaussian" and abs(report["kernel_rms_radius_px"] - 1.5 * 2**0.5) < 0.05
    if "safeguard" in report:  # when xraydeblur.safeguard exists
        assert isinstance(report["safeguard"], dict) and "error" not in report["safeguard"], report["safeguard"]
        assert all(not isinstance(v, list) or len(v) < 64 for v in report["safeguard"].values())
    if "residual_map" in report:
        assert (tmp_path / "out" / report["residual_map"]).is_file()
    assert report["estimated_blur_before"] >= 0 and report["denoise"] == 0.0 and report["unchanged"] is False


def test_report_includes_safeguard_and_blur_estimate(tmp_path):
    """The report carries the pipeline's facts: blur evidence, the safeguard with its
    explanation (no arrays), and the residual map as a PNG beside the output."""
    src = _save(tmp_path / "s.png")
    assert _deblur(src, "-o", tmp_path / "out", "--method", FAKE, "--report", "--denoise", "0.5", "-q") == 0
    report = json.loads((tmp_path / "out" / "s.png.report.json").read_text())
    assert isinstance(report["safeguard"]["consistent"], bool) and "residual map" in report["safeguard"]["explanation"]
    assert all(not isinstance(v, (list, dict)) or len(v) < 64 for v in report["safeguard"].values())
    assert set(report["blur_evidence"]) >= {"sigma_px", "hf_anisotropy"} and report["denoise"] == 0.5
    assert report["residual_map"] == "s.png.residual.png"
    with Image.open(tmp_path / "out" / "s.png.residual.png") as img:
        assert img.size == (40, 32) and img.mode == "L"
    assert _leftovers(tmp_path / "out") == []


def test_report_names_the_psf_a_method_identified_and_the_safeguard_uses_it(tmp_path):
    """A method that identifies the PSF (as nafnet-psf does) gets the identified kernel;
    the report says what was identified and the safeguard re-blurs with it."""
    from conftest import motion_blurred_scene

    seen = []
    methods.register(Method(name="test-identify", description="records its kernel", kind="network", run=lambda img, k: seen.append(k) or img, identifies_psf=True))
    try:
        _, blurred, _ = motion_blurred_scene()
        src = tmp_path / "m.png"
        Image.fromarray(np.rint(blurred * 65535).astype(np.uint16)).save(src)
        assert _deblur(src, "-o", tmp_path / "out", "--method", "test-identify", "--report", "-q") == 0
        report = json.loads((tmp_path / "out" / "m.png.report.json").read_text())
        psf = report["psf_identified"]
        assert psf["trusted"] and psf["family"] == "motion" and psf["params"]["length"] == 9.0, psf
        assert report["blind"] is True and report["kernel_family"] == "motion" and seen[0] is not None
        assert report["safeguard"]["kernel_source"] == "identified" and report["safeguard"]["consistent"]
    finally:
        methods._REGISTRY.pop("test-identify", None)


def test_a_failed_safeguard_is_said_even_without_a_report(tmp_path, capsys):
    """A restoration that adds structure (here a bright square) fails the safeguard: the
    CLI says so in one line, even with -q, and the manifest's note keeps it; with
    --no-safeguard nothing is checked and nothing said."""
    from conftest import motion_blurred_scene

    def add_square(image, kernel):
        out = np.array(image, np.float32)
        out[100:140, 100:140] += 0.3
        return np.clip(out, 0, 1)

    methods.register(Method(name="test-adds", description="adds a square", kind="network", run=add_square))
    try:
        _, blurred, _ = motion_blurred_scene()
        src = tmp_path / "m.png"
        Image.fromarray(np.rint(blurred * 65535).astype(np.uint16)).save(src)
        blur = ("--kernel", "motion", "--length", "9", "--angle", "30", "--force", "-q")
        assert _deblur(src, "-o", tmp_path / "out", "--method", "test-adds", *blur) == 0
        err = capsys.readouterr().err.strip()
        assert err.startswith("xraydeblur: ") and "safeguard FAILED" in err and "blur given may be wrong" in err and "\n" not in err, err
        assert "safeguard FAILED" in _manifest(tmp_path / "out" / MANIFEST)[0]["note"]
        assert _deblur(src, "-o", tmp_path / "off", "--method", "test-adds", "--no-safeguard", *blur) == 0
        assert "safeguard" not in capsys.readouterr().err and _manifest(tmp_path / "off" / MANIFEST)[0]["note"] == ""
    finally:
        methods._REGISTRY.pop("test-adds", None)


def test_report_says_what_the_data_step_did(tmp_path):
    """Given a kernel, a method with the kernel-aware data step reports its rule, the
    noise it measured and a one-line summary."""
    from conftest import DATA_STEP_TEST_METHOD, _data_step_only, motion_blurred_scene

    methods.register(Method(name=DATA_STEP_TEST_METHOD, description="data step alone", kind="classical", run=_data_step_only))
    try:
        _, blurred, _ = motion_blurred_scene()
        src = tmp_path / "m.png"
        Image.fromarray(np.rint(blurred * 65535).astype(np.uint16)).save(src)
        args = ("-o", tmp_path / "out", "--method", DATA_STEP_TEST_METHOD, "--kernel", "motion", "--length", "9", "--angle", "30", "--report", "-q")
        assert _deblur(src, *args) == 0
        step = json.loads((tmp_path / "out" / "m.png.report.json").read_text())["data_step"]
        assert step["rule"] in ("learned", "tuned", "morozov") and "noise" in step["summary"] and step["noise_sigma"] >= 0, step
    finally:
        methods._REGISTRY.pop(DATA_STEP_TEST_METHOD, None)


def test_method_list(capsys):
    assert _deblur("--method", "list") == 0
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first.startswith(FAKE) and "(default)" in first and "classical" in first and "t1" in first
    assert _deblur("--list-methods") == 0
    assert FAKE in capsys.readouterr().out


def test_unknown_method_exits_2(tmp_path, capsys):
    src = _save(tmp_path / "u.png")
    assert _deblur(src, "-o", tmp_path / "out", "--method", "no-such-method") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no-such-method" in err and FAKE in err
    assert not (tmp_path / "out").exists()


def test_sigma_and_kernel_options_pass_a_kernel(tmp_path, fake_method):
    src = _save(tmp_path / "k.png")
    assert _deblur(src, "-o", tmp_path / "o1", "--method", FAKE, "--sigma", "2", "-q") == 0
    assert _deblur(src, "-o", tmp_path / "o2", "--method", FAKE, "--kernel", "motion", "--length", "5", "--angle", "30", "-q") == 0
    assert _deblur(src, "-o", tmp_path / "o3", "--method", FAKE, "-q") == 0
    assert fake_method == [False, False, True]
    assert _deblur(src, "-o", tmp_path / "o4", "--method", FAKE, "--length", "5") == 2  # no family given


def test_measured_psf_file_is_the_kernel_given_to_the_method(tmp_path, capsys):
    """--psf FILE (.npy or a 16-bit PNG) reaches the method as the normalised kernel;
    bad PSF files and --psf with --sigma are refused with one line and exit 2."""
    from xraydeblur.degrade import gaussian_kernel

    seen = []
    methods.register(Method(name="test-psf", description="records its kernel", kind="classical", run=lambda img, k: seen.append(k) or img, rank=0))
    try:
        src = _save(tmp_path / "p.png")
        truth = gaussian_kernel(1.5)
        np.save(tmp_path / "psf.npy", 7.0 * truth)
        Image.fromarray(np.rint(truth / truth.max() * 65535).astype(np.uint16)).save(tmp_path / "psf.png")
        assert _deblur(src, "-o", tmp_path / "o1", "--method", "test-psf", "--psf", tmp_path / "psf.npy", "-q") == 0
        assert _deblur(src, "-o", tmp_path / "o2", "--method", "test-psf", "--psf", tmp_path / "psf.png", "-q") == 0
        np.testing.assert_allclose(seen[0], truth, atol=1e-12)
        np.testing.assert_allclose(seen[1], truth, atol=1e-5)  # 16-bit rounding
        capsys.readouterr()
        bad = {
            "3d.npy": np.ones((3, 3, 3)),
            "even.npy": np.ones((4, 4)),
            "negative.npy": truth - 0.01,
            "zero.npy": np.zeros((5, 5)),
            "nan.npy": np.full((3, 3), np.nan),
            "huge.npy": np.ones((131, 131)),
        }
        for name, array in bad.items():
            np.save(tmp_path / name, array)
        (tmp_path / "corrupt.npy").write_bytes(b"\x93NUMPY garbage")
        Image.new("RGB", (5, 5)).save(tmp_path / "rgb.png")
        for name in [*bad, "corrupt.npy", "rgb.png", "missing.npy", "psf.txt"]:
            assert _deblur(src, "-o", tmp_path / "bad", "--method", "test-psf", "--psf", tmp_path / name) == 2, name
            err = capsys.readouterr().err.strip()
            assert len(err.splitlines()) == 1 and name in err and "Traceback" not in err, err
        assert _deblur(src, "-o", tmp_path / "bad", "--method", "test-psf", "--psf", tmp_path / "psf.npy", "--sigma", "2") == 2
        assert "give one of them" in capsys.readouterr().err
        assert not (tmp_path / "bad").exists() and len(seen) == 2
    finally:
        methods._REGISTRY.pop("test-psf", None)


def test_non_square_psf_is_padded_around_its_centre():
    from xraydeblur.degrade.measured import validate_psf

    psf = validate_psf(np.array([[1.0, 2.0, 1.0]]))
    assert psf.shape == (3, 3) and psf[1, 1] == 0.5 and psf[0].sum() == 0 and psf[2].sum() == 0


def test_device_cuda_unavailable_is_a_clear_error(tmp_path, capsys, monkeypatch):
    from xraydeblur.cli import deblur

    monkeypatch.setattr(deblur, "_cuda_available", lambda: False)
    monkeypatch.delenv("XRAYDEBLUR_DEVICE", raising=False)
    src = _save(tmp_path / "d.png")
    assert _deblur(src, "-o", tmp_path / "out", "--method", FAKE, "--device", "cuda") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "CUDA" in err
    assert _deblur(src, "-o", tmp_path / "out", "--method", FAKE, "--device", "cpu", "-q") == 0
    assert os.environ["XRAYDEBLUR_DEVICE"] == "cpu"


def test_help_shows_examples(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["deblur", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "xraydeblur deblur scans/" in out and "--skip-existing" in out


def test_missing_input_and_output_are_usage_errors(tmp_path, capsys):
    assert _deblur("-o", tmp_path / "out") == 2
    assert _deblur(_save(tmp_path / "a.png")) == 2
    assert _deblur(tmp_path / "missing.png", "-o", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "missing.png" in err


# --------------------------------------------------------------------------- console script


def test_console_script_exit_codes(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("XRAYDEBLUR_DEBUG", None)
    tree = tmp_path / "in"
    _save(tree / "good.png")
    (tree / "bad.tif").write_bytes(b"II*\x00" + b"\xff" * 20)
    script = str(SCRIPT) if SCRIPT.exists() else None
    cmd = [script] if script else [sys.executable, "-m", "xraydeblur.cli"]
    res = subprocess.run([*cmd, "deblur", str(tree), "-o", str(tmp_path / "out"), "--method", FAKE], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr and "bad.tif" in res.stderr
    assert (tmp_path / "out" / "good.png").is_file()
    res = subprocess.run([*cmd, "deblur", str(tree), "-o", str(tmp_path / "out2"), "--method", "nope"], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "Traceback" not in res.stderr and "unknown method" in res.stderr


def test_one_shot_commands_tune_the_allocator(tmp_path, monkeypatch):
    """info / blur / deblur fix glibc's thresholds (xraydeblur.allocator); the server
    does too and hands memory back once idle (tests/test_allocator.py)."""
    import xraydeblur.allocator as allocator

    calls = []
    monkeypatch.setattr(allocator, "tune_allocator", lambda: calls.append(True))
    assert main(["info", str(_save(tmp_path / "in.png"))]) == 0
    assert calls == [True]


def test_dicom_output_encoded_during_the_safeguard_names_its_derivation(tmp_path):
    """With ``--report`` the safeguard runs and the output is encoded while it checks
    (``restore(..., while_checking=...)``): the derived DICOM still names the method and
    denoise strength, and holds the same pixels as a run without the report."""
    import pydicom

    src = _dicom_source()
    assert _deblur(src, "-o", tmp_path / "a.dcm", "--method", FAKE, "--denoise", "0.5", "--report", "-q") == 0
    assert _deblur(src, "-o", tmp_path / "b.dcm", "--method", FAKE, "--denoise", "0.5", "-q") == 0
    ds = pydicom.dcmread(tmp_path / "a.dcm")
    assert f"method {FAKE}, denoise 0.5" in ds.DerivationDescription
    report = json.loads((tmp_path / "a.dcm.report.json").read_text())
    assert "while_checking" in report["seconds_by_step"] and "consistent" in report["safeguard"]
    assert np.array_equal(pydicom.dcmread(tmp_path / "b.dcm").pixel_array, ds.pixel_array)

"""Radiograph I/O: every shared DICOM loads; lossless round trips; dciodvfy; bad files."""

import io
import re
import shutil
import struct
import subprocess
import zlib

import numpy as np
import pydicom
import pytest
from PIL import Image

from shared_data import dicom_files, require_data
from xraydeblur.errors import ImageTooLargeError, InputError
from xraydeblur.io import encode_radiograph, read_radiograph, write_radiograph
from xraydeblur.io.dicom_read import stored_to_unit

EXPECTED = {  # file prefix: (bits stored, photometric, rows, cols)
    "1.3.6.1.4.1.11129": (8, "MONOCHROME2", 1024, 1024),
    "966_fixed": (12, "MONOCHROME1", 2128, 2000),
    "CR-MONO1-10-chest": (10, "MONOCHROME1", 440, 440),
    "JPEG2KLossless_1s_1f_u_16_16": (16, "MONOCHROME2", 1416, 1420),
    "RG1_JLSN": (15, "MONOCHROME1", 1955, 1841),
}


def _expected(path):
    return next(v for k, v in EXPECTED.items() if path.name.startswith(k))


def test_every_shared_dicom_loads_with_range_and_polarity():
    files = dicom_files()
    assert len(files) == 5
    for path in files:
        bits, photometric, rows, cols = _expected(path)
        rad = read_radiograph(path)
        assert (rad.bits_stored, rad.photometric, rad.height, rad.width) == (bits, photometric, rows, cols), path.name
        assert rad.pixels.dtype == np.float32 and 0 <= rad.pixels.min() and rad.pixels.max() <= 1
        # polarity: stored values map to pixels by the documented rule
        raw = pydicom.dcmread(path, force=True)
        if "TransferSyntaxUID" not in getattr(raw, "file_meta", {}):
            raw.file_meta = pydicom.dataset.FileMetaDataset()
            raw.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
        stored = raw.pixel_array
        expected = stored_to_unit(stored, bits, False, photometric == "MONOCHROME1")
        np.testing.assert_array_equal(rad.pixels, expected)
        if photometric == "MONOCHROME1":  # highest stored value = darkest = 0 internally
            assert rad.pixels.ravel()[np.argmax(stored)] == rad.pixels.min()
        # scale is 2**BitsStored - 1, not the image maximum
        assert np.isclose(rad.pixels.max() if photometric == "MONOCHROME2" else 1 - rad.pixels.min(), stored.max() / (2**bits - 1), atol=1e-6)


def test_acr_nema_file_without_meta_header():
    root = require_data()
    rad = read_radiograph(root / "dicom" / "CR-MONO1-10-chest.dcm")
    assert rad.info["has_file_meta"] is False and rad.info["modality"] == "CR"


def test_dicom_round_trip_is_lossless_and_derived():
    for path in dicom_files():
        rad = read_radiograph(path)
        data = encode_radiograph(rad, rad.pixels, method="identity", model_version="t", weights_sha256="ab" * 32)
        back = read_radiograph(data)
        np.testing.assert_array_equal(back.pixels, rad.pixels)
        ds = pydicom.dcmread(io.BytesIO(data))
        src = rad.dataset
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
        assert ds.SOPInstanceUID != src.get("SOPInstanceUID") and ds.SeriesInstanceUID != src.get("SeriesInstanceUID")
        assert ds.get("StudyInstanceUID") == src.get("StudyInstanceUID") and ds.get("PatientID") == src.get("PatientID")
        assert ds.BitsStored == rad.bits_stored and ds.PhotometricInterpretation == rad.photometric
        assert "identity" in ds.DerivationDescription and "ab" * 32 in ds.DerivationDescription
        if "SOPInstanceUID" in src:
            assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID


def _dciodvfy_errors(path):
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, errors="replace", timeout=120)
    lines = (out.stdout + out.stderr).splitlines()
    # compare messages without element values / UIDs
    return {re.sub(r"\d", "#", line.split(" - ", 1)[-1]) for line in lines if line.startswith("Error")}


def test_dciodvfy_reports_no_new_errors(tmp_path):
    if not shutil.which("dciodvfy"):
        pytest.fail("dciodvfy missing: `make test` installs Debian dicom3tools")
    for path in dicom_files():
        rad = read_radiograph(path)
        out = write_radiograph(rad, np.clip(rad.pixels * 0.9 + 0.05, 0, 1), tmp_path / path.name, method="test")
        before, after = _dciodvfy_errors(path), _dciodvfy_errors(out)
        assert after <= before, f"{path.name}: new dciodvfy errors {sorted(after - before)}"


@pytest.mark.parametrize("mode,bits", [("L", 8), ("I;16", 16)])
@pytest.mark.parametrize("fmt", ["png", "tiff"])
def test_raster_round_trip_lossless(tmp_path, fmt, mode, bits):
    rng = np.random.default_rng(0)
    stored = rng.integers(0, 2**bits, (37, 53), dtype=np.uint16 if bits == 16 else np.uint8)
    path = tmp_path / f"x.{fmt}"
    Image.fromarray(stored).save(path)
    rad = read_radiograph(path)
    assert rad.bits_stored == bits and rad.format == fmt
    out = write_radiograph(rad, rad.pixels, tmp_path / f"y.{fmt}")
    back = np.asarray(Image.open(out))
    np.testing.assert_array_equal(back, stored)


def test_colour_modes_become_one_channel(tmp_path):
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8) * 3
    rgb = np.stack([grey] * 3, axis=-1)
    rgba = np.concatenate([rgb, np.full((8, 8, 1), 255, np.uint8)], axis=-1)
    for arr, mode in ((rgb, "RGB"), (rgba, "RGBA")):
        Image.fromarray(arr, mode=mode).save(tmp_path / f"{mode}.png")
        rad = read_radiograph(tmp_path / f"{mode}.png")
        np.testing.assert_allclose(rad.pixels, grey / 255.0, atol=1e-6)
    half = rgba.copy()
    half[..., 3] = 0
    Image.fromarray(half, mode="RGBA").save(tmp_path / "transparent.png")
    with pytest.raises(InputError, match="fully transparent"):  # issue 25 fault 9: refused, not black
        read_radiograph(tmp_path / "transparent.png")
    half[: half.shape[0] // 2, :, 3] = 255
    Image.fromarray(half, mode="RGBA").save(tmp_path / "half.png")
    rad = read_radiograph(tmp_path / "half.png")
    assert rad.pixels[half.shape[0] // 2:].max() == 0 and "flattened onto black" in rad.info["notes"][0]
    Image.fromarray(grey, mode="L").convert("P").save(tmp_path / "p.png")
    np.testing.assert_allclose(read_radiograph(tmp_path / "p.png").pixels, grey / 255.0, atol=1e-6)


def _png_header_only(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + chunk(b"IEND", b"")


def _good_png():
    buf = io.BytesIO()
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    "name,data,reason",
    [
        ("empty", b"", "empty"),
        ("random", bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)), "not a PNG"),
        ("truncated", _good_png()[:60], "corrupt"),
        ("huge", _png_header_only(60000, 60000), "limit"),
    ],
)
def test_bad_files_give_one_line_input_error(tmp_path, name, data, reason):
    path = tmp_path / f"{name}.png"
    path.write_bytes(data)
    with pytest.raises(InputError) as err:
        read_radiograph(path)
    message = str(err.value)
    assert reason in message and "\n" not in message
    if name == "huge":
        assert isinstance(err.value, ImageTooLargeError)


def test_dicom_header_declaring_huge_size_is_rejected_before_decoding(tmp_path):
    rad = read_radiograph(require_data() / "dicom" / "CR-MONO1-10-chest.dcm")
    ds = pydicom.dcmread(io.BytesIO(encode_radiograph(rad, rad.pixels, method="t")))
    ds.Rows = ds.Columns = 60000
    ds.save_as(tmp_path / "huge.dcm")
    with pytest.raises(ImageTooLargeError):
        read_radiograph(tmp_path / "huge.dcm")
    truncated = (tmp_path / "t.dcm")
    truncated.write_bytes(encode_radiograph(rad, rad.pixels, method="t")[:5000])
    with pytest.raises(InputError, match="truncated: it holds 3708 of the 387200 bytes"):
        read_radiograph(truncated)


def test_a_compressed_dicom_cut_inside_its_pixel_data_is_called_truncated(tmp_path):
    data = (require_data() / "dicom" / "966_fixed.dcm").read_bytes()  # JPEG 2000
    (tmp_path / "cut.dcm").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated: it ends inside its pixel data"):
        read_radiograph(tmp_path / "cut.dcm")


def test_multiframe_and_missing_files_rejected(tmp_path):
    frames = [Image.fromarray(np.zeros((8, 8), np.uint8)) for _ in range(2)]
    frames[0].save(tmp_path / "multi.tif", save_all=True, append_images=frames[1:])
    with pytest.raises(InputError, match="multi-frame"):
        read_radiograph(tmp_path / "multi.tif")
    with pytest.raises(InputError, match="no such file"):
        read_radiograph(tmp_path / "absent.png")


def test_cli_info_and_blur(tmp_path, capsys):
    from xraydeblur.cli import main

    path = require_data() / "dicom" / "RG1_JLSN.dcm"
    assert main(["info", str(path)]) == 0
    text = capsys.readouterr().out
    for word in ("dicom", "1841", "15", "MONOCHROME1", "CR", "JPEG-LS"):
        assert word in text
    out = tmp_path / "blurred.dcm"
    assert main(["blur", str(path), "-o", str(out), "--kernel", "gaussian", "--sigma", "2", "--noise", "2000", "--seed", "1"]) == 0
    rad = read_radiograph(out)
    assert rad.format == "dicom" and rad.bits_stored == 15
    assert main(["blur", str(out), "-o", str(out), "--sigma", "1"]) == 2  # never overwrite the input
    assert main(["blur", str(path), "-o", str(tmp_path / "m.dcm"), "--kernel", "motion"]) == 2  # needs --length
    assert main(["info", str(tmp_path / "nothing.png")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "--length" in err

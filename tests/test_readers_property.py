"""Property-based tests (hypothesis) of the DICOM and raster readers: mutated headers,
flipped bytes and truncated files either decode to a valid radiograph or raise
:class:`InputError` with a one-line reason; nothing else escapes, nothing is printed.

Seed files are made here, a few kB each; the number of examples is bounded so the
module runs in seconds.
"""

import io

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from xraydeblur.errors import InputError
from xraydeblur.io import read_radiograph

SETTINGS = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
#: pixel limit for these tests: small, so a mutated size never allocates much
LIMIT = 1_000_000


def _dicom_dataset(rows: int = 24, cols: int = 20) -> Dataset:
    """A small valid 12-bit MONOCHROME2 CR dataset (Part 10, explicit VR little endian)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.Modality, ds.ImageType = "CR", ["ORIGINAL", "PRIMARY"]
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.PixelData = (np.arange(rows * cols, dtype=np.uint16) * 7 % 4096).tobytes()
    return ds


def _dicom_bytes(ds: Dataset, implicit: bool = False) -> bytes:
    buf = io.BytesIO()
    if implicit:  # ACR-NEMA style: no preamble, no file meta
        ds = ds.copy()
        del ds.file_meta
        ds.save_as(buf, implicit_vr=True, little_endian=True)
    else:
        ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _raster_bytes(fmt: str) -> bytes:
    rng = np.random.default_rng(3)
    arr = rng.integers(0, 256, (20, 24), dtype=np.uint8)
    buf = io.BytesIO()
    if fmt == "TIFF16":
        Image.fromarray(arr.astype(np.uint16) * 257).save(buf, format="TIFF")
    else:
        Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


SEEDS = {
    "dicom": _dicom_bytes(_dicom_dataset()),
    "acr-nema": _dicom_bytes(_dicom_dataset(), implicit=True),
    "png": _raster_bytes("PNG"),
    "jpeg": _raster_bytes("JPEG"),
    "tiff": _raster_bytes("TIFF16"),
}


def _check(data: bytes) -> None:
    """The reader's contract on any bytes."""
    try:
        rad = read_radiograph(data, max_pixels=LIMIT)
    except InputError as exc:
        text = str(exc)
        assert text and "\n" not in text and "object at 0x" not in text and "Traceback" not in text
        return
    assert rad.pixels.dtype == np.float32 and rad.pixels.ndim == 2
    assert rad.pixels.size <= LIMIT and np.isfinite(rad.pixels).all()
    assert rad.pixels.min() >= 0.0 and rad.pixels.max() <= 1.0


@pytest.mark.parametrize("kind", sorted(SEEDS))
@SETTINGS
@given(cut=st.floats(0.0, 1.0))
def test_truncated_files(kind, cut, capfd):
    data = SEEDS[kind]
    _check(data[: int(cut * len(data))])
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("kind", sorted(SEEDS))
@SETTINGS
@given(flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), min_size=1, max_size=6))
def test_flipped_header_bytes(kind, flips, capfd):
    """Bytes in the first 400 (the headers) replaced at random."""
    data = bytearray(SEEDS[kind])
    head = min(400, len(data))
    for where, value in flips:
        data[int(where * (head - 1))] = value
    _check(bytes(data))
    assert capfd.readouterr().err == ""


_HEADER_VALUES = {
    "Rows": st.integers(0, 70000),
    "Columns": st.integers(0, 70000),
    "BitsAllocated": st.sampled_from([0, 1, 8, 12, 16, 32, 64]),
    "BitsStored": st.integers(0, 40),
    "HighBit": st.integers(0, 40),
    "PixelRepresentation": st.integers(0, 3),
    "SamplesPerPixel": st.integers(0, 4),
    "NumberOfFrames": st.integers(0, 5),
    "PhotometricInterpretation": st.sampled_from(["MONOCHROME1", "MONOCHROME2", "RGB", "PALETTE COLOR", "", "YBR_FULL"]),
    "RescaleSlope": st.sampled_from(["1", "-1", "0", "nan", "1e309", "x"]),
}


@SETTINGS
@given(changes=st.dictionaries(st.sampled_from(sorted(_HEADER_VALUES)), st.none(), min_size=1, max_size=4).flatmap(
    lambda keys: st.fixed_dictionaries({k: _HEADER_VALUES[k] for k in keys})
), implicit=st.booleans(), drop=st.sampled_from([None, "Rows", "BitsAllocated", "PixelData", "PhotometricInterpretation"]))
def test_mutated_dicom_headers(changes, implicit, drop, capfd):
    ds = _dicom_dataset()
    for keyword, value in changes.items():
        if keyword == "RescaleSlope":
            ds.add_new(0x00281053, "DS", value) if value not in ("nan", "1e309", "x") else ds.add_new(0x00281053, "LO", value)
        else:
            setattr(ds, keyword, value)
    if drop is not None and drop in ds:
        delattr(ds, drop)
    try:
        data = _dicom_bytes(ds, implicit=implicit)
    except Exception:  # pydicom refuses to write some nonsense values: nothing to read then
        return
    _check(data)
    assert capfd.readouterr().err == ""


@SETTINGS
@given(width=st.integers(0, 1 << 31), height=st.integers(0, 1 << 31), depth=st.sampled_from([1, 2, 4, 8, 16, 3]), colour=st.integers(0, 7))
def test_mutated_png_headers(width, height, depth, colour, capfd):
    """PNG IHDR fields replaced (CRC kept valid), before any pixel is decoded."""
    import struct
    import zlib

    data = bytearray(SEEDS["png"])
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    _check(bytes(data))
    assert capfd.readouterr().err == ""

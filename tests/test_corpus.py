"""The probe corpus of issue 25, generated at test time (nothing binary is committed):
one file per input class the probe found faults with, plus the usual suspects. Each
goes through ``info``, ``deblur`` and the REST API; each must give a valid output or a
one-line reason (non-zero exit, 4xx), never a traceback, and its input is unchanged.
"""

import hashlib
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from conftest import TEST_METHOD
from xraydeblur.cli import main
from xraydeblur.io import MAX_PIXELS, read_radiograph

MANIFEST = "xraydeblur-manifest.csv"


def _png(arr: np.ndarray, mode: str | None = None, **save) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode=mode).save(buf, format="PNG", **save)
    return buf.getvalue()


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(120, 35, (h, w)), 0, 255).astype(np.uint8)


def _dicom(rows=40, cols=36, *, implicit=False, image_type="ORIGINAL\\PRIMARY", photometric="MONOCHROME2", frames_of_data=1, frames=None) -> bytes:
    ds = Dataset()
    ds.Modality, ds.SOPClassUID, ds.SOPInstanceUID = "CR", "1.2.840.10008.5.1.4.1.1.1", generate_uid()
    ds.ImageType = image_type
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 10, 9, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    if frames is not None:
        ds.NumberOfFrames = frames
    ds.PixelData = (np.arange(frames_of_data * rows * cols, dtype=np.uint16) * 5 % 1024).tobytes()
    buf = io.BytesIO()
    if implicit:
        ds.save_as(buf, implicit_vr=True, little_endian=True)
    else:
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
        ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _exif_jpeg(orientation: int) -> bytes:
    img = Image.fromarray(_texture(30, 50))
    exif = img.getexif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif, quality=95)
    return buf.getvalue()


def _header_only_png(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` and holds one tiny zlib stream of zeros
    (a few hundred bytes on the wire; decoding it would need width x height bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b"")


def _rgba(alpha: int) -> bytes:
    arr = np.dstack([_texture(32, 32)] * 3 + [np.full((32, 32), alpha, np.uint8)])
    if alpha:
        arr[:16, :, 3] = 0  # top half transparent
    return _png(arr, mode="RGBA")


#: file name -> (bytes factory, expected: "ok" or a substring of the one-line reason)
CORPUS = {
    "acr-nema.dcm": (lambda: _dicom(implicit=True, image_type="ORIGINAL PRIMARY", photometric="MONOCHROME1"), "ok"),
    "empty-third-value.dcm": (lambda: _dicom(image_type="DERIVED\\PRIMARY\\"), "ok"),
    "extra-pixel-data.dcm": (lambda: _dicom(frames_of_data=2), "ok"),
    "multi-frame.dcm": (lambda: _dicom(frames=2, frames_of_data=2), "multi-frame"),
    "one-pixel.png": (lambda: _png(np.full((1, 1), 9, np.uint8)), "at least 16x16"),
    "thin-wide.png": (lambda: _png(np.full((3, 900), 9, np.uint8)), "at least 16x16"),
    "thin-tall.png": (lambda: _png(np.full((900, 3), 9, np.uint8)), "at least 16x16"),
    os.fsdecode(b"name-\xe9\xff.png"): (lambda: _png(_texture(24, 24)), "ok"),
    "exif-rotated.jpg": (lambda: _exif_jpeg(6), "ok"),
    "flat.png": (lambda: _png(np.zeros((400, 500), np.uint8)), "ok"),
    "8k-flat.png": (lambda: _header_only_png(int(MAX_PIXELS ** 0.5) + 1, int(MAX_PIXELS ** 0.5) + 1), "over the limit"),
    "junk.png": (lambda: b"\x89PNG\r\n\x1a\n" + bytes(300_000), "corrupt"),
    "text.png": (lambda: b"hello, I am not an image\n", "not a PNG, JPEG, TIFF or DICOM"),
    "empty.png": (lambda: b"", "empty"),
    "truncated.png": (lambda: _png(_texture(64, 64))[:300], "corrupt"),
    "transparent.png": (lambda: _rgba(0), "fully transparent"),
    "half-transparent.png": (lambda: _rgba(255), "ok"),
    "colour.png": (lambda: _png(np.dstack([_texture(24, 30, s) for s in range(3)])), "ok"),
    "sixteen.tif": (lambda: _tiff16(), "ok"),
}


#: ``info`` describes images too small to deblur (and says their blur was not assessed)
INFO_DESCRIBES = {"one-pixel.png", "thin-wide.png", "thin-tall.png"}


def _tiff16() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(_texture(30, 20).astype(np.uint16) * 257).save(buf, format="TIFF")
    return buf.getvalue()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """The corpus folder (made once per module)."""
    folder = tmp_path_factory.mktemp("corpus")
    for name, (make, _) in CORPUS.items():
        (folder / name).write_bytes(make())
    return folder


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def _assert_one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_info(corpus, name, capfd):
    code = main(["info", str(corpus / name)])
    out, err = capfd.readouterr()
    expected = "ok" if name in INFO_DESCRIBES else CORPUS[name][1]
    if expected == "ok":
        assert code == 0 and err == "" and "width" in out, (out, err)
    else:
        assert code != 0 and expected in _assert_one_line(err), err


def test_deblur_whole_corpus(corpus, tmp_path, capfd, test_methods):
    """One batch over the corpus: good files give valid outputs, bad ones one line each;
    inputs are unchanged; the manifest and the summary are written."""
    before = _digests(corpus)
    out = tmp_path / "out"
    code = main(["deblur", str(corpus), "-o", str(out), "--method", TEST_METHOD])
    stdout, err = capfd.readouterr()
    assert code == 1 and "Traceback" not in err + stdout
    bad = sorted(n for n, (_, e) in CORPUS.items() if e != "ok")
    assert f"{len(CORPUS) - len(bad)} done, 0 skipped, {len(bad)} failed" in stdout, stdout
    lines = [line for line in err.splitlines() if line.strip()]
    failures = [line for line in lines if line.startswith("xraydeblur: failed: ")]
    assert len(failures) == len(bad), err
    assert all(line.startswith("xraydeblur: ") for line in lines), err  # the rest: one note line per image
    for name in bad:
        line = next(line for line in failures if f"{os.sep}{name}: " in line)
        assert CORPUS[name][1] in line, line
    for name, (_, expected) in CORPUS.items():
        if expected != "ok":
            continue
        result = out / name
        assert result.is_file(), name
        rad = read_radiograph(result)
        assert rad.pixels.ndim == 2 and np.isfinite(rad.pixels).all()
    assert _digests(corpus) == before
    assert (out / MANIFEST).is_file()


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_api(corpus, name, api_client):
    data = (corpus / name).read_bytes()
    answer = api_client.post("/api/v1/deblur", params={"method": TEST_METHOD}, content=data, headers={"Content-Type": "application/octet-stream"})
    expected = CORPUS[name][1]
    if expected == "ok":
        assert answer.status_code == 200, answer.text
        assert read_radiograph(answer.content).pixels.ndim == 2
    else:
        assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
        detail = answer.json()["detail"]
        assert "\n" not in detail and "object at 0x" not in detail and "Traceback" not in answer.text
        assert expected.replace("at least 16x16", "at least 16x16 pixels") in detail or expected in detail, detail
    assert (corpus / name).read_bytes() == data


@pytest.fixture(scope="module")
def api_client():
    from fastapi.testclient import TestClient

    from conftest import register_test_methods
    from xraydeblur import methods
    from xraydeblur.server import create_app

    names = register_test_methods()
    with TestClient(create_app(queue_timeout=10.0), raise_server_exceptions=False) as client:
        yield client
    for name in names:
        methods._REGISTRY.pop(name, None)

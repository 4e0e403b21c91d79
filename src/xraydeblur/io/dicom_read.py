"""DICOM decoding (CR, DX, secondary capture; native, JPEG 2000, JPEG-LS, JPEG lossless).

Decoders: pydicom's native reader, python-gdcm, pylibjpeg + pylibjpeg-openjpeg and
pyjpegls (never the GPL pylibjpeg-libjpeg). ACR-NEMA files without a file meta header
are read with ``force=True`` as implicit VR little endian.
"""

import io as _io
import logging
import warnings

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ImplicitVRLittleEndian

from ..errors import InputError
from .guard import check_pixel_count
from .radiograph import Radiograph

TRANSFER_SYNTAX_NAMES = {
    "1.2.840.10008.1.2": "Implicit VR Little Endian",
    "1.2.840.10008.1.2.1": "Explicit VR Little Endian",
    "1.2.840.10008.1.2.2": "Explicit VR Big Endian",
    "1.2.840.10008.1.2.4.50": "JPEG Baseline (lossy)",
    "1.2.840.10008.1.2.4.51": "JPEG Extended 12-bit (lossy)",
    "1.2.840.10008.1.2.4.57": "JPEG Lossless",
    "1.2.840.10008.1.2.4.70": "JPEG Lossless SV1",
    "1.2.840.10008.1.2.4.80": "JPEG-LS Lossless",
    "1.2.840.10008.1.2.4.81": "JPEG-LS Near-Lossless",
    "1.2.840.10008.1.2.4.90": "JPEG 2000 Lossless",
    "1.2.840.10008.1.2.4.91": "JPEG 2000",
    "1.2.840.10008.1.2.5": "RLE Lossless",
}


def stored_to_unit(stored: np.ndarray, bits_stored: int, signed: bool, inverted: bool) -> np.ndarray:
    """Stored DICOM values -> float32 [0, 1] (1 = dense), scaled by 2**bits_stored - 1."""
    scale = np.float32((1 << bits_stored) - 1)
    # float32 holds integers of up to 24 bits exactly: everything before the one
    # division is exact, and the division rounds once
    unit = stored.astype(np.float32)
    if signed:
        unit += np.float32(1 << (bits_stored - 1))
    np.clip(unit, 0.0, scale, out=unit)
    if inverted:
        np.subtract(scale, unit, out=unit)
    unit /= scale
    return unit


def unit_to_stored(unit: np.ndarray, bits_stored: int, signed: bool, inverted: bool) -> np.ndarray:
    """Inverse of :func:`stored_to_unit`: float [0, 1] -> integer stored values (int64)."""
    scale = (1 << bits_stored) - 1
    unit = np.clip(np.asarray(unit, dtype=np.float64), 0.0, 1.0)
    stored = np.rint(unit * scale).astype(np.int64)
    if inverted:
        # flipped after rounding: a value exactly half-way (0.5 -> 2047.5 of 4095) then
        # gives the same stored value as the display value the page and the API compute
        stored = scale - stored
    if signed:
        stored -= 1 << (bits_stored - 1)
    return stored


def read_dicom_bytes(data: bytes, max_pixels: int) -> Radiograph:
    """Decode one single-frame greyscale DICOM image held in memory.

    pydicom's warnings (e.g. more pixel data than the frames need) never reach stderr
    or a log: each becomes a one-line entry of ``info["notes"]``.
    """
    from .read import DECODE_LOCK

    collector = _Collector()
    logger = logging.getLogger("pydicom")
    with DECODE_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logger.addHandler(collector)
        propagate, logger.propagate = logger.propagate, False
        try:
            rad = _decode_dicom(data, max_pixels)
        finally:
            logger.removeHandler(collector)
            logger.propagate = propagate
    notes = [*rad.info.get("notes", []), *sorted({_warning_note(w.message) for w in caught} | set(collector.messages))]
    if notes:
        rad.info["notes"] = notes
    return rad


class _Collector(logging.Handler):
    """Keeps pydicom's log messages (WARNING and up) as notes instead of printing them."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(_warning_note(record.getMessage()))


def _warning_note(message) -> str:
    """A decoder warning as one line of at most 200 characters."""
    return " ".join(str(message).split())[:200]


#: the Pixel Data element's tag (7FE0,0010) as little-endian bytes: a file that holds it
#: but decodes without it was cut off inside its pixel data
_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"


def _decode_dicom(data: bytes, max_pixels: int) -> Radiograph:
    """:func:`read_dicom_bytes` without the warning handling."""
    from .read import decoder_reason

    try:
        ds = pydicom.dcmread(_io.BytesIO(data), force=True)
    except Exception as exc:
        raise InputError(f"unreadable DICOM header ({decoder_reason(exc)})") from None
    if "PixelData" not in ds:
        if _PIXEL_DATA_TAG in data[128:]:
            raise InputError("DICOM file is truncated: it ends inside its pixel data")
        raise InputError("DICOM file has no pixel data")
    for keyword in ("Rows", "Columns", "BitsAllocated"):
        if keyword not in ds:
            raise InputError(f"DICOM header lacks {keyword}")
    rows, cols = int(ds.Rows), int(ds.Columns)
    check_pixel_count(cols, rows, max_pixels)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise InputError(f"multi-frame DICOM ({frames} frames); one frame expected")
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    if samples != 1 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise InputError(f"colour DICOM ({photometric}, {samples} samples) is not a radiograph")

    meta = getattr(ds, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        # ACR-NEMA style file without a file meta header: implicit VR little endian.
        ds.file_meta = meta = meta if meta is not None else FileMetaDataset()
        meta.TransferSyntaxUID = ImplicitVRLittleEndian
        has_meta = False
    else:
        has_meta = True
    bits_allocated = int(ds.BitsAllocated)
    bits_stored = int(ds.get("BitsStored", bits_allocated) or bits_allocated)
    if bits_allocated not in (8, 16) or not 1 <= bits_stored <= 16:
        raise InputError(f"unsupported bit depth (allocated {bits_allocated}, stored {bits_stored})")
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)

    if not meta.TransferSyntaxUID.is_compressed:
        declared = rows * cols * bits_allocated // 8
        if len(ds.PixelData) < declared:
            raise InputError(f"DICOM file is truncated: it holds {len(ds.PixelData)} of the {declared} bytes of pixel data its header declares")
    stored = ds.pixel_array
    notes = []
    if stored.ndim == 3 and frames == 1 and stored.shape[1:] == (rows, cols):
        notes.append(f"pixel data holds {stored.shape[0]} frames but the header says 1: the first frame is used")
        stored = stored[0]
    if stored.ndim != 2 or stored.shape != (rows, cols):
        raise InputError(f"decoded pixel data has shape {stored.shape}, header says {rows}x{cols}")
    # White-is-dense internally: MONOCHROME1 inverts, and so does a negative Modality LUT slope.
    inverted = (photometric == "MONOCHROME1") != (slope < 0)
    pixels = stored_to_unit(stored, bits_stored, signed, inverted)

    ts = str(meta.TransferSyntaxUID)
    info = {
        "modality": str(ds.get("Modality", "")),
        "sop_class_uid": str(ds.get("SOPClassUID", "")),
        "transfer_syntax_uid": ts,
        "transfer_syntax": TRANSFER_SYNTAX_NAMES.get(ts, ts),
        "bits_allocated": bits_allocated,
        "signed": signed,
        "inverted": inverted,
        "rescale_slope": slope,
        "rescale_intercept": intercept,
        "window_center": _first(ds.get("WindowCenter")),
        "window_width": _first(ds.get("WindowWidth")),
        "has_file_meta": has_meta,
    }
    if notes:
        info["notes"] = notes
    del ds.PixelData  # keep only the header for copy-and-modify on output
    return Radiograph(pixels=pixels, format="dicom", bits_stored=bits_stored, photometric=photometric, dataset=ds, info=info)


def _first(value):
    if value is None:
        return None
    try:
        return float(value[0]) if isinstance(value, (list, tuple, pydicom.multival.MultiValue)) else float(value)
    except (TypeError, ValueError):
        return None

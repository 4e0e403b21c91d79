"""Decode PNG / JPEG / TIFF / DICOM into a :class:`Radiograph`."""

import io as _io
import os
import re
import threading
import warnings
from pathlib import Path

import numpy as np

from ..errors import ImageTooLargeError, InputError, printable
from .guard import MAX_PIXELS, check_pixel_count
from .radiograph import Radiograph

Source = str | os.PathLike | bytes

#: ``warnings.catch_warnings`` swaps process-wide state; decoders that run in server
#: threads at the same time take turns under this lock so none of their warnings leaks
#: to stderr (they become notes in ``Radiograph.info["notes"]`` instead).
DECODE_LOCK = threading.Lock()

#: EXIF Orientation tag values -> what was done to show the image upright
EXIF_ORIENTATION = {
    2: "mirrored left-right",
    3: "rotated 180 degrees",
    4: "mirrored top-bottom",
    5: "transposed",
    6: "rotated 90 degrees clockwise",
    7: "transversed",
    8: "rotated 90 degrees counter-clockwise",
}


def detect_format(head: bytes) -> str | None:
    """Guess the container from the first bytes: "png", "jpeg", "tiff", "dicom" or None.

    DICOM is recognised by its "DICM" preamble marker or, for ACR-NEMA files with no
    file meta header, by a plausible group-0008/0010/0018/0028 first tag.
    """
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if len(head) >= 8:
        group = int.from_bytes(head[0:2], "little")
        element = int.from_bytes(head[2:4], "little")
        if group in (0x0002, 0x0008, 0x0010, 0x0018, 0x0020, 0x0028) and element < 0x1000:
            return "dicom"
    return None


def _load_bytes(source: Source) -> tuple[bytes, str]:
    """The file's bytes (an upload's ``bytes`` are used as they are, not copied) and a
    printable name for messages."""
    if isinstance(source, bytes):
        return source, "upload"
    if isinstance(source, (bytearray, memoryview)):
        return bytes(source), "upload"
    path = Path(source)
    shown = printable(path)
    try:
        if path.is_dir():
            raise InputError(f"{printable(path.name)}: is a folder, not an image")
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{shown}: no such file") from None
    except PermissionError:
        raise InputError(f"{shown}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{shown}: cannot be read ({exc.strerror or exc})") from None
    return data, printable(path.name)


def decoder_reason(exc: BaseException) -> str:
    """First line of a decoder library's message, without object reprs such as
    ``<_io.BytesIO object at 0x7f...>``; at most 160 characters."""
    text = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = re.sub(r"\s*<[^<>]* at 0x[0-9a-fA-F]+>", "", text).strip() or type(exc).__name__
    return text[:160]


def read_radiograph(source: Source, max_pixels: int | None = None) -> Radiograph:
    """Read a radiograph from a path or from bytes already in memory.

    Parameters
    ----------
    source : path to a PNG, JPEG, TIFF or DICOM file, or the file's bytes.
    max_pixels : pixel limit checked from the header before decoding
        (default :data:`~xraydeblur.io.guard.MAX_PIXELS`).

    Returns
    -------
    Radiograph with ``pixels`` float32 (H, W) in [0, 1], 1.0 = dense.

    Raises
    ------
    InputError : empty, unknown, corrupt, truncated, multi-frame, colour or oversized data.
    """
    data, name = _load_bytes(source)
    if not data:
        raise InputError(f"{name}: file is empty")
    kind = detect_format(data[:256])
    if kind is None:
        raise InputError(f"{name}: not a PNG, JPEG, TIFF or DICOM file")
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    try:
        if kind == "dicom":
            from .dicom_read import read_dicom_bytes

            return read_dicom_bytes(data, limit)
        return _read_raster(data, kind, limit)
    except InputError as exc:
        raise type(exc)(f"{name}: {exc}") from None
    except MemoryError:
        raise InputError(f"{name}: image too large to decode in memory") from None
    except Exception as exc:  # decoder libraries raise many types; never leak a traceback
        raise InputError(f"{name}: corrupt or unsupported {kind} data ({decoder_reason(exc)})") from None


def _read_raster(data: bytes, kind: str, limit: int) -> Radiograph:
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = limit  # Pillow's own decompression-bomb guard, set explicitly
    with DECODE_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. TIFF tag or EXIF oddities: never on stderr
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(_io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageTooLargeError(f"image is over the limit of {limit / 1e6:.0f} MP") from None
        check_pixel_count(img.width, img.height, limit)
        if getattr(img, "n_frames", 1) > 1:
            raise InputError(f"multi-frame image ({img.n_frames} frames); one frame expected")
        mode = img.mode
        img.load()
        notes = []
        img = _apply_exif_orientation(img, notes)
    pixels, bits = _raster_to_unit(img, notes)
    info = {"mode": mode, "bits_stored": bits}
    if notes:
        info["notes"] = notes
    return Radiograph(pixels=pixels, format=kind, bits_stored=bits, info=info)


def _exif_orientation(img) -> int:
    """The EXIF Orientation tag (1-8; 1 = upright, also when absent or invalid)."""
    try:
        value = int(img.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block is ignored, like a missing one
        return 1
    return value if value in EXIF_ORIENTATION else 1


def _apply_exif_orientation(img, notes: list[str]):
    """``img`` turned upright as its EXIF Orientation says (what viewers show), with a
    note saying what was done; unchanged when the tag is absent or 1."""
    orientation = _exif_orientation(img)
    if orientation == 1:
        return img
    from PIL import ImageOps

    upright = ImageOps.exif_transpose(img)
    notes.append(f"EXIF orientation {orientation} applied on read: {EXIF_ORIENTATION[orientation]}")
    return upright


def _raster_to_unit(img, notes: list[str] | None = None) -> tuple[np.ndarray, int]:
    """Pillow image of any grey/colour mode -> float32 [0, 1] one channel (H, W), and its
    bit depth. Transparent pixels are flattened onto black (said in ``notes``); a fully
    transparent image is refused."""
    notes = [] if notes is None else notes
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "PA"):
        arr = np.asarray(img, dtype=np.float32) / 255.0
        alpha = arr[..., -1]
        if not alpha.any():
            raise InputError("image is fully transparent (alpha 0 everywhere): there is nothing to deblur")
        colour = arr[..., :-1]
        grey = _luma(colour) if colour.shape[-1] == 3 else colour[..., 0]
        if (alpha < 1).any():
            share = float((alpha < 1).mean())
            notes.append(f"{share:.1%} of the pixels are (partly) transparent: flattened onto black")
        return np.clip(grey * alpha, 0, 1).astype(np.float32), 8  # flatten onto black
    if mode in ("RGB", "CMYK", "YCbCr"):
        arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
        return np.clip(_luma(arr), 0, 1).astype(np.float32), 8
    if mode == "1":
        return np.asarray(img, dtype=np.float32), 8
    if mode == "L":
        return np.asarray(img, dtype=np.float32) / 255.0, 8
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(img).astype(np.float64)
        if arr.min(initial=0) < 0 or arr.max(initial=0) > 65535:
            raise InputError(f"{mode} pixel values outside 0..65535")
        return (arr / 65535.0).astype(np.float32), 16
    if mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise InputError("floating-point image contains NaN or infinity")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0 or hi > 1:
            raise InputError("floating-point image values outside [0, 1]")
        return arr, 16
    raise InputError(f"unsupported image mode {mode}")


def _luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of an (H, W, 3) array; exact for grey content (R = G = B)."""
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114

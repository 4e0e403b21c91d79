"""Decode PNG / JPEG / TIFF / DICOM into a :class:`Radiograph`."""

import io as _io
import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import ImageTooLargeError, InputError
from .guard import MAX_PIXELS, check_pixel_count
from .radiograph import Radiograph

Source = str | os.PathLike | bytes


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
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "upload"
    path = Path(source)
    try:
        if path.is_dir():
            raise InputError(f"{path.name}: is a folder, not an image")
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return data, path.name


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
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{name}: corrupt or unsupported {kind} data ({reason[:160]})") from None


def _read_raster(data: bytes, kind: str, limit: int) -> Radiograph:
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = limit  # Pillow's own decompression-bomb guard, set explicitly
    with warnings.catch_warnings():
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
    pixels, bits = _raster_to_unit(img)
    info = {"mode": mode, "bits_stored": bits}
    return Radiograph(pixels=pixels, format=kind, bits_stored=bits, info=info)


def _raster_to_unit(img) -> tuple[np.ndarray, int]:
    """Pillow image of any grey/colour mode -> float32 [0, 1] one channel, and its bit depth."""
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "PA"):
        arr = np.asarray(img, dtype=np.float32) / 255.0
        alpha = arr[..., -1]
        colour = arr[..., :-1]
        grey = _luma(colour) if colour.shape[-1] == 3 else colour[..., 0]
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

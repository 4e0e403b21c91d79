"""Encode a result next to its source format: PNG (8/16 bit), JPEG, TIFF (16 bit), DICOM.

Files are written atomically (temporary file in the destination folder, then rename),
so an interrupted run never leaves a half-written output.
"""

import io as _io
import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import OutputError, printable
from .radiograph import Radiograph

FORMAT_SUFFIX = {"png": ".png", "jpeg": ".jpg", "tiff": ".tif", "dicom": ".dcm"}
SUFFIX_FORMAT = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff", ".dcm": "dicom", ".dicom": "dicom"}


def output_suffix(fmt: str) -> str:
    """File suffix for a format name ("png" -> ".png")."""
    return FORMAT_SUFFIX[fmt]


def format_for_path(path: str | os.PathLike, default: str) -> str:
    """Format implied by a file name's suffix, or ``default`` when the suffix says nothing."""
    return SUFFIX_FORMAT.get(Path(path).suffix.lower(), default)


def _to_uint(pixels: np.ndarray, bits: int) -> np.ndarray:
    """float [0, 1] (H, W) -> uint8 (bits <= 8) or uint16 stored values, rounded in
    float64 as everywhere else (the API's raw values match the PNG exactly), a block
    of rows at a time so the float64 temporaries stay near 8 MB whatever the size."""
    scale = float((1 << bits) - 1)
    pixels = np.asarray(pixels)
    out = np.empty(pixels.shape, np.uint8 if bits <= 8 else np.uint16)
    rows = max(1, (1 << 20) // max(1, pixels.shape[-1]))
    for start in range(0, pixels.shape[0], rows):
        block = np.clip(pixels[start:start + rows].astype(np.float64), 0, 1) * scale
        out[start:start + rows] = np.rint(block, out=block)
    return out


#: zlib level of written PNGs (see encode_radiograph)
PNG_COMPRESS_LEVEL = 1


def encode_radiograph(
    source: Radiograph,
    pixels: np.ndarray,
    fmt: str | None = None,
    *,
    bits: int | None = None,
    method: str = "unknown",
    model_version: str = "",
    weights_sha256: str = "",
    synthetic: bool = False,
) -> bytes:
    """Encode ``pixels`` (float [0, 1], HxW, 1 = dense) as a file of format ``fmt``.

    ``fmt`` defaults to the source's format. For rasters the bit depth is ``bits`` or
    the source's (8 if it was 8-bit, else 16; JPEG is always 8-bit). For DICOM the
    output is a derived copy of the source header (see :mod:`.dicom_write`); a
    non-DICOM source cannot be written as DICOM; ``synthetic`` labels a DICOM output as
    a synthetic degradation (``xraydeblur blur``) instead of a deblurred image.
    """
    fmt = fmt or source.format
    pixels = np.asarray(pixels, dtype=np.float32)
    if pixels.ndim != 2:
        raise ValueError(f"pixels must be 2-D (H, W), got shape {pixels.shape}")
    if fmt == "dicom":
        from .dicom_write import encode_derived_dicom

        return encode_derived_dicom(
            source, pixels, method=method, model_version=model_version, weights_sha256=weights_sha256, synthetic=synthetic
        )
    from PIL import Image

    depth = bits or (8 if source.bits_stored <= 8 else 16)
    buf = _io.BytesIO()
    if fmt == "jpeg":
        Image.fromarray(_to_uint(pixels, 8)).save(buf, format="JPEG", quality=95)
    elif fmt in ("png", "tiff"):
        arr = _to_uint(pixels, depth)
        img = Image.fromarray(arr)  # uint8 -> "L", uint16 -> "I;16"
        # PNG at zlib level 1: 5x faster than the default level 6 on a 2048 x 2048
        # 16-bit radiograph (0.27 s vs 1.35 s) for a file 3.5 % larger
        options = {"compression": "tiff_deflate"} if fmt == "tiff" else {"compress_level": PNG_COMPRESS_LEVEL}
        img.save(buf, format="PNG" if fmt == "png" else "TIFF", **options)
    else:
        raise ValueError(f"unknown output format {fmt!r}")
    return buf.getvalue()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: permissions of written files: what open() would give (0666 minus the process umask)
FILE_MODE = 0o666 & ~_umask()


def write_bytes_atomic(data: bytes, path: str | os.PathLike) -> Path:
    """Write ``data`` to ``path`` via a temporary file and an atomic rename.

    Raises :class:`~xraydeblur.errors.OutputError` (one line naming ``path``, never the
    temporary file) when the folder cannot be made or written, e.g. a parent is a
    regular file, permission is denied or the disk is full.
    """
    path = Path(path)
    try:
        make_folder(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {printable(path)}: {_os_reason(exc, path.parent)}") from None
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp creates 0600
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {printable(path)}: {_os_reason(exc, path)}") from None
        raise
    return path


def make_folder(folder: Path) -> None:
    """``mkdir -p folder``; an existing file in the way raises NotADirectoryError."""
    for parent in [folder, *folder.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(20, "Not a directory", str(parent))
            break
    folder.mkdir(parents=True, exist_ok=True)


def _os_reason(exc: OSError, near: Path) -> str:
    """An OSError as a short phrase (no errno, no temporary file name)."""
    if isinstance(exc, (NotADirectoryError, FileExistsError)):
        culprit = Path(exc.filename) if exc.filename else near
        return f"{printable(culprit)} is a file, not a folder"
    if isinstance(exc, PermissionError):
        return f"permission denied in {printable(near if near.is_dir() else near.parent)}"
    return (exc.strerror or type(exc).__name__).lower()


def write_radiograph(source: Radiograph, pixels: np.ndarray, path: str | os.PathLike, fmt: str | None = None, **kwargs) -> Path:
    """Encode (see :func:`encode_radiograph`) and write atomically; format from ``fmt``,
    else from the path's suffix, else the source's format. Returns the path written."""
    fmt = fmt or format_for_path(path, source.format)
    return write_bytes_atomic(encode_radiograph(source, pixels, fmt, **kwargs), path)

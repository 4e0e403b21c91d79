"""A measured point spread function read from a file (``xraydeblur deblur --psf``).

A focal-spot or detector PSF measured with a pinhole, slit or edge phantom is an image
of the blur itself. It is accepted as a NumPy ``.npy`` file (a 2-D float or integer
array) or as a grayscale PNG / TIFF (8 or 16 bit), in pixels of the radiographs it is
used on. It must be centred on the middle pixel of an odd-sized array no larger than
:data:`MAX_PSF_SIDE` on either side, finite and non-negative (subtract the background
and clip at 0 first), and not all zero; it is normalised to sum 1 here (and a
non-square one zero-padded to square on both sides, which keeps its centre). Anything else
is refused with a one-line reason (:class:`xraydeblur.errors.InputError`): a PSF is
never silently padded, shifted or clipped.

>>> import numpy as np, tempfile, os
>>> from xraydeblur.degrade import gaussian_kernel
>>> path = os.path.join(tempfile.mkdtemp(), "psf.npy")
>>> np.save(path, 5.0 * gaussian_kernel(1.5))
>>> k = load_psf(path)
>>> k.shape == gaussian_kernel(1.5).shape, round(float(k.sum()), 6)
(True, 1.0)
"""

from pathlib import Path

import numpy as np

from ..errors import InputError

#: largest accepted PSF side (px); the benchmark's widest kernel (15 px motion) is 17
MAX_PSF_SIDE = 129
#: file types read as PSFs
PSF_SUFFIXES = (".npy", ".png", ".tif", ".tiff")


def load_psf(path: str | Path) -> np.ndarray:
    """The PSF stored in ``path`` as float64 (K, K), K odd, sum 1 (a K x L array with
    L < K gets zero columns on both sides, which keeps its centre).

    Raises :class:`~xraydeblur.errors.InputError` (one line, naming the file) when the
    file is missing, unreadable, of another type, or not a valid PSF (see the module
    docstring)."""
    path = Path(path)
    name = path.name
    if path.suffix.lower() not in PSF_SUFFIXES:
        raise InputError(f"--psf {name}: unsupported PSF file type; use .npy, .png or .tif(f)")
    if not path.is_file():
        raise InputError(f"--psf {name}: no such file")
    psf = _read(path)
    return validate_psf(psf, name)


def _read(path: Path) -> np.ndarray:
    return _read_source(path, path.suffix.lower() == ".npy", f"--psf {path.name}")


#: the first bytes of a NumPy .npy file
NPY_MAGIC = b"\x93NUMPY"


def psf_from_bytes(data: bytes, prefix: str = "psf") -> np.ndarray:
    """The PSF in ``data``, the bytes of a ``.npy``, PNG or TIFF file (an upload; never
    written to disk), as :func:`load_psf` returns it. Errors are one line starting with
    ``prefix``."""
    import io

    if not data:
        raise InputError(f"{prefix}: the PSF file is empty")
    return validate_psf(_read_source(io.BytesIO(data), data.startswith(NPY_MAGIC), prefix), prefix=prefix)


def _read_source(source, is_npy: bool, prefix: str) -> np.ndarray:
    """Array from a path or file object holding a .npy (``is_npy``) or an image."""
    try:
        if is_npy:
            return np.load(source, allow_pickle=False)
        from PIL import Image

        with Image.open(source) as img:
            if img.mode not in ("L", "I;16", "I;16B", "I;16L", "I", "F"):
                raise InputError(f"{prefix}: PSF image must be single-channel grayscale, not {img.mode}")
            return np.asarray(img)
    except InputError:
        raise
    except Exception as exc:  # corrupt or truncated file, pickled object array, ...
        raise InputError(f"{prefix}: cannot read a PSF from it ({type(exc).__name__})") from None


def validate_psf(psf: np.ndarray, name: str = "PSF", prefix: str | None = None) -> np.ndarray:
    """Check a PSF array (see the module docstring) and return it as float64 (K, K) with
    sum 1, zero-padded to square on both sides if it is not. Errors start with
    ``prefix`` (default ``"--psf NAME"``)."""
    name = prefix or f"--psf {name}"
    psf = np.asarray(psf)
    if psf.dtype.kind not in "biuf":
        raise InputError(f"{name}: PSF must hold numbers, not {psf.dtype}")
    if psf.ndim != 2:
        raise InputError(f"{name}: PSF must be a 2-D array, got shape {psf.shape}")
    if psf.shape[0] % 2 == 0 or psf.shape[1] % 2 == 0:
        raise InputError(f"{name}: PSF sides must be odd (centred on the middle pixel), got {psf.shape[0]} x {psf.shape[1]}")
    if max(psf.shape) > MAX_PSF_SIDE:
        raise InputError(f"{name}: PSF is {psf.shape[0]} x {psf.shape[1]} px; at most {MAX_PSF_SIDE} px per side")
    psf = psf.astype(np.float64)
    if not np.isfinite(psf).all():
        raise InputError(f"{name}: PSF has NaN or infinite values")
    if (psf < 0).any():
        raise InputError(f"{name}: PSF has negative values; subtract the background and clip at 0 first")
    total = psf.sum()
    if total <= 0:
        raise InputError(f"{name}: PSF is all zero")
    side = max(psf.shape)  # both sides odd: zero rows/columns on both sides keep the centre
    dy, dx = (side - psf.shape[0]) // 2, (side - psf.shape[1]) // 2
    return np.pad(psf / total, ((dy, dy), (dx, dx)))

"""Limits checked from the header, before any pixel data is decoded, and cheap facts
about decoded pixels (too small, flat) that spare the methods pointless work."""

import os

import numpy as np

from ..errors import ImageTooLargeError, ImageTooSmallError, InputError

#: Largest accepted image in pixels (width x height). 25 MP (5000 x 5000) covers every
#: radiograph detector (the largest CR/DX plates are about 4300 x 4300 = 18.5 MP) and
#: keeps one image's peak memory under the budget stated in README ("Limits");
#: override with XRAYDEBLUR_MAX_PIXELS.
MAX_PIXELS = int(os.environ.get("XRAYDEBLUR_MAX_PIXELS", 25_000_000))
#: Smallest accepted side in pixels: the methods pad by reflection and the metrics
#: need some context; the CLI and the API refuse smaller images with the same reason.
MIN_SIDE = 16


def check_pixel_count(width: int, height: int, limit: int | None = None) -> None:
    """Raise :class:`ImageTooLargeError` (or :class:`InputError` for nonsense sizes)."""
    limit = MAX_PIXELS if limit is None else limit
    if width <= 0 or height <= 0:
        raise InputError(f"image declares an invalid size {width}x{height}")
    if width * height > limit:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {width * height / 1e6:.1f} MP, over the limit of {limit / 1e6:.0f} MP"
        )


def check_min_side(width: int, height: int) -> None:
    """Raise :class:`ImageTooSmallError` when a side (pixels) is under :data:`MIN_SIDE`;
    the reason is the one the REST API gives."""
    if min(width, height) < MIN_SIDE:
        raise ImageTooSmallError(f"image is {width}x{height}; at least {MIN_SIDE}x{MIN_SIDE} pixels are needed")


def flat_value(pixels: np.ndarray) -> float | None:
    """The common value of an image whose pixels are all equal, else None.

    ``pixels``: any array (float32 (H, W) in [0, 1] for a radiograph). Costs one
    comparison pass and no full-size temporary for the common (non-flat) case, which
    stops at the first block of 1 M pixels that differs.
    """
    flat = np.asarray(pixels).reshape(-1)
    if flat.size == 0:
        return None
    first = flat[0]
    step = 1 << 20
    for start in range(0, flat.size, step):
        if not np.all(flat[start:start + step] == first):
            return None
    return float(first)

"""Limits checked from the header, before any pixel data is decoded."""

import os

from ..errors import ImageTooLargeError, InputError

#: Largest accepted image in pixels (width x height). 64 MP covers every radiograph
#: detector (the largest are about 4300 x 4300); override with XRAYDEBLUR_MAX_PIXELS.
MAX_PIXELS = int(os.environ.get("XRAYDEBLUR_MAX_PIXELS", 64_000_000))


def check_pixel_count(width: int, height: int, limit: int | None = None) -> None:
    """Raise :class:`ImageTooLargeError` (or :class:`InputError` for nonsense sizes)."""
    limit = MAX_PIXELS if limit is None else limit
    if width <= 0 or height <= 0:
        raise InputError(f"image declares an invalid size {width}x{height}")
    if width * height > limit:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {width * height / 1e6:.1f} MP, over the limit of {limit / 1e6:.0f} MP"
        )

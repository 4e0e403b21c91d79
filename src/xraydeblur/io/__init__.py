"""Reading and writing radiographs (PNG, JPEG, TIFF, DICOM).

Every reader returns a :class:`Radiograph`: ``pixels`` is ``float32`` ``(H, W)`` in
``[0, 1]`` with 1.0 = dense/bright (MONOCHROME2 convention; MONOCHROME1 sources are
inverted on read and restored on write), scaled by ``2**bits_stored - 1`` so a round
trip reproduces the stored values exactly.

Example
-------
>>> from xraydeblur.io import read_radiograph, write_radiograph   # doctest: +SKIP
>>> rad = read_radiograph("chest.dcm")                              # doctest: +SKIP
>>> write_radiograph(rad, rad.pixels, "copy.dcm", method="identity")  # doctest: +SKIP
"""

from .guard import MAX_PIXELS, MIN_SIDE, check_min_side, check_pixel_count, flat_value
from .radiograph import Radiograph
from .read import detect_format, read_radiograph
from .write import encode_radiograph, output_suffix, write_radiograph

__all__ = [
    "MAX_PIXELS",
    "MIN_SIDE",
    "Radiograph",
    "check_min_side",
    "check_pixel_count",
    "detect_format",
    "encode_radiograph",
    "flat_value",
    "output_suffix",
    "read_radiograph",
    "write_radiograph",
]

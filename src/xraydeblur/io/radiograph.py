"""The in-memory radiograph: normalised pixels plus what is needed to write it back."""

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Radiograph:
    """A decoded radiograph.

    Attributes
    ----------
    pixels : float32 array, shape (H, W), values in [0, 1]; 1.0 = dense (bright on a
        MONOCHROME2 display). ``stored = round(pixels * (2**bits_stored - 1))`` (after
        undoing MONOCHROME1 inversion) gives back the file's stored values.
    format : "png" | "jpeg" | "tiff" | "dicom".
    bits_stored : significant bits per stored value (8 for 8-bit rasters, 10-16 for DICOM).
    photometric : photometric interpretation of the source ("MONOCHROME1" or
        "MONOCHROME2"; rasters are "MONOCHROME2").
    dataset : for DICOM, the source header as a ``pydicom.Dataset`` (pixel data removed);
        ``None`` for rasters.
    info : small dict of descriptive facts (mode, modality, transfer syntax, rescale...).
    """

    pixels: np.ndarray
    format: str
    bits_stored: int
    photometric: str = "MONOCHROME2"
    dataset: Any = None
    info: dict = field(default_factory=dict)

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def max_stored(self) -> int:
        """Largest stored value, ``2**bits_stored - 1``: the scale of ``pixels``."""
        return (1 << self.bits_stored) - 1

    def with_pixels(self, pixels: np.ndarray) -> "Radiograph":
        """A copy carrying new pixels (same metadata); the original is untouched."""
        pixels = np.asarray(pixels, dtype=np.float32)
        if pixels.shape != self.pixels.shape:
            raise ValueError(f"shape {pixels.shape} differs from the source {self.pixels.shape}")
        return Radiograph(pixels, self.format, self.bits_stored, self.photometric, self.dataset, dict(self.info))

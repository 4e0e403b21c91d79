"""Synthetic non-anatomical structures for failure-mode studies.

Radiographs carry things that are not anatomy: radiopaque lead markers ("R"/"L") and
wires or tubes that are imaged (so blurred with the patient), and text that the modality
burns into the pixels after acquisition (so sharp even when the anatomy is blurred).
These functions draw such structures into a float image in [0, 1] and return the
changed image and a boolean mask of the pixels they touched; the masks let a study
score a method on those pixels alone.

All sizes are in pixels of the image they are drawn into; images are float32 (H, W)
in [0, 1]; masks are bool (H, W).

>>> import numpy as np
>>> img = np.full((64, 64), 0.3, np.float32)
>>> marked, mask = lead_marker(img, "R", top=8, left=8, height=24)
>>> bool(marked[mask].min() >= 0.9), bool(mask.any())
(True, True)
"""

import numpy as np


def _text_mask(shape: tuple[int, int], text: str, top: int, left: int, height: int) -> np.ndarray:
    """Bool (H, W) mask of ``text`` rendered with Pillow's bundled font, its capital
    letters about ``height`` px tall, the top-left corner of its box at (top, left)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=max(6, round(height * 1.4)))
    canvas = Image.new("L", (shape[1], shape[0]), 0)
    draw = ImageDraw.Draw(canvas)
    x0, y0, _, _ = draw.textbbox((0, 0), text, font=font)
    draw.text((left - x0, top - y0), text, fill=255, font=font)
    return np.asarray(canvas) > 127


def lead_marker(image: np.ndarray, letter: str = "R", top: int = 16, left: int = 16, height: int = 40, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Draw a radiopaque marker letter (bright: at least ``level``) into ``image``.

    Draw it into the SHARP image before blurring: a lead marker lies in the beam and
    is blurred with the patient. Returns (image float32 (H, W), mask bool (H, W)).
    """
    out = np.array(image, dtype=np.float32, copy=True)
    mask = _text_mask(out.shape, letter, top, left, height)
    out[mask] = np.maximum(out[mask], level)
    return out, mask


def burned_in_text(image: np.ndarray, text: str = "PORTABLE AP", top: int = 8, left: int = 8, height: int = 12, level: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Overwrite pixels with annotation text at ``level`` (white by default).

    Draw it AFTER blurring and noise: the modality burns text into the stored pixels,
    so it is sharp in a blurred radiograph and an ideal restoration leaves it as it is.
    Returns (image float32 (H, W), mask bool (H, W)).
    """
    out = np.array(image, dtype=np.float32, copy=True)
    mask = _text_mask(out.shape, text, top, left, height)
    out[mask] = level
    return out, mask


def wire(image: np.ndarray, start: tuple[float, float], end: tuple[float, float], bend: float = 20.0, width: float = 2.0, contrast: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Add a thin bright curve (an ECG lead, a catheter) from ``start`` to ``end``
    ((row, col) px), bowed sideways by ``bend`` px at its middle, ``width`` px wide,
    ``contrast`` brighter than the background (clipped to 1).

    Draw it into the SHARP image before blurring (it is in the beam). Returns
    (image float32 (H, W), mask bool (H, W) of pixels the wire raised by > 1% of
    ``contrast``).
    """
    out = np.array(image, dtype=np.float32, copy=True)
    t = np.linspace(0.0, 1.0, 4 * int(np.hypot(end[0] - start[0], end[1] - start[1]) + 1))
    (r0, c0), (r1, c1) = start, end
    length = np.hypot(r1 - r0, c1 - c0) or 1.0
    normal = np.array([-(c1 - c0), r1 - r0]) / length
    rows = r0 + (r1 - r0) * t + bend * np.sin(np.pi * t) * normal[0]
    cols = c0 + (c1 - c0) * t + bend * np.sin(np.pi * t) * normal[1]
    yy, xx = np.indices(out.shape, dtype=np.float32)
    distance = np.full(out.shape, np.inf, np.float32)
    for r, c in zip(rows, cols):
        distance = np.minimum(distance, np.hypot(yy - r, xx - c))
    profile = np.clip(width / 2 + 0.5 - distance, 0.0, 1.0)  # anti-aliased edge
    out = np.clip(out + contrast * profile, 0.0, 1.0).astype(np.float32)
    return out, profile > 0.01

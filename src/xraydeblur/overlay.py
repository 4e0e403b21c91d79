"""Burned-in overlays: text and markers the modality wrote into the pixels afterwards.

A radiograph's annotations ("PORTABLE AP", a patient position label) are often burned
into the stored pixels at the brightest value, after acquisition: they are sharp even
when the anatomy is blurred. No blur kernel explains them, so deconvolution with a
known kernel rings over the whole image around them and a network "sharpens" strokes
that were already sharp (see ``benchmarks/failure_modes.py``). Every method therefore
runs on the image with such overlays filled in from their surroundings, and the
overlay pixels are then put back exactly as they were (:func:`run_around_overlays`).
The safeguard ignores the residual on and next to them.

An overlay pixel is one at the top of the value range (>= :data:`LEVEL`, in [0, 1])
in a connected group that is sharper than blurred anatomy: it has a step of more than
:data:`EDGE_STEP` to a 4-neighbour somewhere, or it is a thin stroke (at least
:data:`THIN_MIN_PX` pixels, half of them removed by a 3 x 3 opening) with a step of
more than :data:`THIN_STEP` (white text on bright anatomy). :data:`MARGIN_PX` pixels
around it (the anti-aliased rim of the strokes) are included. Saturated pixels that are
not overlays but pass this test (a clipped thin wire) are only returned unchanged.

>>> import numpy as np
>>> img = np.full((32, 32), 0.4, np.float32)
>>> img[10:14, 5:20] = 1.0  # a sharp white bar
>>> int(burned_in_mask(img).sum()) > 60
True
"""

from typing import Callable

import numpy as np
from scipy.ndimage import binary_dilation, binary_opening, gaussian_filter, label

#: smallest value (in [0, 1]) counted as "written at the top of the range"
LEVEL = 0.995
#: a jump larger than this between 4-neighbours is sharper than any blurred anatomy
EDGE_STEP = 0.25
#: a thin top-of-range stroke needs only this step to count (text on bright anatomy)
THIN_STEP = 0.08
#: smallest thin group counted (px): isolated clipped noise pixels are not text
THIN_MIN_PX = 8
#: pixels added around the strokes (their anti-aliased rim)
MARGIN_PX = 1


def _largest_step(x: np.ndarray) -> np.ndarray:
    """Float (H, W): each pixel's largest absolute jump to a 4-neighbour."""
    step = np.zeros(x.shape, np.float32)
    dy, dx = np.abs(np.diff(x, axis=0)), np.abs(np.diff(x, axis=1))
    np.maximum(step[:-1], dy, out=step[:-1])
    np.maximum(step[1:], dy, out=step[1:])
    np.maximum(step[:, :-1], dx, out=step[:, :-1])
    np.maximum(step[:, 1:], dx, out=step[:, 1:])
    return step


def burned_in_mask(image: np.ndarray) -> np.ndarray:
    """Bool (H, W): pixels of ``image`` (float (H, W) in [0, 1]) that belong to sharp,
    top-of-range overlays (text, burned-in markers) plus their rim. Empty if none."""
    x = np.asarray(image, dtype=np.float32)
    bright = x >= LEVEL
    if not bright.any():
        return np.zeros(x.shape, bool)
    step = _largest_step(x)
    stepped = bright & (step > THIN_STEP)
    if not stepped.any():  # no top-of-range pixel next to any step: nothing to find
        return np.zeros(x.shape, bool)
    groups, count = label(bright)
    sharp = np.unique(groups[stepped & (step > EDGE_STEP)])
    thin = bright & ~binary_opening(bright, structure=np.ones((3, 3), bool))
    sizes = np.bincount(groups.ravel(), minlength=count + 1)
    thin_share = np.bincount(groups[thin], minlength=count + 1) / np.maximum(sizes, 1)
    stroked = np.unique(groups[stepped])
    stroked = stroked[(sizes[stroked] >= THIN_MIN_PX) & (thin_share[stroked] >= 0.5)]
    keep = np.union1d(sharp, stroked)
    mask = np.isin(groups, keep[keep > 0])
    return binary_dilation(mask, iterations=MARGIN_PX) if MARGIN_PX and mask.any() else mask


def fill_masked(image: np.ndarray, mask: np.ndarray, sigma: float = 2.0, rounds: int = 6) -> np.ndarray:
    """``image`` (H, W) float32 with the ``mask`` pixels replaced by a smooth fill from
    the unmasked pixels around them (normalised Gaussian averaging, widening each
    round until every masked pixel is reached)."""
    x = np.asarray(image, dtype=np.float32)
    if not mask.any():
        return x.copy()
    known = (~mask).astype(np.float32)
    out = x.copy()
    todo = mask.copy()
    for r in range(rounds):
        s = sigma * 2**r
        weight = gaussian_filter(known, s, mode="reflect")
        value = gaussian_filter(x * known, s, mode="reflect")
        ok = todo & (weight > 1e-3)
        out[ok] = value[ok] / weight[ok]
        todo &= ~ok
        if not todo.any():
            break
    out[todo] = float(x[~mask].mean()) if (~mask).any() else 0.5
    return out


def run_around_overlays(run: Callable[..., np.ndarray], image: np.ndarray, kernel: np.ndarray | None) -> np.ndarray:
    """``run(image, kernel)`` with burned-in overlays kept out of it: the method sees
    the image with overlays filled in, and the overlay pixels of its result are the
    input's, unchanged. Without overlays this is exactly ``run(image, kernel)``.

    A ``run`` with the attribute ``accepts_observed = True`` is also told which pixels
    were filled in: it is called as ``run(filled, kernel, observed=w)`` with ``w``
    float32 (H, W), 1 on observed pixels and 0 on filled ones, so that a data term
    (the kernel-aware data step) does not try to explain the fill, which no kernel
    produced, and ring around it."""
    mask = burned_in_mask(image)
    if not mask.any():
        return run(image, kernel)
    filled = fill_masked(image, mask)
    if getattr(run, "accepts_observed", False):
        result = run(filled, kernel, observed=(~mask).astype(np.float32))
    else:
        result = run(filled, kernel)
    out = np.array(result, dtype=np.float32, copy=True)
    out[mask] = image[mask]
    return out

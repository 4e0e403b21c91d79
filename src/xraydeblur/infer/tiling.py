"""Tiled inference with overlap and smooth (raised-cosine) blending.

Written here rather than taken from MONAI's ``sliding_window_inference``: importing
MONAI costs about 4 s of CPU at every CLI start on the 2-core target machines, and
this needs ~50 lines.
"""

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np


def tile_layout(length: int, tile: int, overlap: int, align: int = 16) -> tuple[int, list[int]]:
    """(tile side, start offsets) covering ``length`` pixels with the fewest tiles of at
    most ``tile`` px that overlap by at least ``overlap`` px, spread evenly.

    Evenly spread tiles are smaller than ``tile`` where that is enough, so less work is
    repeated in overlaps (2080 px: 5 tiles of 480 px instead of 5 of 512 px). The side
    is rounded up to a multiple of ``align`` px (what a 4-level U-Net pads to anyway).

    >>> tile_layout(2080, 512, 64)
    (480, [0, 400, 800, 1200, 1600])
    """
    if length <= tile:
        return length, [0]
    n = math.ceil((length - overlap) / (tile - overlap))
    side = min(tile, align * math.ceil((length + (n - 1) * overlap) / (n * align)))
    return side, [round(i * (length - side) / (n - 1)) for i in range(n)]


def _taper(length: int, overlap: int, at_start: bool, at_end: bool) -> np.ndarray:
    """1-D weight at inner tile edges: 0 over the outer quarter of the overlap (where
    the network sees its own padding), then a raised cosine up to 1; 1 elsewhere."""
    w = np.ones(length, np.float32)
    cut = overlap // 4
    rise = overlap - cut
    ramp = np.zeros(overlap, np.float32)
    ramp[cut:] = 0.5 - 0.5 * np.cos(np.pi * (np.arange(rise) + 0.5) / rise)
    if overlap and not at_start:
        w[:overlap] = ramp
    if overlap and not at_end:
        w[-overlap:] = ramp[::-1]
    return w


def tiled_apply(
    predict: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    tile: int = 512,
    overlap: int = 64,
    fixed_tile: bool = False,
    workers: int = 1,
) -> np.ndarray:
    """Apply ``predict`` tile by tile and blend.

    Parameters
    ----------
    predict : maps a float32 batch (1, C, h, w) to (1, 1, h, w).
    image : float32 (C, H, W) network input (values in [0, 1], full precision kept).
    tile, overlap : tile side and overlap in pixels (``overlap < tile``).
    fixed_tile : the network accepts only ``tile`` x ``tile`` inputs (the paper's
        autoencoder): smaller images are reflect-padded up to it.
    workers : tiles predicted at once from a thread pool (``predict`` must be
        thread-safe, e.g. a single-threaded onnxruntime session). On 2 CPU cores two
        single-threaded tiles ran faster than one two-threaded tile.
        At most ``2 * workers`` tiles are in flight, so memory stays bounded.

    Returns
    -------
    float32 (H, W). Where tiles overlap, outputs are blended with raised-cosine
    weights, so seams do not show; the outer ``overlap // 4`` pixels of each inner tile
    edge are discarded, so a network whose receptive field radius is below that gives
    exactly the whole-image result. An image that fits in one tile is processed whole.
    """
    if image.ndim != 3:
        raise ValueError(f"image must be (C, H, W), got {image.shape}")
    c, h, w = image.shape
    if fixed_tile and (h < tile or w < tile):
        ph, pw = max(0, tile - h), max(0, tile - w)
        padded = np.pad(image, ((0, 0), (0, ph), (0, pw)), mode="reflect" if min(h, w) > max(ph, pw) else "edge")
        return tiled_apply(predict, padded, tile, overlap, fixed_tile)[:h, :w]
    if fixed_tile:
        (th, ys), (tw, xs) = (tile, _fixed_starts(h, tile, overlap)), (tile, _fixed_starts(w, tile, overlap))
    else:
        (th, ys), (tw, xs) = tile_layout(h, tile, overlap), tile_layout(w, tile, overlap)
    out = np.zeros((h, w), np.float32)
    weight = np.zeros((h, w), np.float32)
    boxes = [(y, x) for y in ys for x in xs]

    def run(box):
        y, x = box
        return np.asarray(predict(np.ascontiguousarray(image[None, :, y : y + th, x : x + tw])), dtype=np.float32)[0, 0]

    for (y, x), pred in zip(boxes, _ordered_map(run, boxes, workers)):
        wy = _taper(th, min(overlap, th // 2), y == ys[0], y == ys[-1])
        wx = _taper(tw, min(overlap, tw // 2), x == xs[0], x == xs[-1])
        wt = wy[:, None] * wx[None, :]
        out[y : y + th, x : x + tw] += pred * wt
        weight[y : y + th, x : x + tw] += wt
    return out / weight


def _fixed_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Starts of ``tile``-px tiles (fixed-size networks) stepping by ``tile - overlap``."""
    if length <= tile:
        return [0]
    return list(range(0, length - tile, max(1, tile - overlap))) + [length - tile]


def _ordered_map(fn, items: list, workers: int):
    """``map(fn, items)`` in order, with up to ``workers`` calls running at once and at
    most ``2 * workers`` results waiting."""
    if workers <= 1 or len(items) <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(workers) as pool:
        pending = [pool.submit(fn, item) for item in items[: 2 * workers]]
        for i in range(len(items)):
            result = pending.pop(0).result()
            if i + 2 * workers < len(items):
                pending.append(pool.submit(fn, items[i + 2 * workers]))
            yield result

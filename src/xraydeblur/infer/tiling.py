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
    repeated in overlaps. The side is an *odd* multiple of ``align`` px (``align``:
    what a 4-level U-Net pads to anyway): on the 2-core target the flagship ran slower
    per pixel on sides that are multiples of 32 px, a cache effect of power-of-two
    strides (``benchmarks/trials/tile_layout.py``, benchmarks/results/trials/tile_layout.json). Up to 3 more tiles are taken to reach an odd side;
    if none fits, the side is the plain multiple of ``align`` (at most ``tile``).

    >>> tile_layout(2080, 256, 32)
    (240, [0, 204, 409, 613, 818, 1022, 1227, 1431, 1636, 1840])
    """
    if length <= tile:
        return length, [0]
    fewest = math.ceil((length - overlap) / (tile - overlap))

    def smallest_side(n: int) -> int:
        return math.ceil((length + (n - 1) * overlap) / n)

    def layout(n: int, side: int) -> tuple[int, list[int]]:
        return side, [round(i * (length - side) / (n - 1)) for i in range(n)]

    for n in range(fewest, fewest + 4):
        units = math.ceil(smallest_side(n) / align)
        side = align * (units if units % 2 else units + 1)
        if side <= tile:
            return layout(n, side)
    return layout(fewest, min(tile, align * math.ceil(smallest_side(fewest) / align)))


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

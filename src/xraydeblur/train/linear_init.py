"""Closed-form start for a network with a linear path: the least-squares linear filter.

A 9 x 9 linear filter fitted by least squares on training pairs (sharp ~ filter *
blurred + bias) already deblurs the paper's protocol well: +2.44 dB at Gaussian sigma
1.5 on the validation split (``benchmarks/trials/srcnn_linear_init.py``). Gradient descent finds that filter only very slowly (the
autocorrelation of radiographs makes the problem ill-conditioned), so SRCNN trained from
the identity stopped well short of it. Starting the network *at* this filter and
training from there keeps the paper's architecture and loss; only the initial weights
differ.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def least_squares_filter(source, size: int = 9, pairs: int = 300, stride: int = 2) -> tuple[np.ndarray, float]:
    """The linear filter that best maps blurred to sharp pixels on training pairs.

    Args:
        source: an object with ``pair(i) -> (blurred, sharp, kernel)`` (float32 HxW in
            [0, 1]; e.g. :class:`xraydeblur.data.pairs.PaperPairs`).
        size: filter side in pixels (odd).
        pairs: number of pairs ``source.pair(0 .. pairs-1)`` used.
        stride: every ``stride``-th pixel in each direction is a sample (neighbours
            are nearly redundant).

    Returns ``(filter, bias)``: ``filter`` float64 (size, size) as a cross-correlation
    (what ``torch.nn.Conv2d`` computes: output pixel i = sum_a filter[a] * blurred[i - r + a],
    r = size // 2), applied to valid windows only; ``bias`` in [0, 1] intensity units.

    Example:
        >>> from xraydeblur.data.pairs import PaperPairs  # doctest: +SKIP
        >>> filt, bias = least_squares_filter(PaperPairs(rows, 224, (0.5, 3.0)))  # doctest: +SKIP
    """
    if size % 2 != 1:
        raise ValueError(f"filter size must be odd, got {size}")
    r = size // 2
    n = size * size + 1
    normal, rhs = np.zeros((n, n)), np.zeros(n)
    for i in range(pairs):
        blurred, sharp = source.pair(i)[:2]
        windows = sliding_window_view(np.asarray(blurred, np.float64), (size, size))[::stride, ::stride]
        x = np.concatenate([windows.reshape(-1, size * size), np.ones((windows.shape[0] * windows.shape[1], 1))], axis=1)
        y = np.asarray(sharp, np.float64)[r : r + windows.shape[0] * stride : stride, r : r + windows.shape[1] * stride : stride].reshape(-1)
        normal += x.T @ x
        rhs += x.T @ y
    solution = np.linalg.solve(normal + 1e-8 * np.trace(normal) / n * np.eye(n), rhs)
    return solution[:-1].reshape(size, size), float(solution[-1])

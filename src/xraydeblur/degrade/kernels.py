"""Point spread functions. Each returns a float64 (k, k) array, k odd, summing to 1.

Lengths are in pixels. Angles are in degrees, counter-clockwise from the +x (column)
axis, with rows pointing down.
"""

import numpy as np


def _odd(n: float) -> int:
    n = int(np.ceil(n))
    return n if n % 2 == 1 else n + 1


def _normalise(kernel: np.ndarray) -> np.ndarray:
    kernel = np.clip(kernel, 0, None)
    total = kernel.sum()
    if total <= 0:
        raise ValueError("kernel has no positive weight")
    return kernel / total


def _grid(size: int, supersample: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (x, y) of a size x size grid centred on 0."""
    half = (size - 1) / 2
    step = 1.0 / supersample
    offsets = (np.arange(supersample) + 0.5) * step - 0.5
    axis = (np.arange(size)[:, None] - half + offsets[None, :]).ravel()
    return np.meshgrid(axis, axis, indexing="xy")


def _bin(fine: np.ndarray, supersample: int) -> np.ndarray:
    size = fine.shape[0] // supersample
    return fine.reshape(size, supersample, size, supersample).mean(axis=(1, 3))


def gaussian_kernel(sigma: float, sigma_y: float | None = None, angle: float = 0.0, size: int | None = None) -> np.ndarray:
    """Gaussian PSF: isotropic (``sigma``) or anisotropic (``sigma`` along ``angle``,
    ``sigma_y`` across it). Size defaults to 2*ceil(4*max sigma)+1.

    >>> gaussian_kernel(1.0).shape
    (9, 9)
    """
    sy = sigma if sigma_y is None else sigma_y
    if sigma <= 0 or sy <= 0:
        raise ValueError("sigma must be positive")
    size = size or _odd(2 * np.ceil(4 * max(sigma, sy)) + 1)
    x, y = _grid(size)
    theta = np.deg2rad(angle)
    u = x * np.cos(theta) - y * np.sin(theta)
    v = x * np.sin(theta) + y * np.cos(theta)
    return _normalise(np.exp(-0.5 * ((u / sigma) ** 2 + (v / sy) ** 2)))


def motion_line_kernel(length: float, angle: float = 0.0, supersample: int = 8) -> np.ndarray:
    """Uniform straight-line motion of ``length`` pixels at ``angle`` degrees
    (anti-aliased by supersampling).

    >>> motion_line_kernel(9, 0).shape
    (11, 11)
    """
    if length <= 0:
        raise ValueError("length must be positive")
    size = _odd(length + 2)
    theta = np.deg2rad(angle)
    n = int(max(8, length * supersample * 2))
    t = np.linspace(-length / 2, length / 2, n)
    points = np.stack([t * np.cos(theta), -t * np.sin(theta)], axis=1)
    return _rasterise(points, size)


def _rasterise(points: np.ndarray, size: int) -> np.ndarray:
    """Bilinear splat of equally weighted (x, y) points onto a centred size x size grid."""
    half = (size - 1) / 2
    kernel = np.zeros((size, size))
    px, py = points[:, 0] + half, points[:, 1] + half
    x0, y0 = np.floor(px).astype(int), np.floor(py).astype(int)
    fx, fy = px - x0, py - y0
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xs, ys = x0 + dx, y0 + dy
        ok = (xs >= 0) & (xs < size) & (ys >= 0) & (ys < size)
        np.add.at(kernel, (ys[ok], xs[ok]), w[ok])
    return _normalise(kernel)


def motion_trajectory_kernel(length: float, seed: int | np.random.Generator | None = None, smoothness: float = 0.7) -> np.ndarray:
    """Random smooth camera-shake-like trajectory of total path ``length`` pixels.

    A velocity vector is rotated by smoothly varying random angles (``smoothness`` in
    [0, 1): higher = straighter), integrated, rescaled to the requested length, centred,
    and rasterised with bilinear weights. Deterministic for a given seed.
    """
    if length <= 0:
        raise ValueError("length must be positive")
    rng = np.random.default_rng(seed)
    steps = int(max(32, 8 * length))
    turn = rng.normal(0, 1, steps) * (1 - smoothness) * 0.6
    # low-pass the turning rate so the path is smooth
    turn = np.convolve(turn, np.ones(9) / 9, mode="same")
    heading = rng.uniform(0, 2 * np.pi) + np.cumsum(turn)
    velocity = np.stack([np.cos(heading), np.sin(heading)], axis=1)
    path = np.concatenate([[[0.0, 0.0]], np.cumsum(velocity, axis=0)])
    path *= length / steps
    path -= (path.max(axis=0) + path.min(axis=0)) / 2
    extent = np.abs(path).max() * 2
    return _rasterise(path, _odd(extent + 3))


def disk_kernel(radius: float, supersample: int = 8) -> np.ndarray:
    """Uniform disk of ``radius`` pixels (a uniform focal spot, out-of-focus blur).

    >>> disk_kernel(2).shape
    (5, 5)
    """
    if radius <= 0:
        raise ValueError("radius must be positive")
    size = _odd(2 * radius + 1)
    x, y = _grid(size, supersample)
    fine = (x * x + y * y <= radius * radius).astype(np.float64)
    return _normalise(_bin(fine, supersample))


def exponential_kernel(scale: float, cutoff: float = 1e-3) -> np.ndarray:
    """Scintillator light spread ``exp(-r / scale)`` (``scale`` in pixels), truncated
    where it falls below ``cutoff`` of its peak."""
    if scale <= 0:
        raise ValueError("scale must be positive")
    radius = scale * np.log(1 / cutoff)
    size = _odd(2 * np.ceil(radius) + 1)
    x, y = _grid(size)
    return _normalise(np.exp(-np.hypot(x, y) / scale))

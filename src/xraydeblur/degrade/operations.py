"""Blur operations: each takes an image (H, W) in [0, 1] and returns (blurred, kernel)."""

import numpy as np

from .convolve import blur
from .kernels import disk_kernel, exponential_kernel, gaussian_kernel, motion_line_kernel, motion_trajectory_kernel

Result = tuple[np.ndarray, np.ndarray]


def gaussian_blur(image: np.ndarray, sigma: float) -> Result:
    """Isotropic Gaussian blur, ``sigma`` in pixels (the paper's degradation)."""
    kernel = gaussian_kernel(sigma)
    return blur(image, kernel), kernel


def anisotropic_gaussian_blur(image: np.ndarray, sigma_x: float, sigma_y: float, angle: float = 0.0) -> Result:
    """Gaussian blur with widths ``sigma_x`` (along ``angle`` degrees) and ``sigma_y``."""
    kernel = gaussian_kernel(sigma_x, sigma_y, angle)
    return blur(image, kernel), kernel


def motion_blur(image: np.ndarray, length: float, angle: float = 0.0) -> Result:
    """Straight-line motion blur of ``length`` pixels at ``angle`` degrees."""
    kernel = motion_line_kernel(length, angle)
    return blur(image, kernel), kernel


def random_motion_blur(image: np.ndarray, length: float, seed: int | None = None, smoothness: float = 0.7) -> Result:
    """Motion blur along a random smooth trajectory of path ``length`` pixels."""
    kernel = motion_trajectory_kernel(length, seed=seed, smoothness=smoothness)
    return blur(image, kernel), kernel


def disk_blur(image: np.ndarray, radius: float) -> Result:
    """Uniform focal-spot (disk) blur of ``radius`` pixels."""
    kernel = disk_kernel(radius)
    return blur(image, kernel), kernel


def exponential_blur(image: np.ndarray, scale: float) -> Result:
    """Detector (scintillator) light-spread blur ``exp(-r/scale)``, ``scale`` in pixels."""
    kernel = exponential_kernel(scale)
    return blur(image, kernel), kernel

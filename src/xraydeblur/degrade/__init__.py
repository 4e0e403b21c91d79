"""Physics of radiograph degradation: blur kernels, convolution, noise.

Blur in radiography comes from the focal spot (size and geometry), light spread in
the detector (scintillator) and patient motion; noise is mostly quantum (Poisson) plus
electronic read noise. Every blur function returns ``(blurred, kernel)`` with the kernel
(odd size, sum 1, float64) it used, so non-blind methods and the data-consistency check
can reuse it. All lengths are in pixels.

Example
-------
>>> import numpy as np
>>> from xraydeblur.degrade import gaussian_blur, poisson_gaussian_noise
>>> sharp = np.full((64, 64), 0.5, np.float32)
>>> blurred, kernel = gaussian_blur(sharp, sigma=2.0)
>>> round(float(kernel.sum()), 6)
1.0
>>> noisy = poisson_gaussian_noise(blurred, dose=1000, read_noise=0.002, seed=0)
"""

from .convolve import blur, convolve_same
from .kernels import (
    disk_kernel,
    exponential_kernel,
    gaussian_kernel,
    motion_line_kernel,
    motion_trajectory_kernel,
)
from .noise import jpeg_artifacts, poisson_gaussian_noise, quantize
from .operations import (
    anisotropic_gaussian_blur,
    disk_blur,
    exponential_blur,
    gaussian_blur,
    motion_blur,
    random_motion_blur,
)
from .spec import Degradation, make_kernel

__all__ = [
    "Degradation",
    "anisotropic_gaussian_blur",
    "blur",
    "convolve_same",
    "disk_blur",
    "disk_kernel",
    "exponential_blur",
    "exponential_kernel",
    "gaussian_blur",
    "gaussian_kernel",
    "jpeg_artifacts",
    "make_kernel",
    "motion_blur",
    "motion_line_kernel",
    "motion_trajectory_kernel",
    "poisson_gaussian_noise",
    "quantize",
    "random_motion_blur",
]

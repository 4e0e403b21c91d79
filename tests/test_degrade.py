"""Degradation model: kernels sum to 1, match reference convolution; noise statistics."""

import numpy as np
import pytest
from scipy.ndimage import convolve

from xraydeblur.degrade import (
    Degradation,
    anisotropic_gaussian_blur,
    blur,
    disk_blur,
    disk_kernel,
    exponential_blur,
    gaussian_blur,
    gaussian_kernel,
    motion_blur,
    motion_line_kernel,
    motion_trajectory_kernel,
    poisson_gaussian_noise,
    quantize,
    random_motion_blur,
)


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    return np.clip(rng.random((64, 80)), 0, 1).astype(np.float32)


@pytest.mark.parametrize(
    "op,kwargs",
    [
        (gaussian_blur, {"sigma": 2.0}),
        (anisotropic_gaussian_blur, {"sigma_x": 3.0, "sigma_y": 1.0, "angle": 30.0}),
        (motion_blur, {"length": 9.0, "angle": 45.0}),
        (random_motion_blur, {"length": 12.0, "seed": 3}),
        (disk_blur, {"radius": 2.0}),
        (exponential_blur, {"scale": 1.5}),
    ],
)
def test_kernel_sums_to_one_and_matches_reference_convolution(image, op, kwargs):
    out, kernel = op(image, **kwargs)
    assert kernel.ndim == 2 and kernel.shape[0] % 2 == 1 and kernel.shape[0] == kernel.shape[1]
    assert abs(kernel.sum() - 1) < 1e-12 and kernel.min() >= 0
    reference = convolve(image.astype(np.float64), kernel, mode="mirror")
    np.testing.assert_allclose(out, np.clip(reference, 0, 1), atol=1e-5)
    assert out.shape == image.shape and out.dtype == np.float32


def test_kernel_geometry():
    g = gaussian_kernel(2.0)
    ys, xs = np.mgrid[: g.shape[0], : g.shape[1]] - g.shape[0] // 2
    assert abs(np.sum(g * xs**2) - 4.0) < 0.01  # variance = sigma**2
    line = motion_line_kernel(9, 0)
    assert np.count_nonzero(line.sum(axis=1) > 1e-6) == 1  # horizontal line: one row
    assert np.count_nonzero(line.sum(axis=0) > 0.05) == 9  # 9 px long (anti-aliased ends below)
    d = disk_kernel(2)
    assert d[2, 2] > 0 and d[0, 0] < d[2, 2]
    a, b = motion_trajectory_kernel(10, seed=1), motion_trajectory_kernel(10, seed=1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, motion_trajectory_kernel(10, seed=2)) or a.shape != motion_trajectory_kernel(10, seed=2).shape
    with pytest.raises(ValueError):
        gaussian_kernel(0)


def test_noise_has_stated_mean_and_variance():
    x = np.full((400, 400), 0.4, np.float32)
    dose, read = 1000.0, 0.01
    noisy = poisson_gaussian_noise(x, dose, read, seed=0)
    assert abs(noisy.mean() - 0.4) < 1e-3
    expected_var = 0.4 / dose + read**2
    assert abs(noisy.var() / expected_var - 1) < 0.03
    np.testing.assert_array_equal(noisy, poisson_gaussian_noise(x, dose, read, seed=0))


def test_degradation_spec_and_quantize(image):
    d = Degradation("motion", {"length": 9, "angle": 30}, dose=2000, read_noise=0.002)
    assert d.name == "motion-length9-angle30+noise"
    out1, k = d.apply(image, seed=1)
    out2, _ = d.apply(image, seed=1)
    np.testing.assert_array_equal(out1, out2)
    assert np.allclose(blur(image, k), Degradation("motion", {"length": 9, "angle": 30}).apply(image)[0])
    q = quantize(image, 8)
    assert np.allclose(q * 255, np.rint(q * 255), atol=1e-4)

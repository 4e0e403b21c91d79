"""Metrics match scikit-image; sharpness falls with blur."""

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from xraydeblur.degrade import gaussian_blur
from xraydeblur.metrics import psnr, sharpness, ssim


def test_psnr_ssim_match_scikit_image():
    rng = np.random.default_rng(0)
    ref = gaussian_blur(rng.random((96, 120)).astype(np.float32), 1.0)[0].astype(np.float64)
    est = np.clip(ref + rng.normal(0, 0.03, ref.shape), 0, 1)
    assert abs(psnr(ref, est) - peak_signal_noise_ratio(ref, est, data_range=1)) < 1e-6
    sk = structural_similarity(ref, est, data_range=1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert abs(ssim(ref, est) - sk) < 1e-4
    inner = structural_similarity(ref[8:-8, 8:-8], est[8:-8, 8:-8], data_range=1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert abs(ssim(ref, est, border=8) - inner) < 1e-4
    assert psnr(ref, ref) == float("inf")


def test_sharpness_falls_monotonically_with_blur_and_is_scale_free():
    rng = np.random.default_rng(1)
    img = gaussian_blur(rng.random((128, 128)).astype(np.float32), 0.7)[0]
    values = [sharpness(gaussian_blur(img, s)[0]) for s in (0.5, 1, 2, 3, 4)]
    assert all(a > b for a, b in zip(values, values[1:]))
    assert abs(sharpness(img * 0.5) - sharpness(img)) < 1e-9

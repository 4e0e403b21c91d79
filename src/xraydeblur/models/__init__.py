"""Deblurring networks. All take float32 (N, C, H, W) images in [0, 1] (1.0 = dense/bright)
and return (N, 1, H, W).

* ``srcnn``  - SRCNN (3 convs, paper padding), any H, W.
* ``dae``    - convolutional VAE, fixed size ``image_size`` (default 224).
* ``dae_spatial`` - the VAE with a spatial latent and a residual output (the working
  variant of ``dae``), any H, W.
* ``unet``   - 23-layer UNet with reduced width, any H, W.
* ``nafnet`` - NAFNet-style network with global residual, any H, W; in_channels=2
  for the kernel-aware variant (blurred + Wiener estimate).

The names below are loaded on first use (:mod:`.zoo`), so that importing the shipped
weights' registry (``xraydeblur.models.registry``, needed to list the methods) does not
import PyTorch.
"""

__all__ = ["ARCHITECTURES", "build_model", "count_parameters", "SRCNN", "DeepAutoencoder", "SpatialVAE", "UNet", "NAFNet"]


def __getattr__(name: str):
    if name in __all__:
        from . import zoo

        return getattr(zoo, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Deblurring networks. All take float32 (N, C, H, W) images in [0, 1] (1.0 = dense/bright)
and return (N, 1, H, W).

* ``srcnn``  - SRCNN (3 convs, paper padding), any H, W.
* ``dae``    - convolutional VAE, fixed size ``image_size`` (default 224).
* ``dae_spatial`` - the VAE with a spatial latent and a residual output (the working
  variant of ``dae``), any H, W.
* ``unet``   - 23-layer UNet with reduced width, any H, W.
* ``nafnet`` - NAFNet-style network with global residual, any H, W; in_channels=2
  for the kernel-aware variant (blurred + Wiener estimate).
"""

from torch import nn

from ._utils import count_parameters
from .dae import DeepAutoencoder, SpatialVAE
from .nafnet import NAFNet
from .srcnn import SRCNN
from .unet import UNet

ARCHITECTURES = {"srcnn": SRCNN, "dae": DeepAutoencoder, "dae_spatial": SpatialVAE, "unet": UNet, "nafnet": NAFNet}


def build_model(arch: str, **kwargs) -> nn.Module:
    """Instantiate the architecture named ``arch`` (a key of ARCHITECTURES) with ``kwargs``."""
    try:
        cls = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}") from None
    return cls(**kwargs)


__all__ = ["ARCHITECTURES", "build_model", "count_parameters", "SRCNN", "DeepAutoencoder", "SpatialVAE", "UNet", "NAFNet"]

"""The architectures by name and :func:`build_model` (imports PyTorch; see the package docstring)."""

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

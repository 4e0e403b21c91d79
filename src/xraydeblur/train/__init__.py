"""Training pipeline: YAML config -> checkpoints, logs and shippable weights.

Plain PyTorch; multi-process data-parallel (DDP) when launched with ``torchrun``
(``xraydeblur train --nproc N`` does that for you). See :func:`.loop.train`.
"""

from .config import load_config
from .loop import train

__all__ = ["load_config", "train"]

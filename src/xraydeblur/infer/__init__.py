"""Full-resolution inference of restoration networks.

* :mod:`.tiling` - overlapping tiles with smooth blending; peak memory bounded by the
  tile size whatever the image size;
* :mod:`.backends` - PyTorch (CPU/CUDA) and onnxruntime (CPU) executors;
* :mod:`.network` - a shipped network as a deblurring method (``run(image, kernel)``).
"""

from .tiling import tiled_apply

__all__ = ["tiled_apply"]

"""Full-resolution inference of restoration networks.

* :mod:`.tiling` - overlapping tiles with smooth blending; peak memory bounded by the
  tile size whatever the image size;
* :mod:`.backends` - PyTorch (CPU/CUDA) and onnxruntime (CPU) executors;
* :mod:`.network` - a shipped network as a deblurring method (``run(image, kernel)``);
* :mod:`.learned_psf` - the learned PSF estimator (onnxruntime).

Both onnxruntime users live here, so the package sets what onnxruntime must see before
it is first imported: without ``ORT_DISABLE_TELEMETRY`` it writes a telemetry session
file (".ses") into the temp folder, and nothing may be written to disk while serving
(nothing is sent anywhere either).
"""

import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from .tiling import tiled_apply  # noqa: E402

__all__ = ["tiled_apply"]

"""A trained network (shipped weights) as a deblurring method."""

import json
from functools import cached_property
from pathlib import Path

import numpy as np

from .tiling import tiled_apply

# PyTorch, the models and the backends are imported where a network first runs: listing
# the methods (``xraydeblur deblur --method list``, the API's model list) must not pay
# for importing torch.

#: largest tile side (px). Tiles are then spread evenly, with sides that are odd
#: multiples of 16 px (:func:`.tiling.tile_layout`; a 2048 px image with its margins
#: takes 6 x 6 tiles of 400 px). Smaller tiles run faster per pixel on the 2-core
#: target (they stay in cache) but the network's channel attention then pools over
#: less of the image; 448 px was the fastest side within 0.01 dB of the closest to
#: whole-image inference on validation (``benchmarks/trials/tile_layout.py``,
#: benchmarks/results/trials/tile_layout.json).
TILE = 448

#: reflect padding added around the image before tiling (px): keeps image borders
#: away from the networks' own padding artefacts (SRCNN's paper padding)
MARGIN = 16


class NetworkMethod:
    """Loads ``stem.safetensors`` + ``stem.json`` lazily; ``__call__(image, kernel)``.

    ``image``: float32 (H, W) in [0, 1]. ``kernel``: PSF or None. A kernel-aware method
    (``kernel_aware``, default the weights' own ``kernel_aware`` flag) given a kernel
    finishes with the data-consistency step of :mod:`.data_step` (``data_step=False``
    turns it off; ``identified_gains``: the step's gains for a PSF identified from the
    image, as ``nafnet-psf`` gives it; ``learned_step``: the learned step (at any noise
    level), as a known kernel and ``nafnet-auto`` get it, instead of the tuned gains and Morozov's rule,
    which ``nafnet-psf`` was chosen and scored with; ``step_stem``: that step's weights, default the
    shipped ones); a blind one ignores the kernel. Networks trained with a second input
    channel (``in_channels`` 2 in the weights' ``kwargs``) also get the Wiener
    deconvolution with the kernel (or, when None, with a Gaussian of the blindly
    estimated width) as that channel.
    """

    def __init__(
        self,
        stem: str | Path,
        tile: int = TILE,
        overlap: int = 64,
        device: str | None = None,
        backend: str | None = None,
        data_step: bool = True,
        kernel_aware: bool | None = None,
        identified_gains: bool = False,
        learned_step: bool = True,
        step_stem: str | Path | None = None,
    ):
        self.stem, self.tile, self.overlap, self.device, self.prefer = Path(stem), tile, overlap, device, backend
        self.use_data_step = data_step
        self.identified_gains = identified_gains
        self.learned_step = learned_step
        self.step_stem = None if step_stem is None else Path(step_stem)
        self.meta = json.loads(self.stem.with_suffix(".json").read_text())
        self.kernel_aware = bool(self.meta.get("kernel_aware")) if kernel_aware is None else kernel_aware

    @cached_property
    def model(self):
        """The network, built from the metadata read at construction. The weights file
        must be the one that metadata describes (same sha256): a file swapped in
        between (e.g. re-shipped weights) raises instead of running a mismatched pair."""
        import hashlib

        path = self.stem.with_suffix(".safetensors")
        expected = self.meta.get("weights_sha256")
        if expected and hashlib.sha256(path.read_bytes()).hexdigest() != expected:
            raise RuntimeError(f"{path.name} does not match its metadata (sha256 differs); the weights changed since they were registered")
        from ..models import build_model
        from ..train.weights import load_weights

        state, _ = load_weights(self.stem)
        model = build_model(self.meta["arch"], **dict(self.meta.get("kwargs", {})))
        model.load_state_dict(state)
        if self.meta["arch"] == "nafnet":
            from ..models.nafnet_fused import fuse_nafnet

            model = fuse_nafnet(model)  # same function, fewer operators
        return model.eval()

    @property
    def in_channels(self) -> int:
        """1 (the image) or 2 (the image and its Wiener deconvolution)."""
        return int(self.meta.get("kwargs", {}).get("in_channels", 1))

    @property
    def fixed_size(self) -> int | None:
        return int(self.meta.get("kwargs", {}).get("image_size", 224)) if self.meta["arch"] == "dae" else None

    @cached_property
    def backend(self):
        from .backends import choose_backend
        from .onnx_cache import cache_key

        key = cache_key(self.meta.get("weights_sha256", ""), self.in_channels, self.fixed_size)
        # the PyTorch model is built only when the cache has no checked export of it
        return choose_backend(lambda: self.model, self.in_channels, self.device, self.fixed_size, self.prefer, cache_key=key)

    def network_input(self, image: np.ndarray, kernel: np.ndarray | None) -> np.ndarray:
        """(C, H, W) float32 input: the image, plus the Wiener channel for 2-channel networks."""
        x = image[None].astype(np.float32)
        if self.in_channels == 1:
            return x
        if kernel is None:
            from ..classical.estimate import estimate_gaussian_sigma
            from ..degrade import gaussian_kernel

            kernel = gaussian_kernel(max(0.3, estimate_gaussian_sigma(image)))
        import torch

        from ..models.kernel_input import network_input

        with torch.no_grad():
            both = network_input(torch.from_numpy(x)[None], torch.from_numpy(np.asarray(kernel, np.float32))[None, None])
        return both[0].numpy()

    #: :func:`xraydeblur.overlay.run_around_overlays` passes ``observed`` (the data step's
    #: data-term weights: 0 on filled-in burned-in overlays)
    accepts_observed = True

    def __call__(self, image: np.ndarray, kernel: np.ndarray | None = None, observed: np.ndarray | None = None) -> np.ndarray:
        """Restore ``image`` (H, W) in [0, 1]; with a kernel and a kernel-aware network,
        the data step follows, fitting only pixels where ``observed`` (H, W, weights in
        [0, 1], default all 1) is positive. Float32 (H, W) in [0, 1]."""
        x = self.network_input(np.asarray(image, np.float32), kernel)
        h, w = image.shape
        m = min(MARGIN, h - 1, w - 1)
        x = np.pad(x, ((0, 0), (m, m), (m, m)), mode="reflect")
        fixed = self.fixed_size
        out = tiled_apply(
            self.backend, x, tile=fixed or self.tile, overlap=self.overlap if not fixed else 32, fixed_tile=bool(fixed), workers=self.backend.parallel
        )
        out = np.clip(out[m : m + h, m : m + w], 0, 1)
        if kernel is not None and self.kernel_aware and self.use_data_step:
            from .data_step import data_step

            out = data_step(np.asarray(image, np.float32), out, np.asarray(kernel, np.float64), observed, identified=self.identified_gains, learned=self.learned_step, step_stem=self.step_stem)
        return out

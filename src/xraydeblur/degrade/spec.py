"""A serialisable description of one degradation (blur kernel + optional noise)."""

from dataclasses import asdict, dataclass, field

import numpy as np

from .convolve import blur
from .kernels import disk_kernel, exponential_kernel, gaussian_kernel, motion_line_kernel, motion_trajectory_kernel
from .noise import poisson_gaussian_noise

KERNEL_PARAMS = {
    "gaussian": ("sigma",),
    "anisotropic": ("sigma", "sigma_y", "angle"),
    "motion": ("length", "angle"),
    "trajectory": ("length", "seed"),
    "disk": ("radius",),
    "exponential": ("scale",),
}


def make_kernel(kind: str, **params) -> np.ndarray:
    """Kernel by family name; parameters in pixels/degrees (see :data:`KERNEL_PARAMS`).

    >>> float(make_kernel("disk", radius=2).sum().round(6))
    1.0
    """
    if kind == "gaussian":
        return gaussian_kernel(params["sigma"])
    if kind == "anisotropic":
        return gaussian_kernel(params["sigma"], params["sigma_y"], params.get("angle", 0.0))
    if kind == "motion":
        return motion_line_kernel(params["length"], params.get("angle", 0.0))
    if kind == "trajectory":
        return motion_trajectory_kernel(params["length"], seed=params.get("seed"))
    if kind == "disk":
        return disk_kernel(params["radius"])
    if kind == "exponential":
        return exponential_kernel(params["scale"])
    raise ValueError(f"unknown kernel {kind!r}; choose from {', '.join(KERNEL_PARAMS)}")


@dataclass(frozen=True)
class Degradation:
    """Blur of family ``kind`` with ``params``, then optional Poisson-Gaussian noise.

    ``dose`` (photons per pixel at full scale) ``None`` means noise-free.
    """

    kind: str
    params: dict = field(default_factory=dict)
    dose: float | None = None
    read_noise: float = 0.0

    @property
    def name(self) -> str:
        """Short stable label, e.g. ``gaussian-sigma2`` or ``motion-length9-angle30+noise``."""
        values = "-".join(f"{k}{self.params[k]:g}" for k in KERNEL_PARAMS[self.kind] if k in self.params and k != "seed")
        return f"{self.kind}-{values}" + ("+noise" if self.dose else "")

    def kernel(self) -> np.ndarray:
        return make_kernel(self.kind, **self.params)

    def apply(self, image: np.ndarray, seed: int | np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Degrade ``image`` (H, W) in [0, 1]; returns (degraded float32, kernel)."""
        kernel = self.kernel()
        out = blur(image, kernel)
        if self.dose:
            out = poisson_gaussian_noise(out, self.dose, self.read_noise, seed=seed)
        return out, kernel

    def to_dict(self) -> dict:
        return asdict(self)

"""The fixed, seeded benchmark set: every method is scored on exactly these cases.

For each test image: a centre crop of ``crop`` x ``crop`` pixels at native resolution
(blurred with its surrounding context, so there are no artificial borders), under each
of :data:`BENCHMARK_DEGRADATIONS` - Gaussian sigma 1, 2, 3 px; straight motion of 5, 9,
15 px (angle drawn per image from the seed); a disk of radius 2 px - each without and
with noise (dose :data:`BENCHMARK_DOSE` photons at full scale, read noise
:data:`BENCHMARK_READ_NOISE`), then 8-bit quantisation noise is NOT added (the
inputs stay float so high-bit-depth behaviour is measured).
"""

import hashlib
from dataclasses import dataclass

import numpy as np

from ..degrade import Degradation, blur, poisson_gaussian_noise
from .manifest import ManifestRow, load_image

BENCHMARK_DOSE = 2000.0
BENCHMARK_READ_NOISE = 0.002

_BLURS = [
    ("gaussian", {"sigma": 1.0}),
    ("gaussian", {"sigma": 2.0}),
    ("gaussian", {"sigma": 3.0}),
    ("motion", {"length": 5.0}),
    ("motion", {"length": 9.0}),
    ("motion", {"length": 15.0}),
    ("disk", {"radius": 2.0}),
]

#: the benchmark's blur families without and with noise (motion angle filled per case)
BENCHMARK_DEGRADATIONS = [Degradation(k, p) for k, p in _BLURS] + [
    Degradation(k, p, dose=BENCHMARK_DOSE, read_noise=BENCHMARK_READ_NOISE) for k, p in _BLURS
]


def _seed(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("|".join(parts).encode()).digest()[:4], "big")


@dataclass(frozen=True)
class BenchmarkCase:
    """One (image, degradation) pair of the benchmark; ``load()`` materialises it."""

    row: ManifestRow
    degradation: Degradation
    seed: int
    crop: int

    @property
    def key(self) -> str:
        return f"{self.row.file}::{self.degradation.name}"

    @property
    def family(self) -> str:
        """Degradation label without the per-image motion angle, e.g. ``motion-length9+noise``."""
        d = self.degradation
        params = {k: v for k, v in d.params.items() if k != "angle"}
        return Degradation(d.kind, params, d.dose, d.read_noise).name

    def load(self, image: np.ndarray | None = None, draw=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sharp, degraded, kernel): float32 (c, c), float32 (c, c), float64 (k, k).

        ``draw(context, margin) -> context``, optional, changes the sharp crop before it
        is blurred: ``context`` is the crop with ``margin`` px of blur context on every
        side, float32 (c + 2 margin, c + 2 margin) in [0, 1] (failure-mode studies put
        markers and wires in the beam this way)."""
        full = load_image(self.row) if image is None else image
        kernel = self.degradation.kernel()
        margin = kernel.shape[0] // 2 + 1
        c = min(self.crop, full.shape[0] - 2 * margin, full.shape[1] - 2 * margin)
        y0, x0 = (full.shape[0] - c) // 2, (full.shape[1] - c) // 2
        context = full[y0 - margin : y0 + c + margin, x0 - margin : x0 + c + margin]
        if draw is not None:
            context = draw(np.asarray(context, np.float32), margin)
        degraded = blur(context, kernel)[margin:-margin, margin:-margin]
        if self.degradation.dose:
            degraded = poisson_gaussian_noise(degraded, self.degradation.dose, self.degradation.read_noise, seed=self.seed)
        sharp = context[margin:-margin, margin:-margin]
        return np.ascontiguousarray(sharp, dtype=np.float32), degraded.astype(np.float32), kernel


def benchmark_cases(rows: list[ManifestRow], crop: int = 512, degradations: list[Degradation] | None = None) -> list[BenchmarkCase]:
    """All cases for ``rows`` (image-major order), deterministic."""
    cases = []
    for row in rows:
        for deg in degradations or BENCHMARK_DEGRADATIONS:
            seed = _seed(row.file, deg.name)
            if deg.kind == "motion" and "angle" not in deg.params:
                angle = float(np.random.default_rng(_seed(row.file, "angle", f"{deg.params['length']:g}")).uniform(0, 180))
                deg = Degradation(deg.kind, {**deg.params, "angle": round(angle, 1)}, deg.dose, deg.read_noise)
            cases.append(BenchmarkCase(row, deg, seed, crop))
    return cases

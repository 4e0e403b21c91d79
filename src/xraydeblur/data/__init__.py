"""Radiograph datasets from ``../shared/data`` (override with ``XRAYDEBLUR_DATA``).

* :mod:`.manifest` reads ``manifest.csv`` and locates the data;
* :mod:`.splits` makes deterministic patient-level (and source-level) splits;
* :mod:`.pairs` generates (blurred, sharp) training pairs on the fly;
* :mod:`.benchmark` is the fixed, seeded benchmark set every method is scored on.
"""

from .pairs import KERNEL_SIZE, PAPER_PRESET, REALISTIC_PRESET, DegradationSampler, PaperPairs, PatchPairs, pad_kernel, preset, resize_to
from .benchmark import BENCHMARK_DEGRADATIONS, BenchmarkCase, benchmark_cases
from .manifest import DataMissingError, ManifestRow, data_root, load_image, load_manifest, manifest_sha256
from .splits import SOURCES, patient_split, source_split, split_rows

__all__ = [
    "KERNEL_SIZE",
    "PAPER_PRESET",
    "REALISTIC_PRESET",
    "DegradationSampler",
    "PaperPairs",
    "PatchPairs",
    "pad_kernel",
    "preset",
    "resize_to",
    "BENCHMARK_DEGRADATIONS",
    "BenchmarkCase",
    "DataMissingError",
    "ManifestRow",
    "SOURCES",
    "benchmark_cases",
    "data_root",
    "load_image",
    "load_manifest",
    "manifest_sha256",
    "patient_split",
    "source_split",
    "split_rows",
]

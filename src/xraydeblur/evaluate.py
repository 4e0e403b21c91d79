"""Score deblurring methods on fixed, seeded cases; print and write tables.

Two protocols:

* ``benchmark`` - :func:`xraydeblur.data.benchmark_cases`: native-resolution centre
  crops of the test images under Gaussian sigma 1/2/3, motion 5/9/15, disk 2, each
  with and without noise;
* ``paper`` - the paper's protocol: test images resized to 224x224, Gaussian blur
  with sigma drawn once per image from 0.5-3 px (seeded), plus fixed sigma 1, 2, 3.

A *variant* is a method plus what it is told: ``wiener[true]`` gets the true kernel,
``wiener[est]`` estimates it; networks run blind unless kernel-aware
(``nafnet-kernel[true]``). ``blurred`` is the degraded input itself.
"""

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .metrics import psnr, ssim

BORDER = 8


@dataclass(frozen=True)
class Variant:
    method: str  # registry name, or "blurred"
    kernel: str  # "true" | "none"

    @property
    def label(self) -> str:
        if self.method == "blurred":
            return "blurred input"
        if self.kernel == "true":
            return f"{self.method} [true kernel]"
        return f"{self.method} [blind]"


def default_variants(methods: list[str] | None = None) -> list[Variant]:
    """Every registered method: classical with true and estimated kernel, networks
    blind (and kernel-aware ones also with the true kernel). A kernel-aware variant of
    a network that is itself scored (``nafnet-kernel`` runs ``nafnet-blind``'s network)
    is scored with the true kernel only: without one it is that network. A method that
    identifies the PSF itself (``nafnet-psf``) is scored blind only."""
    from .methods import available_methods, get_method

    names = methods or available_methods()
    out = [Variant("blurred", "none")]
    for name in names:
        m = get_method(name)
        if m.kind == "classical" or m.extra.get("kernel_aware"):
            out.append(Variant(name, "true"))
        if m.extra.get("network") not in names or m.identifies_psf:
            out.append(Variant(name, "none"))
    return out


def _split_of(data: dict) -> tuple[str, str | None]:
    """(scheme, held-out source or None) of a training config's ``data`` section."""
    scheme = data.get("scheme", "patient")
    return scheme, data.get("held_out") if scheme == "source" else None


def check_trained_for_split(variants: list[Variant], scheme: str, held_out: str) -> None:
    """Refuse to score a network on images it may have trained on.

    A network may be scored on the ``patient`` test split only if it was trained on
    that split's train part, and on a held-out source only if it was trained with that
    source held out (``scheme: source``); a method with the learned PSF estimator or the
    learned data step only if they were trained on the same split as its network. Raises ValueError
    naming the network.
    """
    from .methods import get_method

    for name in dict.fromkeys(v.method for v in variants if v.method != "blurred"):
        method = get_method(name)
        if method.kind != "network":
            continue
        data = method.extra.get("training_data") or {}
        if method.psf_estimator == "learned" and method.identifies_psf:
            from .infer.learned_psf import ESTIMATOR_DIR, estimator_meta

            estimator = estimator_meta(Path(method.extra.get("psf_estimator_dir") or ESTIMATOR_DIR)).get("config") or {}
            if _split_of(estimator) != _split_of(data):
                raise ValueError(f"{name}: its PSF estimator was trained on {_split_of(estimator)}, its network on {_split_of(data)}")
        if method.extra.get("learned_step"):
            from .infer.learned_step import step_settings

            step = step_settings(Path(method.extra["learned_step"])).get("training_data") or {}
            if _split_of(step) != _split_of(data):
                raise ValueError(f"{name}: its learned data step was trained on {_split_of(step)}, its network on {_split_of(data)}")
        trained = data.get("scheme", "patient")
        ok = trained == scheme and (scheme != "source" or data.get("held_out") == held_out)
        if not ok:
            seen = f"scheme={trained}" + (f", held out {data.get('held_out')}" if trained == "source" else "")
            wanted = "the patient split" if scheme == "patient" else f"{held_out} held out"
            raise ValueError(f"{name} was trained with {seen}, so it may have seen these test images; use weights trained with {wanted} (--weights-dir)")


def paper_cases(rows, sigmas=(None, 1.0, 1.5, 2.0, 3.0), seed: int = 0):
    """(key, family, sharp, blurred, kernel) for the paper protocol; ``None`` = drawn sigma."""
    from .data.pairs import PaperPairs
    from .degrade import Degradation

    pairs = PaperPairs(rows, 224, (0.5, 3.0), seed=seed, fixed=True)
    for i, row in enumerate(rows):
        sharp = pairs.sharp(i)
        for s in sigmas:
            sigma = pairs.sigma(i) if s is None else s
            blurred, kernel = Degradation("gaussian", {"sigma": sigma}).apply(sharp)
            family = "sigma 0.5-3 (drawn)" if s is None else f"sigma {s:g}"
            yield f"{row.file}::{family}", family, sharp, blurred, kernel


def benchmark_iter(rows, crop: int, input_bits: int | None = None):
    """(key, family, sharp, degraded, kernel) per benchmark case of ``rows``.
    ``input_bits``: round ``degraded`` (in [0, 1]) to that many bits, as an 8-bit PNG or
    JPEG or a 10- or 12-bit DICOM stores it, and add "+<bits>bit" (e.g. "+8bit") to the
    key and family; None: float input."""
    suffix = f"+{input_bits}bit" if input_bits else ""
    for case, sharp, degraded, kernel in benchmark_inputs(rows, crop, input_bits):
        yield case.key + suffix, case.family + suffix, sharp, degraded, kernel


def benchmark_inputs(rows, crop: int, input_bits: int | None = None):
    """(case, sharp, degraded, kernel) per :class:`~xraydeblur.data.BenchmarkCase` of
    ``rows``, ``degraded`` rounded to ``input_bits`` bits when given (each radiograph
    is read once)."""
    from .data import benchmark_cases, load_image
    from .degrade import quantize

    for row in rows:
        image = load_image(row)
        for case in benchmark_cases([row], crop=crop):
            sharp, degraded, kernel = case.load(image)
            if input_bits:
                degraded = quantize(degraded, input_bits)
            yield case, sharp, degraded, kernel


def run_variant(variant: Variant, degraded: np.ndarray, kernel: np.ndarray) -> tuple[np.ndarray, float]:
    """(restored, seconds)."""
    if variant.method == "blurred":
        return degraded, 0.0
    from .methods import get_method

    method = get_method(variant.method)
    t = time.perf_counter()
    out = method(degraded, kernel if variant.kernel == "true" else None)
    return out, time.perf_counter() - t


def keep_noise_pair(sharp: np.ndarray, degraded: np.ndarray, kernel: np.ndarray, out: np.ndarray, variant: "Variant", blind_candidates: list) -> tuple[np.ndarray, np.ndarray]:
    """(target, output) for denoise strength 0: the target is ``x + n`` (the sharp image
    plus the case's own noise, ``degraded - kernel * sharp``; exact away from the
    border, so score it on the interior), the output the variant's restoration with the
    noise put back (:func:`xraydeblur.pipeline.keep_noise`, with the true kernel when
    the variant was given it, else the blind PSF the pipeline would use: of
    ``blind_candidates`` (:func:`xraydeblur.pipeline.blind_psf_candidates`) the one that
    best explains the input, :func:`xraydeblur.pipeline.best_explaining_psf`)."""
    from .degrade import blur
    from .pipeline import best_explaining_psf, keep_noise

    target = sharp + (degraded - blur(sharp, kernel).astype(np.float32))
    if variant.method == "blurred":
        return target, degraded
    if variant.kernel == "true":
        return target, keep_noise(degraded, out, kernel, 0.0)
    chosen, reblurred = best_explaining_psf(degraded, np.asarray(out, np.float32), blind_candidates)
    return target, keep_noise(degraded, out, blind_candidates[chosen], 0.0, reblurred)


def evaluate(cases, variants: list[Variant], progress: bool = False) -> list[dict]:
    """One record per (case, variant): PSNR/SSIM full and interior (border 8 px), seconds,
    and ``psnr_s0``/``ssim_s0``: denoise strength 0 scored against ``x + n`` on the
    interior (:func:`keep_noise_pair`); the plain scores are strength 1 against ``x``."""
    from .classical.no_blur import image_blur_evidence
    from .pipeline import blind_psf_candidates

    records = []
    cases = list(cases) if progress else cases
    iterator = cases
    if progress:
        from tqdm import tqdm

        iterator = tqdm(cases, desc="cases")
    for key, family, sharp, degraded, kernel in iterator:
        blind_candidates = blind_psf_candidates(degraded, image_blur_evidence(degraded))[0]  # as the pipeline reads them
        for v in variants:
            out, seconds = run_variant(v, degraded, kernel)
            target0, out0 = keep_noise_pair(sharp, degraded, kernel, out, v, blind_candidates)
            records.append(
                {
                    "case": key,
                    "family": family,
                    "variant": v.label,
                    "psnr": psnr(sharp, out),
                    "ssim": ssim(sharp, out),
                    "psnr_interior": psnr(sharp, out, border=BORDER),
                    "ssim_interior": ssim(sharp, out, border=BORDER),
                    "seconds_per_mp": seconds / (sharp.size / 1e6),
                    "psnr_s0": psnr(target0, out0, border=BORDER),
                    "ssim_s0": ssim(target0, out0, border=BORDER),
                }
            )
    return records


def source_of(case_key: str) -> str:
    """The image source of a case key (``cxr/<source>/file::family`` -> ``<source>``)."""
    parts = case_key.split("::")[0].split("/")
    return parts[1] if len(parts) > 2 else parts[0]


def summarise(records: list[dict], by: str = "family") -> dict:
    """{row: {variant: {psnr, ssim, psnr_interior, ssim_interior, seconds_per_mp, n}}} (means).

    Rows are degradation families (``by="family"``) or image sources (``by="source"``,
    each the mean over every degradation of that source's images)."""
    table: dict = {}
    for r in records:
        row = r["family"] if by == "family" else source_of(r["case"])
        cell = table.setdefault(row, {}).setdefault(r["variant"], {"_rows": []})
        cell["_rows"].append(r)
    for family in table.values():
        for variant, cell in family.items():
            rows = cell.pop("_rows")
            for k in ("psnr", "ssim", "psnr_interior", "ssim_interior", "seconds_per_mp", "psnr_s0", "ssim_s0"):
                if all(k in r for r in rows):  # records written before psnr_s0 existed lack it
                    cell[k] = float(np.mean([r[k] for r in rows]))
            cell["n"] = len(rows)
    return table


def markdown_table(summary: dict, metric: str = "psnr") -> str:
    """Families as rows, variants as columns; best per row in bold."""
    variants: list[str] = []
    for fam in summary.values():
        for v in fam:
            if v not in variants:
                variants.append(v)
    lines = ["| degradation | " + " | ".join(variants) + " |", "|---|" + "---|" * len(variants)]
    for family, cells in summary.items():
        values = [cells.get(v, {}).get(metric) for v in variants]
        present = [x for x in values if x is not None]
        best = max(present) if present and metric != "seconds_per_mp" else None
        fmt = "{:.2f}" if metric.startswith("psnr") or metric == "seconds_per_mp" else "{:.4f}"  # psnr_s0 / ssim_s0 too
        cells_txt = [("**" + fmt.format(x) + "**" if x == best else fmt.format(x)) if x is not None else "" for x in values]
        lines.append(f"| {family} | " + " | ".join(cells_txt) + " |")
    return "\n".join(lines)


def write_results(path: str | Path, meta: dict, records: list[dict]) -> dict:
    summary = summarise(records)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps({**meta, "summary": summary, "summary_by_source": summarise(records, by="source"), "records": records}, indent=1))
    return summary

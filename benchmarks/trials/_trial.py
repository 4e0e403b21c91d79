"""Shared by the validation trial scripts: the benchmark's crops of validation images,
per-row means of scored samples and the trial JSON (command, split, table, samples)."""

import json
import sys

import numpy as np


def validation_crops(images: int, every: int = 5, crop: int = 256):
    """Yield ``(row, case, sharp, blurred, kernel)`` for the fixed benchmark's crops
    (:func:`xraydeblur.data.benchmark_cases`, ``crop`` px) of every ``every``-th
    validation image, at most ``images`` images; the test split is never read."""
    from xraydeblur.data import benchmark_cases, load_image, split_rows

    for row in split_rows("val")[::every][:images]:
        image = load_image(row)
        for case in benchmark_cases([row], crop=crop):
            yield (row, case, *case.load(image))


def crops_at_bits(images: int, crop: int, bits_list: list[int], scheme: str = "patient", held_out: str = "mhh", downscale: float = 1.0, grain: float = 0.0):
    """Yield ``(suffix, case, sharp, degraded, kernel)`` for the fixed benchmark's crops of
    ``images`` evenly spaced validation images (of the split ``scheme``, ``held_out``) at
    each input bit depth of ``bits_list`` (0: float; else rounded as
    :func:`xraydeblur.evaluate.benchmark_inputs` does, and ``suffix`` "+<bits>bit" for the
    row and case names); the test split is never read. ``downscale`` > 1: each radiograph
    first resampled to that factor coarser pixel pitch (:func:`coarser_pitch`; suffix "+pitchF").
    ``grain`` > 0: white Gaussian noise of that standard deviation ([0, 1] units, fixed
    seed per image) added to each radiograph before the crop, so that the *sharp* image
    carries it (suffix "+grainG" in 1/255): a detector whose own noise is part of the truth."""
    from xraydeblur.cli.evaluate import subset
    from xraydeblur.data import benchmark_cases, load_image
    from xraydeblur.data.splits import split_rows
    from xraydeblur.degrade import quantize

    rows = subset(split_rows("val", scheme, held_out), images)
    pitch = (f"+pitch{downscale:g}" if downscale > 1 else "") + (f"+grain{grain * 255:g}" if grain > 0 else "")
    for bits in bits_list:
        for index, row in enumerate(rows):
            image = load_image(row)
            if grain > 0:
                image = with_grain(image, grain, np.random.default_rng(index))
            image = coarser_pitch(image, downscale)
            for case in benchmark_cases([row], crop=crop):
                sharp, degraded, kernel = case.load(image)
                if bits:
                    degraded = quantize(degraded, bits)
                yield (f"+{bits}bit" if bits else "") + pitch, case, sharp, degraded, kernel


def coarser_pitch(image: np.ndarray, factor: float) -> np.ndarray:
    """``image`` (H, W, [0, 1]) resampled to ``factor`` times its pixel pitch (anti-aliased,
    about (H / factor, W / factor)): the same anatomy with more detail per pixel, as in
    radiographs exported at a reduced size (the unseen source's images are 640 x 524).
    ``factor`` <= 1: ``image`` itself."""
    from skimage.transform import rescale

    if factor <= 1.0:
        return image
    return rescale(image, 1.0 / factor, order=3, anti_aliasing=True, preserve_range=True).clip(0, 1).astype(np.float32)


def whole_image_args(doc: str):
    """The parsed command line of a timing trial on one synthetic image: ``--size H W``
    (px, default 2128 x 2000, the shared ``966_fixed.dcm``'s size), ``--repeats`` and
    ``--out`` (its JSON, a Path)."""
    import argparse
    from pathlib import Path

    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, nargs=2, default=[2128, 2000], metavar=("H", "W"))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path)
    return p.parse_args()


def with_grain(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``image`` (H, W, [0, 1]) plus white Gaussian noise of standard deviation ``sigma``
    ([0, 1] units), clipped to [0, 1], float32."""
    return np.clip(image + rng.normal(0.0, sigma, image.shape), 0, 1).astype(np.float32)


def row_means(samples: list[dict], columns: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """``{family: {column: mean PSNR}}`` over ``samples`` (each with ``family`` and a
    ``psnr`` dict holding every column), rows in the order first seen."""
    table = {}
    for family in dict.fromkeys(s["family"] for s in samples):
        rows = [s for s in samples if s["family"] == family]
        table[family] = {c: float(np.mean([s["psnr"][c] for s in rows])) for c in columns}
    return table


def print_markdown(table: dict[str, dict[str, float]], columns: tuple[str, ...], extra: dict | None = None) -> None:
    """Print ``table`` (:func:`row_means`) as a markdown table of ``columns`` (2
    decimals), then one column per ``extra`` entry: ``{header: row -> text}``."""
    extra = extra or {}
    print("\n| row | " + " | ".join((*columns, *extra)) + " |")
    print("|---|" + "---|" * (len(columns) + len(extra)))
    for name, row in table.items():
        cells = [f"{row[c]:.2f}" for c in columns] + [text(row) for text in extra.values()]
        print(f"| {name} | " + " | ".join(cells) + " |")


def write_trial(path: str | None, script: str, table: dict, samples: list[dict]) -> None:
    """Write the trial's JSON to ``path`` (nothing when None); ``script`` is the path the
    command line names, e.g. ``benchmarks/trials/blind_psf_trial.py``."""
    if path:
        with open(path, "w") as fh:
            json.dump({"command": f"python {script} " + " ".join(sys.argv[1:]), "split": "val", "table": table, "samples": samples}, fh, indent=1)


def crop_args(doc: str, bits: list[int]):
    """The parsed command line of a trial over :func:`crops_at_bits`: ``--images``,
    ``--crop`` (px), ``--bits`` (default ``bits``; 0 = float) and ``--out`` (its JSON)."""
    import argparse

    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=4)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--bits", type=int, nargs="+", default=bits)
    p.add_argument("--out")
    return p.parse_args()

"""Helpers shared by CLI commands."""

import argparse
from pathlib import Path

from ..errors import InputError


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps example blocks as written and shows defaults."""


def ensure_not_input(output: Path, inputs: list[Path]) -> None:
    """Refuse to write over any input file."""
    out = output.resolve()
    for src in inputs:
        if src.exists() and src.resolve() == out:
            raise InputError(f"{output}: output would overwrite the input; choose another path")


def add_kernel_arguments(parser: argparse.ArgumentParser, default_kernel: str | None = "gaussian") -> None:
    """Options describing a blur kernel (all lengths in pixels, angles in degrees)."""
    group = parser.add_argument_group("blur kernel (pixels, degrees)")
    group.add_argument("--kernel", choices=["gaussian", "anisotropic", "motion", "trajectory", "disk", "exponential"], default=default_kernel, help="kernel family")
    group.add_argument("--sigma", type=float, help="Gaussian sigma (px); along --angle for anisotropic")
    group.add_argument("--sigma-y", type=float, help="anisotropic Gaussian: sigma across --angle (px)")
    group.add_argument("--angle", type=float, default=0.0, help="angle of motion / anisotropy (degrees)")
    group.add_argument("--length", type=float, help="motion length (px)")
    group.add_argument("--radius", type=float, help="disk radius (px)")
    group.add_argument("--scale", type=float, help="exponential decay length (px)")


def add_psf_argument(parser: argparse.ArgumentParser) -> None:
    """``--psf FILE``: a measured PSF (:func:`xraydeblur.degrade.measured.load_psf`)."""
    parser.add_argument(
        "--psf",
        metavar="FILE",
        help="measured PSF: .npy array or grayscale PNG/TIFF, odd sides, centred, non-negative, in pixels of the input (instead of --kernel/--sigma)",
    )


def degradation_from_args(args, seed: int | None = None):
    """Build a :class:`~xraydeblur.degrade.Degradation` from kernel options."""
    from ..degrade import Degradation
    from ..degrade.spec import KERNEL_PARAMS

    kind = args.kernel
    params = {}
    for name in KERNEL_PARAMS[kind]:
        if name == "seed":
            params["seed"] = seed
            continue
        value = getattr(args, name, None)
        if name == "angle":
            value = args.angle
        if value is None:
            flag = "--" + name.replace("_", "-")
            raise InputError(f"--kernel {kind} needs {flag}")
        if name != "angle" and value <= 0:
            raise InputError(f"--{name.replace('_', '-')} must be positive")
        params[name] = float(value)
    dose = getattr(args, "noise", None)
    return Degradation(kind, params, dose=dose, read_noise=getattr(args, "read_noise", 0.0) if dose else 0.0)

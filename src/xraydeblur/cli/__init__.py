"""Command-line interface: ``xraydeblur COMMAND ...``.

Each sub-command lives in its own module exposing ``register(subparsers)`` (adds the
parser and sets ``func``) so commands stay small and independent. Errors about inputs
are printed as one line and give a non-zero exit code; tracebacks are shown only with
``XRAYDEBLUR_DEBUG=1``.
"""

import argparse
import importlib
import os
import sys

from .. import __version__
from ..errors import InputError

COMMANDS = ("info", "blur", "deblur", "train", "evaluate", "serve", "node")
#: commands that read, process and write images once and exit (see xraydeblur.allocator)
ONE_SHOT = ("info", "blur", "deblur")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xraydeblur",
        description="Deblur X-ray radiographs (PNG, JPEG, TIFF, DICOM up to 16 bit).",
        epilog="Run 'xraydeblur COMMAND --help' for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"xraydeblur {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f".{name}", __name__).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if args.command in ONE_SHOT:
        from ..allocator import tune_allocator

        tune_allocator()
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"xraydeblur: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("xraydeblur: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a traceback for users
        if os.environ.get("XRAYDEBLUR_DEBUG"):
            raise
        reason = str(exc).splitlines()[0] if str(exc) else ""
        print(f"xraydeblur: error: {type(exc).__name__}: {reason}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

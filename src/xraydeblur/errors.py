"""Error types with one-line, user-facing reasons."""


class InputError(ValueError):
    """An input file or upload cannot be used; ``str(err)`` is a one-line reason.

    Raised for unreadable, corrupt, truncated, empty, multi-frame, oversized or
    otherwise unsupported radiographs. The CLI prints it and exits non-zero; the
    REST API maps it to a 4xx response. It never carries pixel data.
    """

    def __init__(self, reason: str):
        super().__init__(" ".join(str(reason).split()))


class ImageTooLargeError(InputError):
    """The image declares more pixels than the configured limit (checked before decoding)."""


class ImageTooSmallError(InputError):
    """The image has a side shorter than :data:`xraydeblur.io.guard.MIN_SIDE` pixels."""


class OutputError(InputError):
    """An output cannot be written (folder missing or a file, no permission, disk full);
    ``str(err)`` names the output path the user gave, never a temporary file."""


def printable(path) -> str:
    """A path (or file name) as text that can always be printed and UTF-8 encoded: bytes
    of the name that are not valid UTF-8 (held by Python as lone surrogates) are written
    as ``\\xHH`` escapes, everything else is unchanged."""
    import os

    return os.fsencode(path).decode("utf-8", "backslashreplace")

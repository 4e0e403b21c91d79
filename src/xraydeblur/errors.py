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

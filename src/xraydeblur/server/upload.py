"""Reading an upload into memory under a byte cap, and content negotiation.

Nothing here touches the disk: a raw body is collected chunk by chunk (stopping as
soon as it passes the cap), and a ``multipart/form-data`` body is split in memory by
python-multipart's streaming parser (Starlette's ``request.form()`` would spool large
files to a temporary file, so it is not used).
"""

from dataclasses import dataclass

from starlette.requests import ClientDisconnect, Request


class ApiError(Exception):
    """An error answer: HTTP ``status`` with a one-line ``detail`` (and extra headers)."""

    def __init__(self, status: int, detail: str, headers: dict | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = " ".join(str(detail).split())
        self.headers = headers or {}


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.3g} MB" if n >= 1e5 else f"{n} bytes"


@dataclass(frozen=True)
class Upload:
    """What a deblur request carried: the image file's bytes and, from a multipart form's
    ``psf`` field, a measured PSF file's bytes (None when absent)."""

    data: bytes
    psf: bytes | None = None


async def read_upload(request: Request, max_bytes: int) -> Upload:
    """The image (raw body, or multipart field ``file``) and an optional measured PSF
    (multipart field ``psf``), all in memory, refusing (413) a body over ``max_bytes``."""
    body = await read_body(request, max_bytes)
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        fields = form_fields(body, content_type)
        return Upload(_file_field(fields), fields.get("psf", (None, None))[1])
    return Upload(body)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw request body, refusing (413) anything over ``max_bytes`` without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise ApiError(400, "Content-Length is not a number") from None
        if length < 0:
            raise ApiError(400, "Content-Length is negative")
        if length > max_bytes:
            raise ApiError(413, f"upload of {_megabytes(length)} is over the limit of {_megabytes(max_bytes)}")
    buffer = bytearray()
    try:
        async for chunk in request.stream():
            buffer += chunk
            if len(buffer) > max_bytes:
                raise ApiError(413, f"upload is over the limit of {_megabytes(max_bytes)}")
    except ClientDisconnect:
        raise ApiError(400, "the client closed the connection during the upload") from None
    return bytes(buffer)


def _file_field(fields: dict[str, tuple[bool, bytes]]) -> bytes:
    """The image: form field ``file``, else the first other part carrying a file name."""
    if "file" in fields:
        return fields["file"][1]
    for name, (has_filename, data) in fields.items():
        if has_filename and name != "psf":
            return data
    raise ApiError(422, "multipart/form-data upload has no 'file' field")


def form_fields(body: bytes, content_type: str) -> dict[str, tuple[bool, bytes]]:
    """The parts of a ``multipart/form-data`` body: field name -> (has a file name,
    bytes); the first part of a name wins."""
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(400, "multipart/form-data without a boundary")

    parts: list[dict] = []
    state: dict = {}

    def on_part_begin():
        parts.append({"headers": {}, "data": bytearray()})
        state["field"], state["value"] = bytearray(), bytearray()

    def on_header_field(data, start, end):
        state["field"] += data[start:end]

    def on_header_value(data, start, end):
        state["value"] += data[start:end]

    def on_header_end():
        parts[-1]["headers"][bytes(state["field"]).lower()] = bytes(state["value"])
        state["field"], state["value"] = bytearray(), bytearray()

    def on_part_data(data, start, end):
        parts[-1]["data"] += data[start:end]

    callbacks = {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_part_data": on_part_data,
    }
    try:
        parser = MultipartParser(boundary, callbacks)
        parser.write(body)
        parser.finalize()
    except (FormParserError, ValueError):
        raise ApiError(400, "malformed multipart/form-data body") from None

    fields: dict[str, tuple[bool, bytes]] = {}
    for part in parts:
        _, disposition = parse_options_header(part["headers"].get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        fields.setdefault(name, (b"filename" in disposition, bytes(part["data"])))
    return fields


#: output format -> media type
MEDIA_TYPES = {"png": "image/png", "dicom": "application/dicom", "json": "application/json", "view": "application/vnd.xraydeblur.view"}
_BY_MEDIA = {
    "image/png": "png",
    "application/dicom": "dicom",
    "application/json": "json",
    "application/vnd.xraydeblur.view": "view",  # the web page's binary answer (view_payload.py)
    "image/*": "png",
    "*/*": "png",
}


@dataclass(frozen=True)
class OutputChoice:
    """Acceptable output formats, best first; ``explicit`` if named by ``?format=``."""

    formats: tuple[str, ...]
    explicit: bool

    def pick(self, input_format: str | None) -> str:
        """The best format for an input of ``input_format`` (DICOM output needs DICOM input)."""
        for fmt in self.formats:
            if fmt != "dicom" or input_format == "dicom":
                return fmt
        raise ApiError(406, "DICOM output needs a DICOM input; ask for image/png or application/json")


def choose_output(format_param: str | None, accept: str | None) -> OutputChoice:
    """Parse ``?format=`` (png, dicom, json or a media type) or else the Accept header."""
    if format_param:
        value = format_param.strip().lower()
        fmt = value if value in MEDIA_TYPES else _BY_MEDIA.get(value)
        if fmt is None or value in ("*/*", "image/*"):
            raise ApiError(422, f"format must be png, dicom or json, not {format_param[:40]!r}")
        return OutputChoice((fmt,), True)
    if not accept or not accept.strip():
        return OutputChoice(("png",), False)
    ranked = []
    for position, item in enumerate(accept.split(",")):
        pieces = [p.strip() for p in item.split(";")]
        media = pieces[0].lower()
        quality = 1.0
        for param in pieces[1:]:
            key, _, val = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(val)
                except ValueError:
                    quality = 0.0
        fmt = _BY_MEDIA.get(media)
        if fmt and quality > 0:
            ranked.append((-quality, position, fmt))
    formats = []
    for _, _, fmt in sorted(ranked):
        if fmt not in formats:
            formats.append(fmt)
    if not formats:
        raise ApiError(406, "Accept must allow image/png, application/dicom or application/json")
    return OutputChoice(tuple(formats), False)

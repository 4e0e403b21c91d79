"""The web page's compact binary result: ``Accept: application/vnd.xraydeblur.view``.

The JSON answer with ``?pixels=true`` carries both images as base64 uint16 (about
42 MB for 4 megapixels). This format carries the same facts and pixels in about the
size of two PNGs of the result, and the browser decodes it with its built-in
``DecompressionStream('deflate')``.

Layout (all integers little-endian)::

    offset 0   4 bytes   magic  b"XDV1"
    offset 4   uint32    n, the header's length in bytes
    offset 8   n bytes   the header: UTF-8 JSON (an object)
    8 + n      ...       the data section: the arrays' bytes, one after the other

The header holds every fact of the JSON answer (``method``, ``width``, ``height``,
``bits``, ``value_max``, ``safeguard``, ``seconds``...; not ``result_png``,
``result_dicom``, ``before_u16``, ``after_u16``) and:

``format``: ``"xraydeblur.view"``; ``version``: 1.

``arrays``: a list of ``{"name", "dtype", "shape", "offset", "length", "filter",
"planes", "compression"}``: the array's bytes are ``data[offset : offset + length]``
(offsets from the start of the data section). To decode: inflate (zlib stream,
``compression`` "deflate"); for ``planes`` 2 the result holds all low bytes, then all
high bytes (byte-plane split of uint16/int16 values); then undo ``filter`` on the
row-major values with wrap-around (mod 2**bits) arithmetic: ``"none"``; ``"up"``
(each value was stored minus the value above it; the first row as is); ``"sub"``
(minus its left neighbour; the first column as is). dtype ``"bytes"`` is a plain
byte string (planes 1, filter none). The filter of each image array is the one that
compressed a sample of its rows best.

Arrays: ``before`` and ``after`` (``uint16``, or ``uint8`` when ``value_max`` <= 255;
shape ``[height, width]``; values on the 0..``value_max`` scale, bright = dense, as
``before_u16``/``after_u16`` of the JSON answer); ``residual`` when the safeguard
produced a residual map: ``int8`` of ``round(z * 127 / residual_scale)``, clipped,
where ``z`` is the local residual over its expected spread at the scale where it is
largest in magnitude (:mod:`xraydeblur.safeguard`)
(``header["residual_scale"]``; ``|z|`` above ``safeguard.threshold`` is flagged);
for DICOM input either ``dicom_head`` and ``dicom_tail`` (``bytes``: the derived
DICOM is head + the ``after`` pixels as stored values + tail, see ``dicom_splice``)
or ``dicom`` (the whole derived DICOM) when its pixels are not stored as such.

``dicom_splice`` (when head/tail are sent): ``{"source": "after", "bytes_per_value":
1 | 2, "signed": bool, "inverted": bool, "bits": bits stored}``: stored value =
``(value_max - v if inverted else v) - (2**(bits-1) if signed else 0)``, written as
little-endian integers of ``bytes_per_value`` bytes (two's complement when signed).

``display``: how the values relate to the file: ``inverted`` (MONOCHROME1 or a
negative slope: the arrays were flipped so that bright = dense), ``signed``,
``rescale_slope`` and ``rescale_intercept`` (modality LUT: value = stored * slope +
intercept), ``window_center`` and ``window_width`` (the file's own window, in
modality units, or null). For non-DICOM input: slope 1, intercept 0, no window.

``identity`` (DICOM only): ``patient_name``, ``patient_id``, ``study_date``,
``study_description``, ``series_description``, as the file holds them (strings, or
null when absent). They are sent in the answer to this request only; the server
neither stores nor logs them.

``result_png_bits``: the depth of the PNG the page saves from ``after`` (8 for an
8-bit source, else 16, as ``format=png``).
"""

import json
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

MEDIA_TYPE = "application/vnd.xraydeblur.view"
MAGIC = b"XDV1"
#: rows sampled to choose each image array's filter
_SAMPLE_ROWS = 96
#: z of the residual map at int8 full scale
RESIDUAL_SCALE = 8.0
#: zlib level of the arrays: on a 2000 x 2128 12-bit radiograph level 3 takes 0.18 s
#: per image against 0.42 s at level 6, for 5 % more bytes
ZLIB_LEVEL = 3


def _filtered(values: np.ndarray, kind: str) -> np.ndarray:
    """``values`` (2-D unsigned) with the ``kind`` filter applied (wrap-around)."""
    out = values.copy()
    if kind == "up":
        out[1:] = values[1:] - values[:-1]
    elif kind == "sub":
        out[:, 1:] = values[:, 1:] - values[:, :-1]
    return out


def _planes(values: np.ndarray) -> bytes:
    """Little-endian bytes, split into byte planes for 16-bit values."""
    if values.dtype.itemsize == 1:
        return values.tobytes()
    pairs = values.astype("<u2").view(np.uint8).reshape(-1, 2)
    return pairs[:, 0].tobytes() + pairs[:, 1].tobytes()


def _best_filter(values: np.ndarray) -> str:
    """The filter that compresses evenly spaced rows of ``values`` best."""
    step = max(1, values.shape[0] // _SAMPLE_ROWS)
    sample = values[::step][:_SAMPLE_ROWS]
    sizes = {kind: len(zlib.compress(_planes(_filtered(sample, kind)), 1)) for kind in ("none", "up", "sub")}
    return min(sizes, key=sizes.get)


def encode_image(values: np.ndarray) -> tuple[dict, bytes]:
    """An image array's entry (without offset) and its compressed bytes."""
    values = np.ascontiguousarray(values)
    kind = _best_filter(values)
    data = zlib.compress(_planes(_filtered(values, kind)), ZLIB_LEVEL)
    dtype = {np.dtype(np.uint8): "uint8", np.dtype(np.uint16): "uint16", np.dtype(np.int8): "int8"}[values.dtype]
    entry = {"dtype": dtype, "shape": list(values.shape), "filter": kind, "planes": values.dtype.itemsize, "compression": "deflate"}
    return entry, data


def decode_image(entry: dict, data: bytes) -> np.ndarray:
    """Inverse of :func:`encode_image` (tests, and the format's reference decoder)."""
    raw = zlib.decompress(data)
    dtype = np.dtype(entry["dtype"]).newbyteorder("<")
    shape = tuple(entry["shape"])
    if entry["planes"] == 2:
        half = len(raw) // 2
        pairs = np.empty((half, 2), np.uint8)
        pairs[:, 0] = np.frombuffer(raw, np.uint8, half)
        pairs[:, 1] = np.frombuffer(raw, np.uint8, half, half)
        values = pairs.reshape(-1).view("<u2")
    else:
        values = np.frombuffer(raw, np.uint8)
    unsigned = values.reshape(shape).copy()
    if entry["filter"] == "up":
        unsigned = np.cumsum(unsigned, axis=0, dtype=unsigned.dtype)
    elif entry["filter"] == "sub":
        unsigned = np.cumsum(unsigned, axis=1, dtype=unsigned.dtype)
    return unsigned.view(dtype)


def stored_values(values: np.ndarray, value_max: int, bits: int, signed: bool, inverted: bool, itemsize: int) -> bytes:
    """The ``dicom_splice`` rule: display values -> the stored values' bytes."""
    stored = values.astype(np.int64)
    if inverted:
        stored = value_max - stored
    if signed:
        stored -= 1 << (bits - 1)
    return stored.astype("<i2" if signed and itemsize == 2 else "<u2" if itemsize == 2 else "i1" if signed else "u1").tobytes()


def dicom_parts(dicom: bytes, after: np.ndarray, value_max: int, bits: int, signed: bool, inverted: bool):
    """``(splice, head, tail)`` if ``dicom`` holds ``after`` as stored values (once), else None."""
    for itemsize in (2, 1) if value_max > 255 else (1, 2):
        pixels = stored_values(after, value_max, bits, signed, inverted, itemsize)
        at = dicom.find(pixels)
        if at >= 0:
            splice = {"source": "after", "bytes_per_value": itemsize, "signed": signed, "inverted": inverted, "bits": bits}
            return splice, dicom[:at], dicom[at + len(pixels):]
    return None


def _text(dataset, keyword: str) -> str | None:
    value = dataset.get(keyword) if dataset is not None else None
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def identity(dataset) -> dict:
    """What identifies a DICOM image to the person viewing it, as the file holds it."""
    keys = {
        "patient_name": "PatientName",
        "patient_id": "PatientID",
        "study_date": "StudyDate",
        "study_description": "StudyDescription",
        "series_description": "SeriesDescription",
    }
    return {name: _text(dataset, keyword) for name, keyword in keys.items()}


def display_facts(info: dict) -> dict:
    """How the arrays relate to the file's values (see the module doc)."""
    def number(value):
        try:
            value = float(value)
        except (TypeError, ValueError):
            return None
        return value if np.isfinite(value) else None

    return {
        "inverted": bool(info.get("inverted", False)),
        "signed": bool(info.get("signed", False)),
        "rescale_slope": number(info.get("rescale_slope")) or 1.0,
        "rescale_intercept": number(info.get("rescale_intercept")) or 0.0,
        "window_center": number(info.get("window_center")),
        "window_width": number(info.get("window_width")),
    }


def residual_int8(z: np.ndarray) -> np.ndarray:
    """The safeguard's z map as int8 (``RESIDUAL_SCALE`` at full scale)."""
    scaled = np.rint(np.clip(np.nan_to_num(np.asarray(z, np.float64)) * (127.0 / RESIDUAL_SCALE), -127, 127))
    return scaled.astype(np.int8)


def _encode_all(images: dict[str, np.ndarray]) -> dict[str, tuple[dict, bytes]]:
    """:func:`encode_image` of each array, at the same time (zlib releases the GIL)."""
    if not images:
        return {}
    with ThreadPoolExecutor(max_workers=len(images)) as pool:
        return dict(zip(images, pool.map(encode_image, images.values())))


def display_images(before: np.ndarray, after: np.ndarray, value_max: int) -> dict[str, np.ndarray]:
    """``{"before", "after"}`` as the payload stores them: uint8 when ``value_max`` <= 255,
    else uint16 (display values on the 0..value_max scale)."""
    dtype = np.uint8 if int(value_max) <= 255 else np.uint16
    return {"before": np.asarray(before).astype(dtype), "after": np.asarray(after).astype(dtype)}


def encode_view_images(before: np.ndarray, after: np.ndarray, value_max: int) -> dict[str, tuple[dict, bytes]]:
    """The ``before`` and ``after`` arrays of the payload, compressed, for
    :func:`encode_view`'s ``encoded`` (the server compresses them while the safeguard
    still checks the result)."""
    return _encode_all(display_images(before, after, value_max))


def encode_view(
    facts: dict,
    before: np.ndarray,
    after: np.ndarray,
    *,
    residual: np.ndarray | None = None,
    dicom: bytes | None = None,
    dataset=None,
    info: dict | None = None,
    encoded: dict | None = None,
) -> bytes:
    """The view payload. ``facts``: the JSON answer's facts (JSON-safe); ``before``,
    ``after``: display values (uint16 on the 0..value_max scale); ``residual``: the
    safeguard's float z map or None; ``dicom``: the derived DICOM for DICOM input;
    ``dataset``, ``info``: the source's header and :class:`Radiograph` info;
    ``encoded``: :func:`encode_view_images` of ``before`` and ``after`` if already made."""
    value_max = int(facts["value_max"])
    bits = int(facts["bits"])
    encoded = dict(encoded or {})
    missing = {"before", "after"} - encoded.keys()
    images = {name: values for name, values in display_images(before, after, value_max).items() if name in missing} if missing else {}
    if residual is not None:
        images["residual"] = residual_int8(residual).view(np.uint8)
    encoded.update(_encode_all(images))
    arrays: list[tuple[dict, bytes]] = []
    for name in ("before", "after"):
        entry, data = encoded[name]
        arrays.append(({"name": name, **entry}, data))
    header = dict(facts)
    header.update(format="xraydeblur.view", version=1, result_png_bits=8 if bits <= 8 else 16)
    display = display_facts(info or {})
    header["display"] = display
    header["identity"] = identity(dataset) if dataset is not None else None
    if residual is not None:
        entry, data = encoded["residual"]
        entry["dtype"] = "int8"
        arrays.append(({"name": "residual", **entry}, data))
        header["residual_scale"] = RESIDUAL_SCALE
    if dicom is not None:
        parts = dicom_parts(dicom, np.asarray(after), value_max, bits, display["signed"], display["inverted"])
        if parts is None:
            arrays.append(({"name": "dicom", "dtype": "bytes"}, zlib.compress(dicom, ZLIB_LEVEL)))
        else:
            header["dicom_splice"], head, tail = parts
            arrays.append(({"name": "dicom_head", "dtype": "bytes"}, zlib.compress(head, ZLIB_LEVEL)))
            arrays.append(({"name": "dicom_tail", "dtype": "bytes"}, zlib.compress(tail, ZLIB_LEVEL)))
    offset = 0
    entries = []
    for entry, data in arrays:
        entry.setdefault("filter", "none")
        entry.setdefault("planes", 1)
        entry.setdefault("compression", "deflate")
        entries.append({**entry, "offset": offset, "length": len(data)})
        offset += len(data)
    header["arrays"] = entries
    text = json.dumps(header, allow_nan=False, separators=(",", ":")).encode("utf-8")
    return b"".join([MAGIC, struct.pack("<I", len(text)), text, *(data for _, data in arrays)])


def decode_view(body: bytes) -> tuple[dict, dict]:
    """``(header, arrays)`` of a view payload; ``arrays`` maps names to numpy arrays
    (images) or bytes. The reference decoder, used by the tests."""
    if body[:4] != MAGIC:
        raise ValueError("not an xraydeblur view payload")
    (length,) = struct.unpack("<I", body[4:8])
    header = json.loads(body[8 : 8 + length].decode("utf-8"))
    data = body[8 + length :]
    arrays = {}
    for entry in header["arrays"]:
        chunk = data[entry["offset"] : entry["offset"] + entry["length"]]
        arrays[entry["name"]] = zlib.decompress(chunk) if entry["dtype"] == "bytes" else decode_image(entry, chunk)
    return header, arrays

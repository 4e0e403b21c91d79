"""The work behind ``POST /api/v1/deblur``: decode, deblur, measure, encode.

Runs in a worker thread, entirely in memory. The restoration itself (blur evidence,
no-blur rule, denoise strength, safeguard) is :func:`xraydeblur.pipeline.restore`, the
same for every entry point; this module decodes, checks sizes and encodes.
"""

import base64
import json
import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..degrade.spec import KERNEL_PARAMS, Degradation
from ..errors import ImageTooLargeError, InputError
from ..methods import Method
from ..pipeline import DEFAULT_DENOISE, derivation_label, restore
from .upload import ApiError

log = logging.getLogger("xraydeblur.server")

#: smallest accepted side in pixels (the metrics and most methods need some context)
MIN_SIDE = 16
#: largest accepted known blur (Gaussian sigma, pixels)
MAX_SIGMA = 50.0


@dataclass
class Outcome:
    """Everything a response is built from."""

    body: bytes
    media_type: str
    facts: dict = field(default_factory=dict)


def _finite(value):
    """JSON-safe scalar: numpy numbers become Python numbers, NaN/inf become None."""
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def json_safe(obj, depth: int = 0):
    """Recursively turn a report into plain JSON types (arrays are summarised, not sent)."""
    if depth > 6:
        return None
    if isinstance(obj, dict):
        return {str(k): json_safe(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v, depth + 1) for v in obj[:64]]
    if isinstance(obj, np.ndarray):
        if obj.size <= 64:
            return json_safe(obj.tolist(), depth + 1)
        return {"shape": list(obj.shape), "mean": _finite(float(np.mean(obj)))}
    if obj is None or isinstance(obj, (str, bool, int)):
        return obj
    value = _finite(obj)
    return value if isinstance(value, (int, float, bool)) or value is None else str(value)


def safeguard_summary(report: dict | None) -> str | None:
    """One word for a response header: passed, failed or error."""
    if not isinstance(report, dict):
        return None
    if "consistent" in report:
        return "passed" if report["consistent"] else "failed"
    return report.get("status")


def to_u16(pixels: np.ndarray, value_max: int) -> np.ndarray:
    """[0, 1] pixels -> little-endian uint16 values on the 0..value_max scale."""
    values = np.rint(np.clip(np.asarray(pixels, dtype=np.float64), 0.0, 1.0) * float(value_max))
    return values.astype("<u2")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


#: blur families the API takes (``?kernel=``) and the query parameters each needs; the
#: random "trajectory" family is CLI-only (it needs a seed)
API_KERNELS = {name: params for name, params in KERNEL_PARAMS.items() if name != "trajectory"}
#: upper bounds (px) of the kernel query parameters; ``sigma`` keeps :data:`MAX_SIGMA`
MAX_KERNEL_PARAMS = {"sigma": MAX_SIGMA, "sigma_y": MAX_SIGMA, "length": 128.0, "radius": 64.0, "scale": 32.0}


def kernel_from_query(kernel: str | None, **values: float | None) -> tuple[np.ndarray | None, str | None]:
    """The known PSF (float64 (K, K), sum 1) and its label (e.g. ``"motion-length9-angle30"``)
    from the API's query parameters, or ``(None, None)`` when the run is blind.

    ``kernel``: a family of :data:`API_KERNELS` (default "gaussian" when ``sigma`` is
    given); ``values``: ``sigma``, ``sigma_y``, ``length``, ``radius``, ``scale`` (px,
    above 0, at most :data:`MAX_KERNEL_PARAMS`) and ``angle`` (degrees). Raises
    :class:`ApiError` 422 with a one-line reason for a missing, stray or out-of-range
    parameter or an unknown family."""
    given = {name: value for name, value in values.items() if value is not None}
    if kernel is None:
        if "sigma" not in given:
            if given:
                raise ApiError(422, f"{next(iter(given))} needs kernel= (which blur family?)")
            return None, None
        kernel = "gaussian"
    if kernel not in API_KERNELS:
        raise ApiError(422, f"unknown kernel {kernel[:40]!r}; choose from {', '.join(API_KERNELS)}")
    wanted = API_KERNELS[kernel]
    stray = [name for name in given if name not in wanted]
    if stray:
        raise ApiError(422, f"kernel={kernel} takes {', '.join(wanted)}, not {stray[0]}")
    params = {}
    for name in wanted:
        value = given.get(name, 0.0 if name == "angle" else None)
        if value is None:
            raise ApiError(422, f"kernel={kernel} needs {name}")
        value = float(value)
        if not math.isfinite(value) or (name != "angle" and not 0.0 < value <= MAX_KERNEL_PARAMS[name]):
            bound = "a finite number" if name == "angle" else f"above 0 and at most {MAX_KERNEL_PARAMS[name]:g} px"
            raise ApiError(422, f"{name} must be {bound}")
        params[name] = value
    spec = Degradation(kernel, params)
    return spec.kernel(), spec.name


def measured_psf(data: bytes) -> np.ndarray:
    """A measured PSF from an upload's ``psf`` form field (the bytes of a .npy, PNG or
    TIFF file, read in memory), as float64 (K, K) summing to 1; a bad one is an
    :class:`ApiError` 422 with the one-line reason of
    :func:`xraydeblur.degrade.measured.psf_from_bytes`."""
    from ..degrade.measured import psf_from_bytes

    try:
        return psf_from_bytes(data, prefix="psf")
    except InputError as exc:
        raise ApiError(422, str(exc)) from None


def process(
    data: bytes,
    method: Method,
    *,
    output: str,
    sigma: float | None = None,
    kernel: np.ndarray | None = None,
    kernel_label: str | None = None,
    max_pixels: int,
    include_pixels: bool,
    denoise: float = DEFAULT_DENOISE,
    force: bool = False,
    extra: dict | None = None,
) -> Outcome:
    """Decode ``data``, deblur with ``method``, and encode as ``output`` (png/dicom/json).

    The known blur is ``kernel`` (from :func:`kernel_from_query`, labelled
    ``kernel_label``; None: blind); ``sigma``, the query's Gaussian sigma if any, is
    only reported. ``denoise`` and ``force``: as :func:`xraydeblur.pipeline.restore`,
    which does the work (the same pipeline as the CLI's)."""
    from ..io import read_radiograph

    started = time.perf_counter()
    try:
        rad = read_radiograph(data, max_pixels=max_pixels)
    except ImageTooLargeError as exc:
        raise ApiError(413, _strip_name(str(exc))) from None
    except InputError as exc:
        reason = _strip_name(str(exc))
        status = 413 if "over the limit" in reason or "pixel limit" in reason else 422
        raise ApiError(status, reason) from None
    if min(rad.width, rad.height) < MIN_SIDE:
        raise ApiError(422, f"image is {rad.width}x{rad.height}; at least {MIN_SIDE}x{MIN_SIDE} pixels are needed")
    if output == "dicom" and rad.format != "dicom":
        raise ApiError(406, "DICOM output needs a DICOM input; ask for image/png or application/json")

    degraded = rad.pixels

    def prepare(out: np.ndarray) -> dict:
        """The answer's encoded parts of a deblurred ``out``, made while the safeguard
        checks it (an unchanged input is encoded after, with its own label)."""
        provenance = {"method": derivation_label(method.name, {"denoise": denoise}), "model_version": method.version, "weights_sha256": method.weights_sha256}
        return encoded_parts(rad, out, output, provenance)

    result = restore(degraded, method, kernel=kernel, denoise=denoise, force=force, with_map=output == "view", while_checking=prepare)
    restored = result.pixels
    facts = {
        **result.facts,
        "input_format": rad.format,
        "width": rad.width,
        "height": rad.height,
        "bits": rad.bits_stored,
        "value_max": rad.max_stored,
        "photometric": rad.photometric,
        "input_notes": list(rad.info.get("notes", [])),  # e.g. EXIF orientation applied on read
        "sigma": sigma,
        "kernel": kernel_label,
        **(extra or {}),
    }
    provenance = {"method": derivation_label(method.name, facts), "model_version": method.version, "weights_sha256": method.weights_sha256}
    parts = result.prepared if result.prepared is not None else encoded_parts(rad, restored, output, provenance)
    if output == "view":  # the web page's compact binary answer (view_payload.py)
        from .view_payload import MEDIA_TYPE, encode_view

        residual = result.residual_map
        facts["seconds"] = round(time.perf_counter() - started, 4)
        body = encode_view(json_safe(facts), *parts["pixels"], residual=residual, dicom=parts["dicom"], dataset=rad.dataset, info=rad.info, encoded=parts["images"])
        # the answer's header holds the time up to its encoding; X-Processing-Seconds all of it
        facts["seconds"] = round(time.perf_counter() - started, 4)
        return Outcome(body, MEDIA_TYPE, facts)
    if output == "json":
        payload = dict(facts)
        payload["result_png_bits"] = 8 if rad.bits_stored <= 8 else 16  # as format=png
        payload["result_png"] = _b64(parts["png"])
        if rad.format == "dicom":
            payload["result_dicom"] = _b64(parts["dicom"])
        if include_pixels:
            payload["before_u16"] = _b64(to_u16(degraded, rad.max_stored).tobytes())
            payload["after_u16"] = _b64(to_u16(restored, rad.max_stored).tobytes())
        payload["seconds"] = round(time.perf_counter() - started, 4)
        facts["seconds"] = payload["seconds"]
        body = json.dumps(payload, allow_nan=False).encode("utf-8")
        return Outcome(body, "application/json", facts)
    body, media_type = (parts["dicom"], "application/dicom") if output == "dicom" else (parts["png"], "image/png")
    facts["seconds"] = round(time.perf_counter() - started, 4)
    return Outcome(body, media_type, facts)


def encoded_parts(rad, restored: np.ndarray, output: str, provenance: dict) -> dict:
    """The encoded pieces of the answer for ``output`` (png / dicom / json / view) of the
    result ``restored`` (float32 (H, W) in [0, 1]) of ``rad``: ``dicom`` (the derived
    DICOM bytes, DICOM input only), ``png`` (bytes), and for the view ``pixels`` (before
    and after as uint16 display values) and ``images`` (those compressed,
    :func:`xraydeblur.server.view_payload.encode_view_images`)."""
    from ..io import encode_radiograph

    parts: dict = {"dicom": None, "png": None}
    if rad.format == "dicom" and output in ("dicom", "json", "view"):
        parts["dicom"] = encode_radiograph(rad, restored, "dicom", **provenance)
    if output == "json":
        parts["png"] = encode_radiograph(rad, restored, "png", bits=8 if rad.bits_stored <= 8 else 16)
    elif output == "png":
        parts["png"] = encode_radiograph(rad, restored, "png")
    if output == "view":
        from .view_payload import encode_view_images

        parts["pixels"] = (to_u16(rad.pixels, rad.max_stored), to_u16(restored, rad.max_stored))
        parts["images"] = encode_view_images(*parts["pixels"], rad.max_stored)
    return parts


def _strip_name(reason: str) -> str:
    """read_radiograph prefixes reasons with the source name ("upload: ..."); drop it."""
    return reason[len("upload: "):] if reason.startswith("upload: ") else reason

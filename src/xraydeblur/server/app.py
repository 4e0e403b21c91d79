"""The REST API and web page: ``create_app()`` builds the FastAPI application.

Endpoints
---------
``POST /api/v1/deblur``   raw image bytes in (or multipart field ``file``, plus optionally
                          a measured PSF in field ``psf``), result out as
                          PNG, derived DICOM or JSON (chosen by ``Accept`` or ``?format=``)
``GET  /api/v1/models``   deblurring methods with versions, the default marked, and limits
``GET  /healthz``         liveness and queue state
``GET  /``                the web page (``server/static``)
``GET  /docs``            a small self-contained page describing the API (no CDN);
                          the machine-readable schema is ``/openapi.json``

Settings come from the keyword arguments, else from the environment:
``XRAYDEBLUR_MAX_UPLOAD_MB`` (200), ``XRAYDEBLUR_UPLOAD_BUDGET_MB`` (twice the upload
cap, at least 400: request bodies held in memory at once, server-wide; a request whose declared size does not
fit gets 503 with Retry-After before its body is read), ``XRAYDEBLUR_MAX_CONCURRENT``
(2), ``XRAYDEBLUR_QUEUE_TIMEOUT`` (seconds, 30) and ``XRAYDEBLUR_MAX_PIXELS``.

Uploads stay in memory: nothing is written to disk and neither bodies nor file names
are logged (the request log has method, path, status and duration only).
"""

import html
import logging
import math
import os
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..methods import available_methods, default_method, get_method
from ..pipeline import DEFAULT_DENOISE
from ..allocator import IdleRelease, prefault_heap, tune_allocator
from .limiter import InferenceLimiter, MemoryBudget
from .processing import API_KERNELS, MAX_KERNEL_PARAMS, MAX_SIGMA, kernel_from_query, measured_psf, process, safeguard_summary
from .upload import MEDIA_TYPES, ApiError, choose_output, read_upload

log = logging.getLogger("xraydeblur.server")

STATIC_DIR = Path(__file__).resolve().parent / "static"
NOTICE = "Research use only - not for diagnosis"
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


@dataclass(frozen=True)
class Settings:
    """Server limits. ``max_upload_bytes`` caps the request body; ``upload_budget_bytes``
    the bodies held at once by all requests; ``max_pixels`` the declared image size;
    ``max_concurrent`` the inferences running at once; requests beyond that wait up to
    ``queue_timeout`` seconds, then get 503."""

    max_upload_bytes: int
    max_pixels: int
    max_concurrent: int
    queue_timeout: float
    upload_budget_bytes: int = 400_000_000

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        from ..io import MAX_PIXELS

        def number(name, default, kind):
            raw = os.environ.get(name)
            if raw is None or not raw.strip():
                return default
            try:
                value = kind(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not a number") from None
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be positive, got {raw!r}")
            return value

        values = {
            "max_upload_bytes": int(number("XRAYDEBLUR_MAX_UPLOAD_MB", 200.0, float) * 1_000_000),
            "max_pixels": MAX_PIXELS,
            "max_concurrent": number("XRAYDEBLUR_MAX_CONCURRENT", 2, int),
            "queue_timeout": number("XRAYDEBLUR_QUEUE_TIMEOUT", 30.0, float),
            "upload_budget_bytes": int(number("XRAYDEBLUR_UPLOAD_BUDGET_MB", 0.0, float) * 1_000_000),
        }
        for key, value in overrides.items():
            if value is not None:
                values[key] = value
        if not values["upload_budget_bytes"]:  # default: two of the largest uploads, at least 400 MB
            values["upload_budget_bytes"] = max(400_000_000, 2 * int(values["max_upload_bytes"]))
        if values["upload_budget_bytes"] < values["max_upload_bytes"]:
            raise ValueError("XRAYDEBLUR_UPLOAD_BUDGET_MB must be at least XRAYDEBLUR_MAX_UPLOAD_MB (else the largest upload never fits)")
        if min(values["max_upload_bytes"], values["max_pixels"], values["max_concurrent"], values["upload_budget_bytes"]) < 1:
            raise ValueError("limits must be positive")
        if values["queue_timeout"] < 0:
            raise ValueError("the queue timeout cannot be negative")
        return cls(
            int(values["max_upload_bytes"]), int(values["max_pixels"]), int(values["max_concurrent"]), float(values["queue_timeout"]),
            int(values["upload_budget_bytes"]),
        )


def error_response(status: int, detail: str, headers: dict | None = None) -> JSONResponse:
    """The one error shape: ``{"detail": "one-line reason"}``."""
    return JSONResponse({"detail": " ".join(str(detail).split())}, status_code=status, headers=headers)


class GuardMiddleware:
    """Wraps every request: security and caching headers, a request log line
    without query string or body, and a last-resort 500 for anything unhandled."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = {"status": 0}
        path = scope.get("path", "")

        async def guarded_send(message):
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                cache = b"no-cache" if path.startswith("/static/") else b"no-store"
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"cache-control"]
                present = {name.lower() for name, _ in headers}
                headers.append((b"cache-control", cache))
                for name, value in (
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"content-security-policy", CSP.encode()),
                ):
                    if name not in present:
                        headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, guarded_send)
        except Exception as exc:  # never crash, never leak a traceback to the client
            log.error("unhandled %s on %s %s", type(exc).__name__, scope.get("method"), path, exc_info=True)
            if not state["status"]:
                await error_response(500, "internal server error")(scope, receive, guarded_send)
        finally:
            log.info("%s %s %s %.3fs", scope.get("method"), path, state["status"] or "-", time.perf_counter() - started)


def _header_number(value) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _header_text(value: str) -> str:
    text = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in str(value))
    return text[:200]


def _one_line_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "body", "path", "header")]
        parts.append(f"{'.'.join(loc) or 'request'}: {err.get('msg', 'invalid value')}")
    return "; ".join(parts) or "invalid request"


def _docs_page(app: FastAPI) -> str:
    """A plain HTML summary of the OpenAPI schema (no scripts, nothing from a CDN)."""
    schema = app.openapi()
    rows = []
    for path, operations in schema.get("paths", {}).items():
        for verb, op in operations.items():
            params = ", ".join(
                f"{html.escape(p['name'])}" + ("" if not p.get("required") else " (required)")
                for p in op.get("parameters", [])
            )
            rows.append(
                "<section class='doc-op'>"
                f"<h2><span class='verb'>{html.escape(verb.upper())}</span> <code>{html.escape(path)}</code></h2>"
                f"<p>{html.escape(op.get('summary', ''))}</p>"
                f"<pre class='doc-text'>{html.escape(op.get('description', '') or '')}</pre>"
                + (f"<p>Query parameters: {params}</p>" if params else "")
                + "</section>"
            )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>xraydeblur API {html.escape(__version__)}</title>"
        "<link rel='stylesheet' href='/static/style.css'></head><body class='docs'>"
        f"<main class='doc-main'><h1>xraydeblur API {html.escape(__version__)}</h1>"
        f"<p class='notice-inline'>{html.escape(NOTICE)}</p>"
        "<p>Machine-readable schema: <a href='/openapi.json'>/openapi.json</a> (OpenAPI 3). "
        "Web page: <a href='/'>/</a>.</p>"
        + "".join(rows)
        + "</main></body></html>"
    )


DEBLUR_DESCRIPTION = """Send the image file itself as the request body (PNG, JPEG, TIFF or DICOM;
any Content-Type except multipart is read as raw bytes), or a multipart form with field "file".
A known blur is given either as query parameters (sigma, or kernel= with its parameters) or, in
a multipart form, as a measured PSF file in field "psf" (.npy, or a grayscale PNG/TIFF; odd sides,
centred, non-negative, at most 129 px; normalised to sum 1), read in memory like the image.
The response format follows ?format= (png, dicom, json, view) or else the Accept header:
image/png (16-bit, 8-bit for 8-bit sources), application/dicom (derived DICOM, DICOM input only),
application/json (metadata plus the result as a base64 PNG of that depth; with ?pixels=true also raw
little-endian uint16 before/after pixels for exact window/level) or
application/vnd.xraydeblur.view (the web page's compact binary answer, docs/api.md).
Errors: 413 too large, 415 not an image, 422 unusable image or parameter, 406 format not
possible, 503 busy (Retry-After)."""

_BODY_SCHEMA = {"schema": {"type": "string", "format": "binary"}}
DEBLUR_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/octet-stream": _BODY_SCHEMA,
            "application/dicom": _BODY_SCHEMA,
            "image/png": _BODY_SCHEMA,
            "image/jpeg": _BODY_SCHEMA,
            "image/tiff": _BODY_SCHEMA,
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}, "psf": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}
_ERROR = {"content": {"application/json": {"example": {"detail": "one-line reason"}}}}
DEBLUR_RESPONSES = {
    200: {
        "description": "The deblurred image (or JSON with metadata and the image)",
        "content": {"image/png": {}, "application/dicom": {}, "application/json": {}},
    },
    406: {"description": "The requested format is not possible (DICOM needs DICOM input)", **_ERROR},
    413: {"description": "Upload or image over the limits", **_ERROR},
    415: {"description": "Not a PNG, JPEG, TIFF or DICOM file", **_ERROR},
    422: {"description": "Empty, corrupt or unusable image, or a bad parameter", **_ERROR},
    503: {"description": "All inference slots busy for the whole queue timeout (see Retry-After)", **_ERROR},
}


def create_app(
    max_upload_bytes: int | None = None,
    max_pixels: int | None = None,
    max_concurrent: int | None = None,
    queue_timeout: float | None = None,
    upload_budget_bytes: int | None = None,
) -> FastAPI:
    """Build the application; unset limits come from the environment (see module doc)."""
    settings = Settings.from_env(
        max_upload_bytes=max_upload_bytes, max_pixels=max_pixels, max_concurrent=max_concurrent, queue_timeout=queue_timeout,
        upload_budget_bytes=upload_budget_bytes,
    )
    limiter = InferenceLimiter(settings.max_concurrent)
    budget = MemoryBudget(settings.upload_budget_bytes)
    tune_allocator(single_arena=True)
    idle_release = IdleRelease()  # freed memory is reused by the next request, handed back when idle

    @asynccontextmanager
    async def lifespan(app):
        names = await run_in_threadpool(available_methods)  # import the method providers once, before the first request
        log.info("xraydeblur %s serving methods: %s", __version__, ", ".join(names))
        try:  # load the default network now, so the first request is no slower than later ones
            await run_in_threadpool(warm_default_method)
        except Exception as exc:
            log.warning("warming the default method failed: %s", type(exc).__name__)
        await run_in_threadpool(prefault_heap)  # the first request's memory, touched now
        yield

    app = FastAPI(
        title="xraydeblur",
        version=__version__,
        description=f"Deblurring of X-ray radiographs. {NOTICE}.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.limiter = limiter
    app.state.budget = budget
    app.add_middleware(GuardMiddleware)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        return error_response(422, _one_line_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.get("/", include_in_schema=False)
    async def index():
        return HTMLResponse((STATIC_DIR / "index.html").read_text(encoding="utf-8"))

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return HTMLResponse(_docs_page(app))

    @app.get("/healthz", summary="Liveness and queue state")
    async def healthz():
        return {
            "status": "ok",
            "version": __version__,
            "inference": {"running": limiter.active, "waiting": limiter.waiting, "limit": settings.max_concurrent},
            "uploads": {"bytes_held": budget.used, "budget_bytes": budget.limit},
        }

    @app.get("/api/v1/models", summary="Deblurring methods with versions; the default is marked")
    async def models():
        names = await run_in_threadpool(available_methods)
        methods = []
        for position, name in enumerate(names):
            method = get_method(name)
            methods.append({**method.describe(), "rank": method.rank, "default": position == 0})
        return {
            "default": names[0] if names else None,
            "methods": methods,
            "limits": {
                "max_upload_bytes": settings.max_upload_bytes,
                "upload_budget_bytes": settings.upload_budget_bytes,
                "max_pixels": settings.max_pixels,
                "max_concurrent": settings.max_concurrent,
                "queue_timeout_seconds": settings.queue_timeout,
                "max_sigma": MAX_SIGMA,
                "kernels": {name: list(params) for name, params in API_KERNELS.items()},
                "max_kernel_params": MAX_KERNEL_PARAMS,
            },
            "formats": {"input": ["png", "jpeg", "tiff", "dicom"], "output": sorted(MEDIA_TYPES.values())},
            "notice": NOTICE,
        }

    @app.post(
        "/api/v1/deblur",
        summary="Deblur one radiograph",
        description=DEBLUR_DESCRIPTION,
        openapi_extra=DEBLUR_OPENAPI,
        responses=DEBLUR_RESPONSES,
        response_class=Response,
    )
    async def deblur(
        request: Request,
        method: str | None = Query(None, description="method name (GET /api/v1/models); default: the best available"),
        sigma: float | None = Query(None, gt=0, le=MAX_SIGMA, description="known Gaussian blur sigma in pixels; omit for blind"),
        kernel: str | None = Query(None, description="known blur family: " + ", ".join(API_KERNELS) + " (default gaussian with sigma)"),
        sigma_y: float | None = Query(None, description="anisotropic: sigma across angle (px)"),
        length: float | None = Query(None, description="motion: length (px)"),
        angle: float | None = Query(None, description="motion / anisotropic: angle (degrees, default 0)"),
        radius: float | None = Query(None, description="disk: radius (px)"),
        scale: float | None = Query(None, description="exponential: decay length (px)"),
        format: str | None = Query(None, description="png, dicom or json; overrides Accept"),
        pixels: bool = Query(False, description="JSON only: include raw uint16 before/after pixels"),
        denoise: float = Query(DEFAULT_DENOISE, ge=0.0, le=1.0, description="denoise strength: 0 keeps the noise texture (deblurs only), 1 removes noise too (full restoration)"),
        force: bool = Query(False, description="deblur even when no blur is detected (by default such an image is returned unchanged)"),
    ):
        try:
            psf, label = kernel_from_query(kernel, sigma=sigma, sigma_y=sigma_y, length=length, angle=angle, radius=radius, scale=scale)
            booked = _admit(request)
            idle_release.begin()
            try:
                return await _deblur(request, method, sigma, (psf, label), format, pixels, denoise, force)
            finally:
                budget.release(booked)
                idle_release.end()
        except ApiError as exc:
            return error_response(exc.status, exc.detail, exc.headers)

    def _admit(request: Request) -> int:
        """Book the request's declared body size (the upload cap when it declares none)
        in the server-wide upload budget; 503 with Retry-After when it does not fit."""
        declared = request.headers.get("content-length")
        try:
            size = int(declared) if declared is not None else settings.max_upload_bytes
        except ValueError:
            raise ApiError(400, "Content-Length is not a number") from None
        size = max(0, min(size, settings.max_upload_bytes))  # more than the cap: read_upload answers 413
        if not budget.try_reserve(size):
            held = f"{budget.used / 1e6:.0f} of {budget.limit / 1e6:.0f} MB"
            raise ApiError(503, f"the server holds too many uploads right now ({held}); retry later", {"Retry-After": "5"})
        return size

    async def _deblur(request: Request, method_name, sigma, known, format_param, include_pixels, denoise=DEFAULT_DENOISE, force=False) -> Response:
        """``known``: (kernel, label) from :func:`kernel_from_query`, (None, None) blind."""
        from ..io import check_pixel_count, detect_format

        psf, label = known
        choice = choose_output(format_param, request.headers.get("accept"))
        names = await run_in_threadpool(available_methods)
        if method_name is not None and method_name not in names:
            raise ApiError(422, f"unknown method {method_name[:60]!r}; available: {', '.join(names)}")

        upload = await read_upload(request, settings.max_upload_bytes)
        data = upload.data
        if upload.psf is not None:  # a measured PSF, multipart field "psf"
            if psf is not None:
                raise ApiError(422, "give the blur either as query parameters or as a psf file, not both")
            psf = await run_in_threadpool(measured_psf, upload.psf)
            label = f"measured PSF {psf.shape[0]}x{psf.shape[1]} px"
        name = method_name or (await run_in_threadpool(default_method, psf is not None))  # checked above, or a default
        method = get_method(name)
        if not data:
            raise ApiError(422, "the upload is empty; send the image file as the request body")
        kind = detect_format(data[:256])
        if kind is None:
            raise ApiError(415, "not a PNG, JPEG, TIFF or DICOM file")
        output = choice.pick(kind)
        size = declared_size(data, kind)
        if size is not None:
            try:
                check_pixel_count(size[0], size[1], settings.max_pixels)
            except Exception as exc:  # ImageTooLargeError or an invalid size
                status = 413 if "over the limit" in str(exc) else 422
                raise ApiError(status, str(exc)) from None

        queued = time.perf_counter()
        if not await limiter.acquire(settings.queue_timeout):
            retry = str(max(1, math.ceil(settings.queue_timeout)))
            raise ApiError(503, f"the server is busy ({settings.max_concurrent} inferences running); retry later", {"Retry-After": retry})
        queue_seconds = time.perf_counter() - queued
        try:
            outcome = await run_in_threadpool(
                process,
                data,
                method,
                output=output,
                sigma=sigma,
                kernel=psf,
                kernel_label=label,
                max_pixels=settings.max_pixels,
                include_pixels=include_pixels,
                denoise=denoise,
                force=force,
                extra={"queue_seconds": round(queue_seconds, 4)},
            )
        except ApiError:
            raise
        except MemoryError:
            raise ApiError(503, "not enough memory to process this image now; retry later or send a smaller image", {"Retry-After": "30"}) from None
        except Exception as exc:
            log.error("deblurring failed with %s (method %s)", type(exc).__name__, name, exc_info=True)
            raise ApiError(500, "internal error while deblurring the image") from None
        finally:
            limiter.release()

        facts = outcome.facts
        headers = {
            "X-Method": _header_text(facts["method"]),
            "X-Method-Version": _header_text(facts["method_version"] or "n/a"),
            "X-Processing-Seconds": f"{facts['seconds']:.3f}",
            "X-Inference-Seconds": f"{facts['inference_seconds']:.3f}",
            "X-Queue-Seconds": f"{queue_seconds:.3f}",
            "X-Estimated-Blur-Before": _header_number(facts["estimated_blur_before"]),
            "X-Estimated-Blur-After": _header_number(facts["estimated_blur_after"]),
            "X-Sharpness-Before": _header_number(facts["sharpness_before"]),
            "X-Sharpness-After": _header_number(facts["sharpness_after"]),
            "X-Denoise": f"{facts['denoise']:g}",
            "X-Unchanged": "no-blur" if facts.get("unchanged") else "false",
            "X-Research-Use-Only": "true",
            "Vary": "Accept",
        }
        summary = safeguard_summary(facts.get("safeguard"))
        if summary:
            headers["X-Safeguard"] = _header_text(summary)
        step = facts.get("data_step")
        if step:  # the kernel-aware data step's rule and the noise it measured
            headers["X-Data-Step"] = _header_text(step["summary"])
        if facts.get("input_notes"):  # what reading did besides decoding (EXIF orientation, transparency)
            headers["X-Input-Notes"] = _header_text("; ".join(facts["input_notes"]))
        overlay_px = (facts.get("safeguard") or {}).get("overlay_px")
        if isinstance(overlay_px, int):
            headers["X-Burned-In-Overlay-Px"] = str(overlay_px)  # kept out of deblurring, unchanged
        if outcome.media_type in ("image/png", "application/dicom"):  # files (not JSON or the page's view answer)
            suffix = "dcm" if outcome.media_type == "application/dicom" else "png"
            headers["Content-Disposition"] = f'inline; filename="deblurred.{suffix}"'
        return Response(outcome.body, media_type=outcome.media_type, headers=headers)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def warm_default_method() -> None:
    """Run the whole pipeline once, forced, on a synthetic image and encode the page's
    answer for it, reading and writing it as DICOM: loads the default method's weights,
    builds its executor (:mod:`xraydeblur.infer.backends`) with working memory for
    full-size tiles, and imports everything a request uses (DICOM decoder and writer,
    blur evidence, the learned PSF estimator the no-blur rule asks, safeguard, encoders)
    before the first request. Nothing is written to disk."""
    import numpy as np

    from ..classical.no_blur import motion_cue
    from ..io import encode_radiograph, read_radiograph
    from ..pipeline import restore
    from .processing import to_u16
    from .view_payload import encode_view

    rad = read_radiograph(_synthetic_dicom(WARM_SIDE_PX))
    motion_cue(rad.pixels)  # a forced run skips the no-blur rule; an unblurred request asks the estimator
    result = restore(rad.pixels, get_method(default_method(False)), force=True, with_map=True)
    dicom = encode_radiograph(rad, result.pixels, "dicom", method="warm-up", synthetic=True)
    facts = {"value_max": 65535, "bits": 16}
    encode_view(facts, to_u16(rad.pixels, 65535), to_u16(result.pixels, 65535), residual=result.residual_map, dicom=dicom, dataset=rad.dataset, info=rad.info)


#: side (px) of the warm-up image: its tiles are as large as those of a full-size
#: radiograph (:data:`xraydeblur.infer.network.TILE`), so the executor's working
#: memory is sized for them before the first request
WARM_SIDE_PX = 720


def _synthetic_dicom(side: int) -> bytes:
    """A synthetic 12-bit MONOCHROME2 DX image (``side`` x ``side`` px, smooth pattern,
    no patient data) as DICOM bytes, built in memory."""
    import io

    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    yy, xx = np.mgrid[0:side, 0:side] / float(side)
    pixels = np.rint((0.5 + 0.3 * np.sin(40 * xx) * np.cos(30 * yy)) * 4095).astype(np.uint16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientName, ds.PatientID = "DX", "WARM^UP", "WARMUP"
    ds.Rows = ds.Columns = side
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = pixels.tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def declared_size(data: bytes, kind: str) -> tuple[int, int] | None:
    """(width, height) from a PNG/JPEG/TIFF header without decoding pixels; None if unknown
    (DICOM sizes are checked by the reader from the header, before pixel decoding)."""
    if kind == "png":
        if len(data) >= 24 and data[12:16] == b"IHDR":
            return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        return None
    if kind in ("jpeg", "tiff"):
        import io as _io
        import warnings

        from PIL import Image

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(_io.BytesIO(data)) as img:
                    return int(img.width), int(img.height)
        except Exception:  # corrupt or a decompression-bomb refusal: the reader decides
            return None
    return None

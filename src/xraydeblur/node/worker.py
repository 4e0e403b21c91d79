"""Deblur one received image: :func:`deblur_radiograph` is the node's only per-image call
into the methods; it goes through the shared pipeline (:mod:`xraydeblur.pipeline`) as
``xraydeblur deblur`` does, so the node takes the same options (known blur, denoise
strength, force, safeguard) and gives the same pixels.

The derived image is what ``xraydeblur deblur`` writes for a DICOM input (new SOP
Instance UID, same study, DERIVED\\SECONDARY, DerivationDescription, SourceImageSequence;
:func:`xraydeblur.io.encode_radiograph`), with one difference: its Series Instance UID
is derived from the source series and the method (:func:`derived_series_uid`), so all
images of one source series land in one derived series in the PACS, and a resent image
lands in the same one.
"""

import argparse
import io
import time
from dataclasses import dataclass, field

import numpy as np

from ..methods import Method

#: mixed into the hash that makes a derived Series Instance UID (``generate_uid(entropy_srcs=...)``)
SERIES_NAMESPACE = "xraydeblur-node-series"


@dataclass
class DeblurSettings:
    """What every image is deblurred with (from the node's configuration)."""

    method: Method
    kernel: np.ndarray | None = None
    kernel_label: str = "blind"
    denoise: float | None = None  # None: the pipeline's default
    safeguard: str = "report"
    force: bool = False


@dataclass
class Derived:
    """A deblurred image ready to send."""

    data: bytes  # Part-10 DICOM, explicit VR little endian
    sop_uid: str
    series_uid: str
    sop_class: str
    facts: dict = field(default_factory=dict)


def load_settings(config) -> DeblurSettings:
    """Resolve the method and the known blur once, at start-up (errors are InputError)."""
    import os

    from ..batch import resolve_method
    from ..cli.deblur import kernel_from_args

    if config.device:
        os.environ["XRAYDEBLUR_DEVICE"] = config.device
    blur = dict(config.blur)
    blur["angle"] = 0.0 if blur.get("angle") is None else float(blur["angle"])
    kernel, label = kernel_from_args(argparse.Namespace(**blur))
    method = resolve_method(config.method, kernel_known=kernel is not None)
    return DeblurSettings(method, kernel, label, config.denoise, config.safeguard, config.force)


def derived_series_uid(source_series: str, method: Method) -> str | None:
    """A stable new Series Instance UID for (source series, method, version); None
    without a source series."""
    from pydicom.uid import generate_uid

    if not source_series:
        return None
    return generate_uid(entropy_srcs=[SERIES_NAMESPACE, source_series, method.name, method.version or ""])


def _restore(rad, settings: DeblurSettings) -> tuple[np.ndarray, str, dict]:
    """``(pixels, derivation label, facts)`` from the shared pipeline
    (:func:`xraydeblur.pipeline.restore`: do-no-harm rule, denoise strength, safeguard)."""
    from ..pipeline import derivation_label, restore

    method = settings.method
    options = {} if settings.denoise is None else {"denoise": settings.denoise}
    result = restore(rad.pixels, method, kernel=settings.kernel, force=settings.force, safeguard=settings.safeguard != "off", **options)
    facts = {"denoise": result.facts.get("denoise"), "unchanged": bool(result.facts.get("unchanged"))}
    report = result.facts.get("safeguard")
    if settings.safeguard != "off" and isinstance(report, dict):
        facts["safeguard"] = "not run" if facts["unchanged"] else "passed" if report.get("consistent") else "failed"
    return result.pixels, derivation_label(method.name, result.facts), facts


def deblur_radiograph(rad, settings: DeblurSettings) -> Derived:
    """Deblur a decoded DICOM radiograph and encode the derived DICOM (the one call per
    image). Raises on failure; the caller reports the image as failed."""
    import pydicom

    from ..io import encode_radiograph

    method = settings.method
    t0 = time.perf_counter()
    restored, label, facts = _restore(rad, settings)
    deblur_seconds = time.perf_counter() - t0
    data = encode_radiograph(rad, restored, "dicom", method=label, model_version=method.version, weights_sha256=method.weights_sha256)
    ds = pydicom.dcmread(io.BytesIO(data))
    series = derived_series_uid(str(rad.dataset.get("SeriesInstanceUID", "") or ""), method)
    if series:
        ds.SeriesInstanceUID = series
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        data = buf.getvalue()
    facts = {"deblur_s": round(deblur_seconds, 3), "method": method.name, "width": rad.width, "height": rad.height, **facts}
    return Derived(data, str(ds.SOPInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPClassUID), facts)

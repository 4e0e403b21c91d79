"""The DICOM side of the node: which AE may connect, what it may send, and the C-STORE
answer.

Only calling AE titles on the allow-list get an association (pynetdicom rejects the
others with "calling AE title not recognised"). Accepted: Verification (C-ECHO) and
C-STORE of :data:`~.forward.STORAGE_CLASSES` in the transfer syntaxes the readers
decode (:data:`TRANSFER_SYNTAXES`). The C-STORE handler answers quickly; the deblur
runs later in a worker:

* 0x0000 once the image decoded and is queued (or, not deblurred: when no rule wants
  it, or when it is already a result of xraydeblur coming round again);
* 0xA700 (out of resources) when the in-memory queue is full or the node is stopping,
  so the sender keeps the image and sends it again later;
* 0xC000 (cannot understand) with a one-line ErrorComment when the pixel data cannot
  be decoded.
"""

import ssl
import time

from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    JPEGLossless,
    JPEGLSLossless,
    JPEGLSNearLossless,
)

from .forward import STORAGE_CLASSES
from .stats import log_event

VERIFICATION = "1.2.840.10008.1.1"
TRANSFER_SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEG2000,
    JPEGLSLossless,
    JPEGLSNearLossless,
    JPEGLosslessSV1,
    JPEGLossless,
]
#: how every derived image's DerivationDescription starts (xraydeblur.io.dicom_write)
OUR_DERIVATION = "Deblurred by xraydeblur"
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000


def server_ssl_context(cert: str, key: str, ca: str | None) -> ssl.SSLContext:
    """TLS for the listening port; with ``ca`` callers must present a certificate it signed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    if ca:
        context.load_verify_locations(cafile=ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def make_ae(config):
    """The pynetdicom application entity the node listens as."""
    from pynetdicom import AE

    ae = AE(ae_title=config.aet)
    ae.maximum_pdu_size = 0  # no limit: radiographs are large
    ae.network_timeout = ae.acse_timeout = 60
    ae.dimse_timeout = 120
    ae.add_supported_context(VERIFICATION)
    for uid in STORAGE_CLASSES:
        ae.add_supported_context(uid, TRANSFER_SYNTAXES)
    if not config.allow_any:
        ae.require_calling_aet = list(config.allow)
    return ae


def _status(code: int, comment: str | None = None):
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.Status = code
    if comment:
        ds.ErrorComment = comment.replace("\\", "/")[:64]
    return ds


def _text(ds, keyword: str) -> str:
    try:
        return str(ds.get(keyword, "") or "").strip()
    except Exception:
        return ""


class Intake:
    """Event handlers bound to a running :class:`~.service.Node`."""

    def __init__(self, node):
        self.node = node

    def handlers(self) -> list:
        from pynetdicom import evt

        return [(evt.EVT_C_ECHO, self.on_echo), (evt.EVT_C_STORE, self.on_store), (evt.EVT_REQUESTED, self.on_requested)]

    def on_requested(self, event) -> None:
        primitive = event.assoc.requestor.primitive
        calling = str(getattr(primitive, "calling_ae_title", "") or "").strip()
        config = self.node.config
        if not config.allow_any and calling not in config.allow:
            log_event("association_rejected", 30, calling_aet=calling, peer=event.assoc.requestor.address, reason="calling AE title not on the allow-list")

    def on_echo(self, event) -> int:
        return 0x0000

    def on_store(self, event):
        from ..io import read_radiograph

        received = time.monotonic()
        node = self.node
        calling = event.assoc.requestor.ae_title
        try:
            header = event.dataset
        except Exception as exc:
            node.stats.add("received")
            node.stats.add("undecodable")
            reason = f"header cannot be parsed: {type(exc).__name__}"
            log_event("image", 30, outcome="refused", status="0xC000", calling_aet=calling, reason=reason)
            return _status(CANNOT_UNDERSTAND, reason)
        source = {
            "sop": _text(header, "SOPInstanceUID"),
            "study": _text(header, "StudyInstanceUID"),
            "series_in": _text(header, "SeriesInstanceUID"),
            "sop_class": str(event.request.AffectedSOPClassUID),
            "modality": _text(header, "Modality"),
            "calling_aet": calling,
            "transfer_syntax": str(event.context.transfer_syntax),
        }
        node.stats.add("received")
        if not node.accepting:
            node.stats.add("busy")
            log_event("image", 30, outcome="busy", status="0xA700", reason="node is stopping", **source)
            return _status(OUT_OF_RESOURCES, "node is stopping; send again later")
        if _text(header, "DerivationDescription").startswith(OUR_DERIVATION):
            node.stats.add("skipped")  # our own result coming round again (PACS auto-routing)
            log_event("image", outcome="skipped", status="0x0000", reason="already deblurred by xraydeblur", **source)
            return 0x0000
        destinations = node.config.destinations_for(header)
        if not destinations:
            node.stats.add("skipped")
            log_event("image", outcome="skipped", status="0x0000", reason="no rule matches", **source)
            return 0x0000
        if not node.reserve():
            node.stats.add("busy")
            log_event("image", 30, outcome="busy", status="0xA700", reason=f"queue full ({node.config.queue_size} images in memory)", **source)
            return _status(OUT_OF_RESOURCES, "queue full; send again later")
        try:
            rad = read_radiograph(event.encoded_dataset(), max_pixels=node.config.max_pixels)
        except Exception as exc:
            node.release()
            node.stats.add("undecodable")
            reason = " ".join(str(exc).split())
            reason = reason[len("upload: "):] if reason.startswith("upload: ") else reason
            reason = (reason or type(exc).__name__)[:200]
            log_event("image", 30, outcome="refused", status="0xC000", reason=reason, **source)
            return _status(CANNOT_UNDERSTAND, reason)
        node.enqueue(rad, source, destinations, received)
        return 0x0000

"""Send derived images to one destination, in order, retrying with back-off.

One :class:`Forwarder` thread per destination. A transient failure (connection refused,
association rejected or aborted, out of resources, HTTP 5xx/408/429) is retried after
1, 2, 4... seconds (at most ``max_interval``) until ``retry_for`` seconds have passed
since the first try; a permanent refusal (C-STORE failure status such as 0xA9xx/0xCxxx,
HTTP 4xx) is reported at once. Either way the outcome goes to ``on_done``; nothing is
dropped silently. A C-STORE association is kept open while there is work and released
when the queue runs dry.
"""

import collections
import io
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field

from .stats import log_event

#: SOP classes the node receives and sends: DX (for presentation, for processing), CR, Secondary Capture
STORAGE_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.1.1": "DX for presentation",
    "1.2.840.10008.5.1.4.1.1.1.1.1": "DX for processing",
    "1.2.840.10008.5.1.4.1.1.1": "CR",
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture",
}


class TransientError(Exception):
    """Worth retrying: the destination is down, busy or unreachable."""


class PermanentError(Exception):
    """The destination refused the image; retrying will not help."""


def client_ssl_context(ca: str | None, cert: str | None, key: str | None) -> ssl.SSLContext:
    """TLS for outgoing connections: verify the destination (``ca`` or the system's CAs)
    and present the node's certificate when it has one."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    if cert:
        context.load_cert_chain(cert, key)
    return context


class DicomSender:
    """C-STORE SCU to ``AET@HOST:PORT``, reusing one association while busy."""

    def __init__(self, destination, calling_aet: str, ssl_context: ssl.SSLContext | None, timeout: float = 30.0):
        from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
        from pynetdicom import AE

        self.destination = destination
        self.ae = AE(ae_title=calling_aet)
        self.ae.acse_timeout = self.ae.dimse_timeout = self.ae.network_timeout = timeout
        self.ae.connection_timeout = min(timeout, 10.0)
        for uid in STORAGE_CLASSES:
            self.ae.add_requested_context(uid, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        self.tls_args = (ssl_context, destination.host) if destination.tls else None
        self.assoc = None

    def _association(self):
        if self.assoc is not None and self.assoc.is_established:
            return self.assoc
        d = self.destination
        assoc = self.ae.associate(d.host, d.port, ae_title=d.aet, tls_args=self.tls_args)
        if not assoc.is_established:
            why = "rejected" if assoc.is_rejected else "aborted" if assoc.is_aborted else "failed"
            raise TransientError(f"association {why} by {d.label}")
        self.assoc = assoc
        return assoc

    def send(self, derived) -> str:
        import pydicom

        ds = pydicom.dcmread(io.BytesIO(derived.data))
        assoc = self._association()
        try:
            status = assoc.send_c_store(ds)
        except ValueError as exc:  # no accepted presentation context for this SOP class
            self.close()
            raise PermanentError(f"{self.destination.label} cannot take {derived.sop_class}: {str(exc).splitlines()[0][:120]}") from None
        except Exception as exc:
            self.close()
            raise TransientError(f"C-STORE to {self.destination.label} broke: {type(exc).__name__}") from None
        if not status or "Status" not in status:
            self.close()
            raise TransientError(f"no C-STORE response from {self.destination.label} (connection lost)")
        code = int(status.Status)
        if code == 0x0000 or code & 0xF000 == 0xB000:
            return f"0x{code:04X}"
        if code & 0xF000 == 0xC000 or code & 0xFF00 == 0xA900 or code in (0x0122, 0x0211):
            raise PermanentError(f"{self.destination.label} refused it with status 0x{code:04X}")
        raise TransientError(f"{self.destination.label} answered status 0x{code:04X}")

    def close(self) -> None:
        if self.assoc is not None:
            try:
                if self.assoc.is_established:
                    self.assoc.release()
            except Exception:
                pass
            self.assoc = None


class StowSender:
    """DICOMweb STOW-RS: POST one multipart/related application/dicom part per image."""

    def __init__(self, destination, ssl_context: ssl.SSLContext | None, timeout: float = 60.0):
        import httpx

        verify = ssl_context if (destination.tls and ssl_context is not None) else True
        self.destination = destination
        self.client = httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0), verify=verify, trust_env=False)

    def send(self, derived) -> str:
        import httpx

        boundary = uuid.uuid4().hex
        body = b"".join([f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode(), derived.data, f"\r\n--{boundary}--\r\n".encode()])
        headers = {"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}', "Accept": "application/dicom+json"}
        try:
            response = self.client.post(self.destination.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TransientError(f"STOW-RS to {self.destination.url} failed: {type(exc).__name__}") from None
        code = response.status_code
        if code in (200, 202):
            return f"HTTP {code}"
        if code >= 500 or code in (408, 429):
            raise TransientError(f"STOW-RS {self.destination.url} answered HTTP {code}")
        raise PermanentError(f"STOW-RS {self.destination.url} refused it with HTTP {code}")

    def close(self) -> None:
        pass


@dataclass
class Delivery:
    job: object
    derived: object
    attempts: int = 0
    first_try: float = field(default_factory=time.monotonic)


class Forwarder(threading.Thread):
    """Delivers to one destination in arrival order; ``on_done(delivery, destination,
    error)`` with ``error`` None on success, else the one-line reason it was given up;
    ``on_retry()`` for each retry."""

    def __init__(self, destination, sender, on_done, retry_for: float, max_interval: float, on_retry=None):
        super().__init__(name=f"forward-{destination.name}", daemon=True)
        self.destination = destination
        self.sender = sender
        self.on_done = on_done
        self.on_retry = on_retry
        self.retry_for = retry_for
        self.max_interval = max_interval
        self._queue: collections.deque = collections.deque()
        self._cond = threading.Condition()
        self._halt = threading.Event()
        self.deadline: float | None = None  # set on shutdown: give up what is left then
        self.retrying = False

    def submit(self, delivery: Delivery) -> None:
        with self._cond:
            self._queue.append(delivery)
            self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def stop(self) -> None:
        self._halt.set()
        with self._cond:
            self._cond.notify_all()

    def _next(self) -> Delivery | None:
        with self._cond:
            while not self._queue and not self._halt.is_set():
                if not self._cond.wait(timeout=2.0):
                    self.sender.close()  # idle: release the association
            return self._queue[0] if self._queue else None

    def run(self) -> None:
        while True:
            delivery = self._next()
            if delivery is None:
                break
            delivery.attempts += 1
            error = None
            try:
                self.sender.send(delivery.derived)
            except PermanentError as exc:
                error = str(exc)
            except TransientError as exc:
                waited = time.monotonic() - delivery.first_try
                delay = min(self.max_interval, 2.0 ** min(delivery.attempts - 1, 16))
                out_of_time = waited + delay > self.retry_for or (self.deadline is not None and time.monotonic() + delay > self.deadline)
                if out_of_time or self._halt.is_set():
                    error = f"{exc}; gave up after {delivery.attempts} tries in {waited:.0f} s"
                else:
                    self.retrying = True
                    if self.on_retry is not None:
                        self.on_retry()
                    log_event("forward_retry", 30, destination=self.destination.name, sop_out=delivery.derived.sop_uid, attempt=delivery.attempts, retry_in_s=delay, reason=str(exc))
                    self._halt.wait(delay)
                    continue
            except Exception as exc:  # a bug must not kill the thread and lose the queue
                error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
            self.retrying = False
            with self._cond:
                self._queue.popleft()
            self.on_done(delivery, self.destination, error)
        self.sender.close()

    def abandon(self) -> list:
        """Whatever is still queued (after the thread stopped)."""
        with self._cond:
            left = list(self._queue)
            self._queue.clear()
        return left

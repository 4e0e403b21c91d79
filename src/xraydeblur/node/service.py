"""The running node: C-STORE intake -> bounded in-memory queue -> deblur workers ->
forwarders, plus the optional status page.

Every accepted image holds one of ``queue_size`` slots from the moment it is accepted
until it has been delivered to all its destinations (or given up and reported), so the
memory used is bounded and a slow or absent destination makes the node answer
"out of resources" instead of piling up images. Nothing is written to disk.
"""

import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass, field

from ..errors import InputError
from .forward import DicomSender, Delivery, Forwarder, StowSender, client_ssl_context
from .scp import Intake, make_ae, server_ssl_context
from .stats import Stats, log_event
from .worker import deblur_radiograph, load_settings


@dataclass
class Job:
    id: int
    rad: object
    source: dict
    destinations: list
    received: float
    queued_s: float = 0.0
    derived: object = None
    facts: dict = field(default_factory=dict)
    remaining: set = field(default_factory=set)
    errors: dict = field(default_factory=dict)
    forward_started: float = 0.0


class Node:
    """``Node(config).start()``; ``stop()`` drains and returns the number of images left
    unfinished (0 on a clean stop)."""

    def __init__(self, config, settings=None):
        self.config = config
        self.settings = settings or load_settings(config)
        self.stats = Stats()
        self.accepting = False
        self._lock = threading.Lock()
        self._held = 0  # accepted images in memory
        self._deblurring = 0
        self._ids = itertools.count(1)
        self._jobs: queue.Queue = queue.Queue()
        from ..allocator import IdleRelease

        self._idle_release = IdleRelease()  # freed memory reused by the next image, handed back when idle
        self._stopping = threading.Event()
        self.ae = None
        self.server = None
        self.http = None
        self.workers: list[threading.Thread] = []
        outgoing_tls = None
        if any(d.tls for d in config.destinations):
            outgoing_tls = client_ssl_context(config.tls_ca, config.tls_cert, config.tls_key)
        self.forwarders = {}
        for dest in config.destinations:
            sender = DicomSender(dest, config.aet, outgoing_tls) if dest.kind == "dicom" else StowSender(dest, outgoing_tls)
            self.forwarders[dest.name] = Forwarder(dest, sender, self._delivered, config.retry_for, config.retry_max_interval, on_retry=lambda: self.stats.add("retries"))

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> "Node":
        for forwarder in self.forwarders.values():
            forwarder.start()
        for i in range(self.config.workers):
            worker = threading.Thread(target=self._work, name=f"deblur-{i + 1}", daemon=True)
            worker.start()
            self.workers.append(worker)
        self.ae = make_ae(self.config)
        ssl_context = server_ssl_context(self.config.tls_cert, self.config.tls_key, self.config.tls_ca) if self.config.tls_cert else None
        self.accepting = True
        try:
            self.server = self.ae.start_server((self.config.host, self.config.port), block=False, ssl_context=ssl_context, evt_handlers=Intake(self).handlers())
        except OSError as exc:
            raise InputError(f"cannot listen on {self.config.host}:{self.config.port} ({exc.strerror or exc}); choose another --port or --host") from None
        if self.config.http_port is not None:
            from .http import StatusServer

            try:
                self.http = StatusServer(self, self.config.http_host, self.config.http_port).start()
            except OSError as exc:
                self.server.shutdown()
                raise InputError(f"cannot serve the status page on {self.config.http_host}:{self.config.http_port} ({exc.strerror or exc}); choose another --http-port") from None
        log_event(
            "started", aet=self.config.aet, host=self.config.host, port=self.port, tls=bool(ssl_context),
            http_port=self.http.port if self.http else None, method=self.settings.method.name,
            blur=self.settings.kernel_label, destinations=[d.label for d in self.config.destinations],
        )
        return self

    @property
    def port(self) -> int:
        return int(self.server.server_address[1]) if self.server else self.config.port

    def request_stop(self) -> None:
        self._stopping.set()

    def wait(self) -> None:
        """Block until :meth:`request_stop` (e.g. from a SIGTERM handler)."""
        while not self._stopping.wait(0.5):
            pass

    def stop(self, drain_timeout: float | None = None) -> int:
        """Stop accepting, finish what is in memory within ``drain_timeout`` seconds,
        report (log) each image left unfinished, and shut down. Returns their number."""
        drain = self.config.drain_timeout if drain_timeout is None else drain_timeout
        self._stopping.set()
        self.accepting = False
        log_event("stopping", in_memory=self.in_memory(), drain_timeout_s=drain)
        if self.server is not None:
            self.server.shutdown()  # no new associations
            grace = time.monotonic() + 10.0
            while self.ae.active_associations and time.monotonic() < grace:
                time.sleep(0.05)
            for assoc in self.ae.active_associations:
                assoc.abort()  # an unanswered C-STORE stays with its sender
        deadline = time.monotonic() + drain
        for forwarder in self.forwarders.values():
            forwarder.deadline = deadline
        while self.in_memory() and time.monotonic() < deadline:
            time.sleep(0.05)
        for _ in self.workers:
            self._jobs.put(None)
        for forwarder in self.forwarders.values():
            forwarder.stop()
        for thread in [*self.workers, *self.forwarders.values()]:
            thread.join(timeout=5.0)
        left = self._abandon()
        if self.http is not None:
            self.http.stop()
        log_event("stopped", left_unfinished=left, **self.stats.snapshot())
        return left

    def _abandon(self) -> int:
        """Report every image still in memory: the PACS still has it; send it again."""
        jobs = {}
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                jobs[job.id] = job
        for forwarder in self.forwarders.values():
            for delivery in forwarder.abandon():
                jobs[delivery.job.id] = delivery.job
        for job in jobs.values():
            log_event("image", logging.ERROR, outcome="not_processed", reason="node stopped before it was done; send it again", **job.source)
        with self._lock:
            left = max(self._held, len(jobs))
            self._held = 0
        return left

    # -- admission (called by the C-STORE handler) -----------------------------------

    def reserve(self) -> bool:
        with self._lock:
            if self._held >= self.config.queue_size:
                return False
            self._held += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._held = max(0, self._held - 1)

    def in_memory(self) -> int:
        with self._lock:
            return self._held

    def enqueue(self, rad, source: dict, destinations: list, received: float) -> None:
        self._jobs.put(Job(next(self._ids), rad, source, destinations, received))

    # -- work ------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            job.queued_s = time.monotonic() - job.received
            with self._lock:
                self._deblurring += 1
            self._idle_release.begin()
            try:
                derived = deblur_radiograph(job.rad, self.settings)
            except Exception as exc:
                reason = " ".join(str(exc).split())[:200]
                log_event("image", logging.ERROR, outcome="failed", reason=f"deblur failed: {type(exc).__name__}: {reason}".rstrip(": "), queue_s=round(job.queued_s, 3), **job.source)
                self.stats.add("failed")  # counted after the log line: whoever sees the count finds the line
                self.release()
                continue
            finally:
                with self._lock:
                    self._deblurring -= 1
                job.rad = None  # free the pixels
                self._idle_release.end()
            self.stats.add("processed")
            self.stats.deblur(derived.facts.get("deblur_s", 0.0))
            job.derived, job.facts = derived, derived.facts
            job.remaining = {d.name for d in job.destinations}
            job.forward_started = time.monotonic()
            for dest in job.destinations:
                self.forwarders[dest.name].submit(Delivery(job, derived))

    def _delivered(self, delivery: Delivery, destination, error: str | None) -> None:
        job = delivery.job
        with self._lock:
            if error:
                job.errors[destination.name] = error
            job.remaining.discard(destination.name)
            done = not job.remaining
        if not done:
            return
        latency = time.monotonic() - job.received
        derived = job.derived
        fields = dict(
            **job.source,
            sop_out=derived.sop_uid,
            series_out=derived.series_uid,
            **job.facts,
            queue_s=round(job.queued_s, 3),
            forward_s=round(time.monotonic() - job.forward_started, 3),
            latency_s=round(latency, 3),
            destinations=[d.name for d in job.destinations],
        )
        if job.errors:
            log_event("image", logging.ERROR, outcome="forward_failed", reason="; ".join(f"{k}: {v}" for k, v in job.errors.items())[:400], **fields)
            self.stats.add("forward_failed")
        else:
            log_event("image", outcome="forwarded", **fields)
            self.stats.latency(latency)
            self.stats.add("forwarded")
        job.derived = None
        self.release()

    # -- status ------------------------------------------------------------------------

    def status(self) -> dict:
        from .. import __version__

        with self._lock:
            held, deblurring = self._held, self._deblurring
        return {
            "status": "ok" if self.accepting else "stopping",
            "version": __version__,
            "queue": {"length": held, "capacity": self.config.queue_size, "waiting": self._jobs.qsize(), "deblurring": deblurring},
            **self.stats.snapshot(),
            "destinations": {name: {"pending": f.pending(), "retrying": f.retrying} for name, f in self.forwarders.items()},
            "settings": self.config.public(),
        }

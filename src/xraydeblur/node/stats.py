"""Counters for the status page and the node's structured log.

The log is one JSON object per line on the ``xraydeblur.node`` logger: an ``event``
name plus UIDs, AE titles, sizes, statuses and timings. Callers pass only such fields;
patient names, other demographics and pixel data never reach it.
"""

import json
import logging
import threading
import time

log = logging.getLogger("xraydeblur.node")


def log_event(event: str, level: int = logging.INFO, **fields) -> None:
    """One structured line: ``{"event": ..., **fields}`` (None values dropped)."""
    if log.isEnabledFor(level):
        payload = {"event": event, **{k: v for k, v in fields.items() if v is not None}}
        log.log(level, json.dumps(payload, separators=(",", ":"), default=str))


class JsonLineFormatter(logging.Formatter):
    """Timestamp and level around the JSON payload, still one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        if message.startswith("{"):
            return f'{{"ts":"{stamp}","level":"{record.levelname.lower()}",{message[1:]}'
        return json.dumps({"ts": stamp, "level": record.levelname.lower(), "event": "message", "message": message[:500]})


class Stats:
    """Thread-safe counters (the numbers ``/status`` shows)."""

    COUNTERS = ("received", "processed", "forwarded", "failed", "forward_failed", "skipped", "busy", "undecodable", "retries")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.time()
        self.counts = dict.fromkeys(self.COUNTERS, 0)
        self._latency_sum = 0.0
        self._latency_n = 0
        self._deblur_sum = 0.0
        self._deblur_n = 0

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counts[name] += n

    def latency(self, seconds: float) -> None:
        with self._lock:
            self._latency_sum += seconds
            self._latency_n += 1

    def deblur(self, seconds: float) -> None:
        with self._lock:
            self._deblur_sum += seconds
            self._deblur_n += 1

    def snapshot(self) -> dict:
        with self._lock:
            return {
                **self.counts,
                "mean_latency_s": round(self._latency_sum / self._latency_n, 3) if self._latency_n else None,
                "mean_deblur_s": round(self._deblur_sum / self._deblur_n, 3) if self._deblur_n else None,
                "uptime_s": round(time.time() - self.started, 1),
            }

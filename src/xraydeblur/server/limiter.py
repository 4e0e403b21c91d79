"""Admission limits: a first-come-first-served limit on concurrent inferences with a
queue timeout (:class:`InferenceLimiter`) and a server-wide budget for the request
bodies held in memory (:class:`MemoryBudget`). The allocator settings the server uses
are in :mod:`xraydeblur.allocator`.

``asyncio.Semaphore`` binds to one event loop; this limiter keeps its count under a
``threading.Lock`` and wakes waiters on their own loop, so it also works when a test
client runs every request on a fresh loop. A slot is handed directly from the
releasing request to the oldest waiter, so a late arrival cannot overtake the queue.
"""

import asyncio
import threading
from collections import deque


class InferenceLimiter:
    """At most ``limit`` holders at a time; others wait in arrival order."""

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError("the concurrency limit must be at least 1")
        self.limit = int(limit)
        self._lock = threading.Lock()
        self._active = 0
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = deque()

    @property
    def active(self) -> int:
        return self._active

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self, timeout: float) -> bool:
        """Take a slot, waiting at most ``timeout`` seconds; False when none came free."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._active < self.limit and not self._waiters:
                self._active += 1
                return True
            future = loop.create_future()
            entry = (loop, future)
            self._waiters.append(entry)
        try:
            await asyncio.wait_for(future, timeout=max(0.0, timeout))
        except asyncio.TimeoutError:
            self._forget(entry)
            return False
        except asyncio.CancelledError:
            self._forget(entry)
            raise
        return True

    def _forget(self, entry) -> None:
        """Drop a waiter that gave up. Its future is cancelled by then, so a hand-over
        already on its way finds it done and passes the slot on (see ``_grant``)."""
        with self._lock:
            try:
                self._waiters.remove(entry)
            except ValueError:
                pass

    def release(self) -> None:
        """Give a slot back: to the oldest live waiter, else to the pool."""
        with self._lock:
            while self._waiters:
                loop, future = self._waiters.popleft()
                try:
                    loop.call_soon_threadsafe(self._grant, future)
                except RuntimeError:  # that waiter's loop is closed
                    continue
                return
            self._active = max(0, self._active - 1)

    def _grant(self, future: asyncio.Future) -> None:
        if future.done():  # the waiter gave up before the hand-over arrived
            self.release()
        else:
            future.set_result(True)


class MemoryBudget:
    """A server-wide cap on the bytes of request bodies held in memory at once.

    A request is admitted by its declared size (Content-Length; the upload cap when
    it declares none) before its body is read: :meth:`try_reserve` either books the
    bytes or refuses at once (the caller answers 503 with Retry-After), and
    :meth:`release` gives them back when the request is done.
    """

    def __init__(self, limit_bytes: int):
        if limit_bytes < 1:
            raise ValueError("the memory budget must be positive")
        self.limit = int(limit_bytes)
        self._lock = threading.Lock()
        self._used = 0

    @property
    def used(self) -> int:
        """Bytes booked by requests in progress."""
        return self._used

    def try_reserve(self, nbytes: int) -> bool:
        """Book ``nbytes`` if they fit in what is left; False (nothing booked) if not."""
        nbytes = max(0, int(nbytes))
        with self._lock:
            if self._used + nbytes > self.limit:
                return False
            self._used += nbytes
            return True

    def release(self, nbytes: int) -> None:
        """Give back what :meth:`try_reserve` booked."""
        with self._lock:
            self._used = max(0, self._used - max(0, int(nbytes)))

"""Admission limits: a first-come-first-served limit on concurrent inferences with a
queue timeout (:class:`InferenceLimiter`), a server-wide budget for the request bodies
held in memory (:class:`MemoryBudget`), and giving freed memory back to the system.

``asyncio.Semaphore`` binds to one event loop; this limiter keeps its count under a
``threading.Lock`` and wakes waiters on their own loop, so it also works when a test
client runs every request on a fresh loop. A slot is handed directly from the
releasing request to the oldest waiter, so a late arrival cannot overtake the queue.
"""

import asyncio
import functools
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


@functools.lru_cache(maxsize=1)
def _libc():
    """glibc, or None on other C libraries (then the calls below do nothing)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        libc.malloc_trim  # noqa: B018 - glibc only
        return libc
    except (OSError, AttributeError):
        return None


#: glibc mallopt parameter: allocations above this size get their own mapping
_M_MMAP_THRESHOLD = -3
#: fixed mmap threshold (bytes, 32 MB): larger buffers (uploads, float64 copies of big
#: images) are mapped on their own and go back to the system when freed; smaller ones
#: (a 4-megapixel float32 image is 17 MB) are reused from the heap. At 1 MB every image
#: buffer of a request was a fresh mapping whose pages the kernel had to zero: about
#: 100 000 more page faults and 0.4 s more system time per 4-megapixel request.
#: What stays in the heap is handed back by :func:`release_memory` after large requests.
MMAP_THRESHOLD_BYTES = 1 << 25


def tune_allocator() -> None:
    """Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD_BYTES` (by default it starts
    at 128 kB and moves with the sizes of freed buffers, so which buffers go back to the
    system when freed depends on what the server served before)."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


def release_memory() -> None:
    """Return freed heap memory to the system after a request (glibc ``malloc_trim``)."""
    import gc

    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)

"""glibc allocator settings for big images: fewer page faults, memory handed back when due.

A 4-megapixel float32 image is 17 MB. With glibc's defaults such buffers get their own
mapping (the threshold starts at 128 kB and moves with what was freed before) and go
back to the system when freed, so the next one is a fresh mapping whose pages the kernel
zeroes again: about 100 000 page faults and 0.4-1 s of system time per 4-megapixel
image. Both the server and the command line fix the threshold and keep freed memory
for reuse; a server hands it back once idle (:class:`IdleRelease`). On other C
libraries these calls do nothing.
"""

import functools
import threading


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


#: glibc mallopt parameters
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
#: fixed mmap threshold (bytes, 32 MB): larger buffers (uploads, float64 copies of big
#: images) are mapped on their own and go back to the system when freed; smaller ones
#: are reused from the heap.
MMAP_THRESHOLD_BYTES = 1 << 25
#: heap top kept when freeing (bytes, 1 GB): memory a request freed is reused by the
#: next one instead of being handed back and faulted in again (a one-shot command ends
#: soon anyway; a server hands it back once idle, :class:`IdleRelease`)
KEEP_FREED_BYTES = 1 << 30
#: seconds without a request after which a server hands freed memory back
IDLE_RELEASE_SECONDS = 30.0
#: heap a server keeps touched for its requests (bytes, 512 MB: about what a 4-megapixel
#: request allocates besides the model): filled at start (:func:`prefault_heap`) so the
#: first request is no slower than later ones, and kept when idle (:class:`IdleRelease`)
WORKING_SET_BYTES = 512 << 20
#: block size of :func:`prefault_heap` (below :data:`MMAP_THRESHOLD_BYTES`: from the heap)
_PREFAULT_BLOCK_BYTES = 16 << 20


def tune_allocator(single_arena: bool = False) -> None:
    """Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD_BYTES` and keep freed heap
    memory up to :data:`KEEP_FREED_BYTES` for reuse. ``single_arena`` (a server, before
    it starts threads): every thread allocates from the one main heap, so the memory one
    request freed is there for the next whichever threads run it, and
    :func:`prefault_heap` and :func:`release_memory`'s ``keep`` act on all of it."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        libc.mallopt(_M_TRIM_THRESHOLD, KEEP_FREED_BYTES)
        if single_arena:
            libc.mallopt(_M_ARENA_MAX, 1)


def prefault_heap(nbytes: int = WORKING_SET_BYTES) -> None:
    """Grow the heap by ``nbytes`` of touched pages and free them again: with the trim
    threshold of :func:`tune_allocator` they stay, and a request's arrays then land on
    pages the kernel has already zeroed (no page faults)."""
    import numpy as np

    blocks = [np.ones(_PREFAULT_BLOCK_BYTES // 4, np.float32) for _ in range(max(0, nbytes) // _PREFAULT_BLOCK_BYTES)]
    del blocks


def release_memory(keep: int = 0) -> None:
    """Return freed heap memory to the system beyond the top ``keep`` bytes of the heap
    (glibc ``malloc_trim``)."""
    import gc

    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(int(keep))


class IdleRelease:
    """Calls :func:`release_memory` (keeping :data:`WORKING_SET_BYTES`) once no request
    has run for ``delay`` seconds.

    A server calls :meth:`begin` when a request starts work and :meth:`end` when it is
    done: back-to-back requests reuse the memory the previous one freed (a 4-megapixel
    request faulted 64 000-90 000 pages in when memory was handed back after each one,
    ``benchmarks/results/trials/first_request.json``; 17-20 with this,
    ``benchmarks/results/end_to_end.json``), and an idle server still hands back what
    lies beyond :data:`WORKING_SET_BYTES`."""

    def __init__(self, delay: float = IDLE_RELEASE_SECONDS):
        self.delay = float(delay)
        self._lock = threading.Lock()
        self._active = 0
        self._timer = None

    def begin(self) -> None:
        with self._lock:
            self._active += 1
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def end(self) -> None:
        with self._lock:
            self._active = max(0, self._active - 1)
            if self._active == 0:
                self._timer = threading.Timer(self.delay, release_memory, kwargs={"keep": WORKING_SET_BYTES})
                self._timer.daemon = True
                self._timer.start()

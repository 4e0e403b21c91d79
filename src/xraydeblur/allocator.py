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


def tune_allocator() -> None:
    """Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD_BYTES` and keep freed heap
    memory up to :data:`KEEP_FREED_BYTES` for reuse (a server pairs this with
    :class:`IdleRelease`)."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        libc.mallopt(_M_TRIM_THRESHOLD, KEEP_FREED_BYTES)


def release_memory() -> None:
    """Return freed heap memory to the system (glibc ``malloc_trim``)."""
    import gc

    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


class IdleRelease:
    """Calls :func:`release_memory` once no request has run for ``delay`` seconds.

    A server calls :meth:`begin` when a request starts work and :meth:`end` when it is
    done: back-to-back requests reuse the memory the previous one freed (on this
    2-core VM each 4-megapixel request otherwise re-faulted about 50 000 pages, 0.3-0.5 s),
    and an idle server still hands it back."""

    def __init__(self, delay: float = IDLE_RELEASE_SECONDS):
        import threading

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
        import threading

        with self._lock:
            self._active = max(0, self._active - 1)
            if self._active == 0:
                self._timer = threading.Timer(self.delay, release_memory)
                self._timer.daemon = True
                self._timer.start()

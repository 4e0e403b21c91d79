"""glibc allocator settings for big images: fewer page faults, memory handed back when due.

A 4-megapixel float32 image is 17 MB. With glibc's defaults such buffers get their own
mapping (the threshold starts at 128 kB and moves with what was freed before) and go
back to the system when freed, so the next one is a fresh mapping whose pages the kernel
zeroes again: about 100 000 page faults and 0.4-1 s of system time per 4-megapixel
image. Both the server and the command line fix the threshold; on other C libraries
these calls do nothing.
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
#: heap top kept when freeing in a one-shot command (bytes, 1 GB): the process ends soon,
#: so giving memory back only to fault it in again is wasted system time
ONE_SHOT_TRIM_THRESHOLD_BYTES = 1 << 30


def tune_allocator(one_shot: bool = False) -> None:
    """Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD_BYTES`. ``one_shot`` (a
    command that exits after one image) also keeps freed heap memory instead of
    returning it (:data:`ONE_SHOT_TRIM_THRESHOLD_BYTES`); a server instead calls
    :func:`release_memory` after large requests."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        if one_shot:
            libc.mallopt(_M_TRIM_THRESHOLD, ONE_SHOT_TRIM_THRESHOLD_BYTES)


def release_memory() -> None:
    """Return freed heap memory to the system after a request (glibc ``malloc_trim``)."""
    import gc

    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)

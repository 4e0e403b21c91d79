"""The allocator settings (xraydeblur.allocator): harmless calls, and a server's idle release."""

import time

import xraydeblur.allocator as allocator


def test_tune_prefault_and_release_are_harmless():
    allocator.tune_allocator()  # real calls: glibc here, no-ops on other C libraries
    allocator.prefault_heap(64 << 20)
    allocator.release_memory(keep=32 << 20)
    allocator.release_memory()


def test_idle_release_waits_for_the_last_request(monkeypatch):
    """Memory goes back once no request has run for the delay: not while one runs,
    and a request that starts in the meantime cancels the pending release."""
    released = []
    monkeypatch.setattr(allocator, "release_memory", lambda keep=0: released.append(keep))
    idle = allocator.IdleRelease(delay=0.2)
    idle.begin()
    idle.begin()
    idle.end()  # one request still running: nothing scheduled
    time.sleep(0.35)
    assert released == []
    idle.end()
    time.sleep(0.1)
    idle.begin()  # a new request before the delay ran out: cancelled
    time.sleep(0.35)
    assert released == []
    idle.end()
    time.sleep(0.5)
    assert released == [allocator.WORKING_SET_BYTES]  # the working set stays


def _faults_allocating(prefault: bool) -> int:
    """Minor page faults of allocating and filling 64 MB of 16 MB arrays in a fresh
    process with the server's allocator settings, after ``prefault_heap`` or not."""
    import subprocess
    import sys

    code = (
        "import resource, numpy as np, xraydeblur.allocator as a\n"
        "a.tune_allocator(single_arena=True)\n"
        f"a.prefault_heap(256 << 20) if {prefault} else None\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "blocks = [np.ones(4 << 20, np.float32) for _ in range(4)]\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
    )
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def test_prefaulted_memory_spares_requests_the_page_faults():
    """What the server's start-up buys: arrays land on pages already touched. Without it
    64 MB of fresh arrays fault their pages in (2064 faults here, where numpy asks for
    transparent huge pages; about 16 000 with 4 kB pages only); after it, almost none."""
    import pytest

    if allocator._libc() is None:
        pytest.skip("not glibc: the allocator settings do nothing here")
    fresh = _faults_allocating(prefault=False)
    if fresh == 0:
        pytest.skip("this kernel maps fresh memory without minor faults")
    assert _faults_allocating(prefault=True) * 10 < fresh

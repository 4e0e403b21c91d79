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

"""Ending a torchrun worker once its run is done and written.

Under ``torchrun`` each worker tears its gloo process group down in order (a barrier,
then ``destroy_process_group``), yet now and then a worker still died at interpreter
exit with SIGABRT ("terminate called without an active exception": a gloo thread
destroyed while running), and torchrun then failed a run whose checkpoint and summary
were already on disk. :func:`leave_if_worker` skips that teardown.
"""

from __future__ import annotations

import os
import sys


def leave_if_worker(code: int = 0) -> None:
    """In a torchrun worker (``WORLD_SIZE`` > 1): flush stdout and stderr and end the
    process at once with ``code`` (``os._exit``: no interpreter teardown, so no atexit
    handlers either; call it only after every file is written and closed). Otherwise
    return, and the caller exits as usual."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

"""Trial: why the first API request after start is slower than later ones (issue 28).

In one process, as the server does: the warm-up (:func:`xraydeblur.server.app.warm_default_method`)
with a warm-up image of each ``--warm-sides`` px, then ``--requests`` requests of the
end-to-end benchmark's blurred 2000 x 2128 DICOM (``966_fixed.dcm`` blurred with
Gaussian sigma 2 px, built in memory) through :func:`xraydeblur.server.processing.process`,
each followed by the server's :func:`xraydeblur.allocator.release_memory`, and
once more at the first warm-up size with memory handed back only once idle. Prints
and writes per request: wall seconds, the method's seconds, minor page faults and system
CPU seconds; and the safeguard's wall seconds on that image, median of 5.

    python benchmarks/trials/first_request.py --out benchmarks/results/trials/first_request.json

Run it with nothing else on the machine (wall times drift by 20 % and more here).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))


def blurred_dicom() -> bytes:
    from xraydeblur.data import data_root
    from xraydeblur.degrade import gaussian_blur
    from xraydeblur.io import encode_radiograph, read_radiograph

    rad = read_radiograph(data_root() / "dicom" / "966_fixed.dcm")
    return encode_radiograph(rad, gaussian_blur(rad.pixels, 2.0)[0], "dicom", method="trial input: Gaussian blur sigma 2", synthetic=True)


def one_server(warm_side: int, requests: int, trim_each: bool, queue) -> None:
    """A fresh process: warm-up at ``warm_side`` px, then ``requests`` back-to-back
    requests, memory handed back after each (``trim_each``, the server's behaviour
    before :class:`xraydeblur.server.limiter.IdleTrimmer`) or only once idle (after
    the last: the server now)."""
    import xraydeblur.server.app as app
    from xraydeblur.methods import get_method
    from xraydeblur.allocator import release_memory, tune_allocator
    from xraydeblur.server.processing import process

    tune_allocator()
    app.WARM_SIDE_PX = warm_side
    started = time.perf_counter()
    app.warm_default_method()
    warm_seconds = time.perf_counter() - started
    data, method, rows = blurred_dicom(), get_method(), []
    for _ in range(requests):
        before, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        outcome = process(data, method, output="dicom", max_pixels=50_000_000, include_pixels=False)
        seconds, after = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
        if trim_each:
            release_memory()
        rows.append({"seconds": round(seconds, 3), "method_seconds": outcome.facts["seconds_by_step"]["method"],
                     "minor_faults": after.ru_minflt - before.ru_minflt, "system_seconds": round(after.ru_stime - before.ru_stime, 3)})
    queue.put({"warm_side_px": warm_side, "memory_back": "after each request" if trim_each else "once idle", "warm_seconds": round(warm_seconds, 3), "requests": rows})


def safeguard_seconds(repeats: int = 5) -> float:
    from xraydeblur.degrade import blur, gaussian_kernel
    from xraydeblur.io import read_radiograph
    from xraydeblur.pipeline import safeguard_facts

    y = read_radiograph(blurred_dicom()).pixels
    kernel = gaussian_kernel(2.0)
    reblurred = blur(y, kernel, dtype=np.float32)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        safeguard_facts(y, y, kernel, "estimated", True, reblurred)
        times.append(time.perf_counter() - t0)
    return round(float(np.median(times)), 3)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--warm-sides", type=int, nargs="+", default=[720, 1440])
    p.add_argument("--requests", type=int, default=3)
    p.add_argument("--out", default="benchmarks/results/trials/first_request.json")
    args = p.parse_args()
    context = multiprocessing.get_context("spawn")
    runs = []
    for side, trim_each in [(side, True) for side in args.warm_sides] + [(args.warm_sides[0], False)]:
        queue = context.Queue()
        proc = context.Process(target=one_server, args=(side, args.requests, trim_each, queue))
        proc.start()
        runs.append(queue.get())
        proc.join()
        print(json.dumps(runs[-1]), flush=True)
    result = {"command": "python benchmarks/trials/first_request.py " + " ".join(sys.argv[1:]), "runs": runs,
              "safeguard_seconds_2000x2128": safeguard_seconds()}
    print("safeguard (residual map included), median of 5:", result["safeguard_seconds_2000x2128"], "s")
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

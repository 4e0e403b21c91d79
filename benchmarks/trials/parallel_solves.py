"""Trial (issue 26, speed; shipped): the learned data step's masked solves run side by
side on the two cores (``xraydeblur.classical._common.run_parallel``) against one after
another, on one whole real DICOM of the shared data.

The learned step (:mod:`xraydeblur.infer.learned_step`) solves 14 candidates: on
noise-free input 14 independent masked solves, on noisy input two regularisation paths
of 7. About 40 % of a solve's time is numpy's element-wise work, which runs on one core;
two solves at once, each with single-threaded FFTs, use both. The FFT's thread count
does not change its result, so the candidates must be bit-identical.

``--dicom`` (default ``dicom/966_fixed.dcm``, 2128 x 2000, 12 bit) is blurred with
straight motion (``--length`` px at ``--angle`` degrees) and rounded to its own bit
depth, with the benchmark's noise (dose 2000, read noise 0.002) for ``--noisy``; the
blind network's output is the estimate, and the step's own rule (``data_step``) says
whether the input is noise-free. Alternating runs (``--repeats`` each) of the candidates
with one thread and with two; prints the median seconds and whether the stacks are
equal, and writes JSON::

    python benchmarks/trials/parallel_solves.py --out benchmarks/results/trials/parallel_solves.json
    python benchmarks/trials/parallel_solves.py --noisy --out benchmarks/results/trials/parallel_solves-noisy.json

No test or validation split is scored: the DICOMs are public test data, not
radiographs of the benchmark. Timings need an idle machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dicom", default="dicom/966_fixed.dcm", help="relative to the data root")
    p.add_argument("--length", type=float, default=9.0)
    p.add_argument("--angle", type=float, default=30.0)
    p.add_argument("--noisy", action="store_true", help="add the benchmark's noise (dose 2000, read noise 0.002) after the blur")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--out", default="benchmarks/results/trials/parallel_solves.json")
    args = p.parse_args()

    from xraydeblur.classical import kernel_noise_sigma
    from xraydeblur.data import data_root
    from xraydeblur.degrade import blur, make_kernel, poisson_gaussian_noise, quantize
    from xraydeblur.infer.data_step import is_noise_free
    from xraydeblur.infer.learned_step import candidate_balance, capped_iterations, noisy_iterations, step_candidates, step_settings
    from xraydeblur.io import read_radiograph
    from xraydeblur.methods import get_method

    rad = read_radiograph(str(data_root() / args.dicom))
    kernel = make_kernel("motion", length=args.length, angle=args.angle)
    y = blur(np.asarray(rad.pixels, np.float64), kernel)
    if args.noisy:
        y = poisson_gaussian_noise(y, 2000.0, 0.002, seed=0)
    y = quantize(np.clip(y, 0, 1), rad.bits_stored).astype(np.float32)
    z = get_method("nafnet-blind")(y)
    noise = float(kernel_noise_sigma(y, kernel))
    noisy = not is_noise_free(y, noise)
    settings = capped_iterations(step_settings(), noisy_iterations() if noisy else None)  # as data_step runs it
    balance = candidate_balance(y, kernel, noise, settings)
    seconds: dict[int, list[float]] = {1: [], 2: []}
    stacks = {}
    for _ in range(args.repeats):
        for threads in (1, 2):
            started = time.perf_counter()
            stacks[threads] = step_candidates(y, z, kernel, None, noise, settings=settings, path=noisy, balance=balance, threads=threads)[1]
            seconds[threads].append(round(time.perf_counter() - started, 2))
            print(f"threads {threads}: {seconds[threads][-1]:.2f} s", flush=True)
    equal = bool(np.array_equal(stacks[1], stacks[2]))
    median = {t: statistics.median(s) for t, s in seconds.items()}
    print(f"{'noisy' if noisy else 'noise-free'} input: one after another {median[1]:.2f} s, side by side {median[2]:.2f} s ({median[1] / median[2]:.2f} x), bit-identical: {equal}")
    result = {
        "command": "python benchmarks/trials/parallel_solves.py " + " ".join(sys.argv[1:]),
        "dicom": args.dicom,
        "shape": list(y.shape),
        "bits_stored": rad.bits_stored,
        "blur": {"family": "motion", "length": args.length, "angle": args.angle},
        "noise": {"dose": 2000.0, "read_noise": 0.002} if args.noisy else None,
        "step_input": "noisy: two regularisation paths" if noisy else "noise-free: 14 independent solves",
        "seconds_one_thread": seconds[1],
        "seconds_two_threads": seconds[2],
        "median_one_thread": median[1],
        "median_two_threads": median[2],
        "speedup": round(median[1] / median[2], 3),
        "bit_identical": equal,
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

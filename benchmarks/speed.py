"""Seconds and peak memory to deblur one large radiograph, per method, on this CPU.

Each method runs in a fresh subprocess (:mod:`xraydeblur.speed`): load, warm up on
256x256, then the best of ``--repeats`` runs on a SIZE x SIZE synthetic image. Prints a
table and writes JSON.

    python benchmarks/speed.py --size 2048 --methods nafnet-blind wiener --out docs/results/speed.json

``--noisy-methods`` times those methods a second time on the image blurred (Gaussian
sigma 2 px) with the benchmark's Poisson-Gaussian noise, as real radiographs are (the
kernel-aware data step's solve is slowest on noise-free input).
"""

import argparse
import json
import os
import platform
import sys
import time

from xraydeblur.speed import measure_speed, speed_table


def cpu_model() -> str:
    """The CPU's model name and clock as the kernel reports them (timings differ
    between machines of the same kind: record which one ran)."""
    try:
        info = open("/proc/cpuinfo").read().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    name = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "")
    mhz = next((line.split(":", 1)[1].strip() for line in info if line.startswith("cpu MHz")), "")
    return f"{name} @ {mhz} MHz" if mhz else name


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--methods", nargs="*")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--noisy-methods", nargs="*", default=[], help="also time these on a blurred, noisy image")
    p.add_argument("--out")
    args = p.parse_args()
    from xraydeblur.methods import available_methods

    rows = []
    runs = [(name, False) for name in args.methods or available_methods()] + [(name, True) for name in args.noisy_methods]
    for name, noisy in runs:
        rows.append(measure_speed(name, args.size, args.repeats, args.threads, noisy=noisy))
        print(speed_table(rows[-1:]).splitlines()[-1], flush=True)
    print(f"\n{args.size}x{args.size}, {args.threads} threads\n" + speed_table(rows))
    meta = {"command": "python benchmarks/speed.py " + " ".join(sys.argv[1:]), "size": args.size, "threads": args.threads,
            "cpu": platform.processor() or platform.machine(), "cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "date": time.strftime("%Y-%m-%d")}
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({**meta, "results": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

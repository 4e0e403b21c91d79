"""Seconds and peak memory to deblur one large radiograph, per method, on this CPU.

Each method runs in a fresh subprocess (so peak RSS is its own): load the method, warm
up on a 256x256 image, then time ``--repeats`` runs on a SIZE x SIZE synthetic image
(smooth random structure; content does not change the cost of these methods).

    python benchmarks/speed.py --size 2048 --methods nafnet-blind wiener --out benchmarks/results/speed.json
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

CHILD = r"""
import json, resource, sys, time
import numpy as np
from scipy.ndimage import gaussian_filter
from xraydeblur.methods import get_method
name, size, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
image = np.clip(gaussian_filter(rng.random((size, size)), 3) * 4 - 1.5, 0, 1).astype(np.float32)
t0 = time.perf_counter()
method = get_method(name)
method(image[:256, :256], None)
load = time.perf_counter() - t0
times = []
for _ in range(repeats):
    t = time.perf_counter()
    method(image, None)
    times.append(time.perf_counter() - t)
print(json.dumps({"method": name, "seconds": min(times), "seconds_all": times, "load_seconds": load,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "backend": getattr(getattr(method.run, "backend", None), "name", "numpy")}))
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--methods", nargs="*")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--out")
    args = p.parse_args()
    from xraydeblur.methods import available_methods

    names = args.methods or available_methods()
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "XRAYDEBLUR_THREADS": str(args.threads)}
    rows = []
    for name in names:
        proc = subprocess.run([sys.executable, "-c", CHILD, name, str(args.size), str(args.repeats)], capture_output=True, text=True, env=env)
        if proc.returncode:
            rows.append({"method": name, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"})
        else:
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"{name:20s} " + (f"{r['seconds']:7.2f} s  {r['peak_rss_mb']:7.0f} MB peak  ({r['backend']})" if "seconds" in r else r["error"]), flush=True)
    meta = {"command": "python benchmarks/speed.py " + " ".join(sys.argv[1:]), "size": args.size, "threads": args.threads,
            "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(), "date": time.strftime("%Y-%m-%d")}
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({**meta, "results": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

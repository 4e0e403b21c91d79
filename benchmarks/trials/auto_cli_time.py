"""Trial (issues 26, 28): what a user waits for when ``nafnet-auto`` uses the PSF it finds
on a real, full-size DICOM: the whole CLI command, in a fresh process.

``--dicom`` (default ``dicom/966_fixed.dcm`` of the shared data, 2128 x 2000, 12 bit)
is blurred by ``xraydeblur blur`` with straight motion (``--length`` px at ``--angle``
degrees), once without noise and once with the benchmark's noise (``--noise 2000``
photons at full scale), into a temporary folder (deleted afterwards; nothing is
written into the repository). Then, ``--repeats`` times each, alternating,
``xraydeblur deblur IN -o OUT --method nafnet-auto --report`` runs in a fresh process:
its wall time (process start to exit) and the peak resident memory of its process tree
(``benchmarks/end_to_end.py``'s ``run_cli``, as the end-to-end benchmark times the CLI).
The median is reported, with the PSF the report names (its parameters, and whether it
was used or rejected by the safeguard) and the safeguard's verdict on the output.

``--pythonpath DIR`` runs the commands with ``PYTHONPATH=DIR`` (e.g. the ``src`` of a
worktree of an earlier commit, to time it against this one on the same machine in the
same hour). Timings need an otherwise idle machine. Prints a table and writes JSON::

    python benchmarks/trials/auto_cli_time.py --out benchmarks/results/trials/auto_cli_time.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dicom", default="dicom/966_fixed.dcm", help="relative to the data root")
    p.add_argument("--length", type=float, default=9.0)
    p.add_argument("--angle", type=float, default=30.0)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--pythonpath", help="PYTHONPATH for the timed commands (another checkout's src)")
    p.add_argument("--out", default="benchmarks/results/trials/auto_cli_time.json")
    args = p.parse_args()

    from xraydeblur.data import data_root

    from end_to_end import run_cli

    if args.pythonpath:
        os.environ["PYTHONPATH"] = args.pythonpath  # the timed commands import that checkout
    source = data_root() / args.dicom
    scenes = {"noise-free": [], "noisy (dose 2000)": ["--noise", "2000"]}
    runs: dict[str, list[dict]] = {name: [] for name in scenes}
    found: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as folder:
        inputs = {}
        for name, extra in scenes.items():
            inputs[name] = Path(folder) / f"{name.split()[0]}.dcm"
            run_cli(["blur", str(source), "-o", str(inputs[name]), "--kernel", "motion", "--length", str(args.length), "--angle", str(args.angle), *extra])
        for _ in range(args.repeats):
            for name, path in inputs.items():
                out = Path(folder) / f"out-{path.name}"
                out.unlink(missing_ok=True)
                runs[name].append(run_cli(["deblur", str(path), "-o", str(out), "--method", "nafnet-auto", "--report"]))
                facts = json.loads(Path(f"{out}.report.json").read_text())
                psf = facts.get("psf_identified") or {}
                verdict = "rejected by the safeguard" if facts.get("psf_rejected") else "used" if facts.get("kernel_source") == "identified" else "not used"
                found[name] = {"psf": f"{psf.get('label', 'none')} ({verdict})", "psf_params": psf.get("params"),
                               "safeguard_consistent": (facts.get("safeguard") or {}).get("consistent")}
                print(f"{name:18s} {runs[name][-1]['seconds']:7.2f} s {runs[name][-1]['peak_mb']:7.0f} MB", flush=True)
    rows = {name: {"median_seconds": statistics.median(r["seconds"] for r in items), "median_peak_mb": statistics.median(r["peak_mb"] for r in items), "runs": items, **found.get(name, {})} for name, items in runs.items()}
    print("\n| input | seconds (median) | peak MB (median) |\n|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['median_seconds']:.2f} | {row['median_peak_mb']:.0f} |")
    result = {
        "command": "python benchmarks/trials/auto_cli_time.py " + " ".join(sys.argv[1:]),
        "dicom": args.dicom,
        "blur": {"family": "motion", "length": args.length, "angle": args.angle},
        "pythonpath": args.pythonpath,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "cpu_count": os.cpu_count(),
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

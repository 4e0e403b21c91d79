"""Trial: the server's answer encoded while the safeguard checks the result
(``restore(..., while_checking=...)``) against encoded after it, in one process.

The real DICOM ``966_fixed.dcm`` (2000 x 2128, 12 bit; ``../shared/data/dicom``, in no
split) blurred with a Gaussian of sigma 2 px and written as a DICOM, sent through
:func:`xraydeblur.server.processing.process` (decode, the default pipeline with the
safeguard, encoding) with the default method, ``--runs`` times each way, alternating
(the order swapped every other run). Per answer format: the overhead over the network
(the request's wall seconds minus the pipeline's "method" step), median and each run,
and the safeguard's own seconds (it shares the 2 cores with the encoding). Writes JSON.

    python benchmarks/trials/answer_while_checking.py --runs 8 --out benchmarks/results/trials/answer_while_checking.json
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    import xraydeblur.pipeline as pipeline
    from xraydeblur.data.manifest import data_root
    from xraydeblur.degrade import Degradation
    from xraydeblur.io import encode_radiograph, read_radiograph
    from xraydeblur.methods import get_method
    from xraydeblur.server import processing

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=8)
    p.add_argument("--outputs", nargs="+", default=["dicom", "view"])
    p.add_argument("--out")
    args = p.parse_args()
    rad = read_radiograph(data_root() / "dicom" / "966_fixed.dcm")
    blurred, _ = Degradation("gaussian", {"sigma": 2.0}).apply(rad.pixels)
    data = encode_radiograph(rad, blurred, "dicom", method="trial input: Gaussian blur sigma 2", synthetic=True)
    method = get_method()
    overlapped = pipeline.restore

    def after_check(*a, while_checking=None, **k):  # the answer encoded after restore returns
        return overlapped(*a, **k)

    def request(output: str, overlap: bool) -> tuple[float, float]:
        processing.restore = overlapped if overlap else after_check
        t = time.perf_counter()
        outcome = processing.process(data, method, output=output, max_pixels=50_000_000, include_pixels=False)
        steps = outcome.facts["seconds_by_step"]
        return time.perf_counter() - t - steps["method"], steps["safeguard"]

    request("dicom", True)  # warm-up: sessions, imports, working memory
    table = {}
    for output in args.outputs:
        runs = {"after": [], "while checking": []}
        safeguard = {"after": [], "while checking": []}
        for i in range(args.runs):
            for name in ("after", "while checking") if i % 2 == 0 else ("while checking", "after"):
                overhead, check = request(output, name == "while checking")
                runs[name].append(round(overhead, 4))
                safeguard[name].append(round(check, 4))
        table[output] = {name: {"overhead_median": float(np.median(v)), "overhead_all": v, "safeguard_median": float(np.median(safeguard[name]))} for name, v in runs.items()}
    print("\n| answer | encoded | overhead over the network, median (s) | safeguard, median (s) |\n|---|---|---|---|")
    for output, rows in table.items():
        for name, row in rows.items():
            print(f"| {output} | {name} | {row['overhead_median']:.3f} | {row['safeguard_median']:.3f} |")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"command": "python benchmarks/trials/answer_while_checking.py " + " ".join(sys.argv[1:]), "runs": args.runs, "table": table}, fh, indent=1)


if __name__ == "__main__":
    main()

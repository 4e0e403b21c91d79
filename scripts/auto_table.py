"""Print how ``nafnet-auto`` (blind, learned PSF estimator) stands against the issue-26
goals, from a benchmark JSON that scored it with the other methods (``xraydeblur
evaluate ... --methods nafnet-auto --update`` adds it to an earlier run), or from a JSON
that scored it and the full JSON of the same cases:

    python scripts/auto_table.py docs/results/benchmark-patient.json

Columns (mean PSNR, dB, denoise strength 1): nafnet-blind (today's default), nafnet-auto
and its margin over blind (goal: never below -0.3), ``nafnet-kernel`` given the true
kernel and auto's distance to it (goal: within 0.5 dB), the best classical method given
the true kernel and auto's margin over it (goal, mean of the noise-free and noisy rows:
+1.5 dB at Gaussian sigma 1, +1.0 at sigma 2 and 3), and how many images used the
estimated PSF. ``--json OUT`` also writes the rows.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

BLIND, AUTO, KERNEL = "nafnet-blind [blind]", "nafnet-auto [blind]", "nafnet-kernel [true kernel]"
CLASSICAL_TRUE = ("wiener [true kernel]", "richardson-lucy [true kernel]", "low-rank [true kernel]")


def rows(auto_path: str, full_path: str | None = None) -> list[dict]:
    auto = json.load(open(auto_path))["summary"]
    full = json.load(open(full_path))["summary"] if full_path else auto
    out = []
    for family, cells in auto.items():
        other = full.get(family, {})
        blind = cells[BLIND]["psnr"]
        if BLIND in other and abs(other[BLIND]["psnr"] - blind) > 0.01:
            raise SystemExit(f"{family}: nafnet-blind differs between the two JSONs ({blind:.3f} vs {other[BLIND]['psnr']:.3f}): not the same cases")
        classical = max((v for v in CLASSICAL_TRUE if v in other), key=lambda v: other[v]["psnr"], default=None)
        row = {"row": family, "blind": blind, "auto": cells[AUTO]["psnr"]}
        row["auto_minus_blind"] = row["auto"] - blind
        if KERNEL in other:
            row["kernel_true"] = other[KERNEL]["psnr"]
            row["auto_minus_kernel"] = row["auto"] - row["kernel_true"]
        if classical:
            row["classical_true"] = classical.split(" [")[0]
            row["classical_true_psnr"] = other[classical]["psnr"]
            row["auto_minus_classical"] = row["auto"] - row["classical_true_psnr"]
        out.append(row)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("auto_json")
    p.add_argument("full_json", nargs="?")
    p.add_argument("--json")
    args = p.parse_args()
    table = rows(args.auto_json, args.full_json)
    fmt = lambda r, k: f"{r[k]:+.2f}" if k in r else "-"  # noqa: E731
    print("| degradation | nafnet-blind | nafnet-auto | auto − blind | nafnet-kernel (true k) | auto − kernel | best classical (true k) | auto − classical |")
    print("|---|---|---|---|---|---|---|---|")
    for r in table:
        classical = f"{r['classical_true']} {r['classical_true_psnr']:.2f}" if "classical_true" in r else "-"
        kernel = f"{r['kernel_true']:.2f}" if "kernel_true" in r else "-"
        print(f"| {r['row']} | {r['blind']:.2f} | {r['auto']:.2f} | {fmt(r, 'auto_minus_blind')} | {kernel} | {fmt(r, 'auto_minus_kernel')} | {classical} | {fmt(r, 'auto_minus_classical')} |")
    worst = min(r["auto_minus_blind"] for r in table)
    far = max((-r["auto_minus_kernel"] for r in table if "auto_minus_kernel" in r), default=float("nan"))
    print(f"\nworst auto − blind: {worst:+.2f} dB (goal >= -0.3); largest shortfall to nafnet-kernel (true k): {far:.2f} dB (goal <= 0.5)")
    margins = defaultdict(list)
    for r in table:
        if r["row"].startswith("gaussian-sigma") and "auto_minus_classical" in r:
            margins[r["row"].split("+")[0]].append(r["auto_minus_classical"])
    for sigma, values in sorted(margins.items()):
        print(f"{sigma}: auto − best classical (true k), mean of {len(values)} rows: {sum(values) / len(values):+.2f} dB")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(table, handle, indent=1)


if __name__ == "__main__":
    main()

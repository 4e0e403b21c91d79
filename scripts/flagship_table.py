"""Print the flagship-versus-baselines table of docs/results.md and MODEL_CARD.md from
a benchmark JSON written by ``xraydeblur evaluate``:

    python scripts/flagship_table.py docs/results/benchmark-patient.json
"""

import json
import sys


def main(path: str) -> None:
    summary = json.load(open(path))["summary"]
    print("| degradation | blurred | nafnet-blind | nafnet-kernel (true k) | Wiener (true k) | RL (true k) | best other | flagship − best of Wiener/RL (true k) |")
    print("|---|---|---|---|---|---|---|---|")
    for family, cells in summary.items():
        psnr = {variant: cell["psnr"] for variant, cell in cells.items()}
        flagship = psnr["nafnet-blind [blind]"]
        wiener, rl = psnr["wiener [true kernel]"], psnr["richardson-lucy [true kernel]"]
        others = {k: v for k, v in psnr.items() if k != "nafnet-blind [blind]"}
        best = max(others, key=others.get)
        print(f"| {family} | {psnr['blurred input']:.2f} | {flagship:.2f} | {psnr['nafnet-kernel [true kernel]']:.2f} | {wiener:.2f} | {rl:.2f} | {best} {others[best]:.2f} | {flagship - max(wiener, rl):+.2f} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/results/benchmark-patient.json")

"""Compare a trial kernel-aware network with the shipped one against the blind flagship,
on the validation split, each after the data step at the *shipped* gain of each row's
run-time class (mean PSNR in dB, from two ``benchmarks/data_step_gain.py`` JSONs).

    python scripts/compare_kernel_trial.py benchmarks/results/trials/data_step_gain-nafnet-kernel-stage2.json SHIPPED.json

Both JSONs must score the same images. The committed trial JSON used the 12-image
version of ``data_step_gain.py`` with the former 2-channel ``nafnet-kernel`` (commit
6a6b122, whose ``benchmarks/results/data_step_gain.json`` is the matching SHIPPED.json:
``git show 6a6b122:benchmarks/results/data_step_gain.json``); the current
``data_step_gain.json`` scores 60 images with the blind network.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from data_step_gain import rule_label  # noqa: E402  (the column names the JSON's table uses)


def compare(shipped: dict, trial: dict) -> list[tuple[str, float, float, float]]:
    """(row, blind, shipped kernel after step, trial kernel after step) per degradation
    row, both kernel networks at the gain that ``shipped`` chose for the row's class."""
    rows = []
    for row, cls in shipped["row_class"].items():
        col = rule_label(shipped["gains"][cls], shipped.get("discrepancy_target", 1.0))
        rows.append((row, shipped["table"][row]["blind"], shipped["table"][row][col], trial["table"][row][col]))
    return rows


def main(trial_path: str, shipped_path: str = "benchmarks/results/data_step_gain.json") -> None:
    rows = compare(json.load(open(shipped_path)), json.load(open(trial_path)))
    print("| degradation | blind (stage 2) | kernel shipped, after step | kernel trial, after step | trial - blind |")
    print("|---|---|---|---|---|")
    for row, blind, ship, trial in rows:
        print(f"| {row} | {blind:.2f} | {ship:.2f} | {trial:.2f} | {trial - blind:+.2f} |")
    d_ship = [s - b for _, b, s, _ in rows]
    d_trial = [t - b for _, b, _, t in rows]
    print(f"mean kernel - blind: shipped {sum(d_ship) / len(rows):+.3f}, trial {sum(d_trial) / len(rows):+.3f} dB; "
          f"rows at or above blind: shipped {sum(d >= 0 for d in d_ship)}/{len(rows)}, trial {sum(d >= 0 for d in d_trial)}/{len(rows)}")


if __name__ == "__main__":
    main(*(sys.argv[1:3] or ["benchmarks/results/trials/data_step_gain-nafnet-kernel-stage2.json"]))

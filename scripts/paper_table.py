"""Table I of the paper reproduction, from the committed results and weights.

    python scripts/paper_table.py docs/results/paper.json > docs/results/paper-table.md

Rows: the blurred input, each paper network (shipped weights) and the classical methods
given the true kernel; columns: PSNR and SSIM per sigma of the protocol (the drawn
0.5-3 mix, 1, 1.5, 2, 3; test split, 224 x 224), then for the networks the validation
loss (MSE, the paper's loss, whatever loss a stage trained with) and PSNR of the shipped weights, the optimiser steps of the shipped checkpoint (all stages of a continued run) and the
wall-clock minutes the network was trained (``training/paper/<net>/plan.json``), next to the paper's published numbers
(``docs/results/paper_published.json``).
"""

import json
import sys
from pathlib import Path

from xraydeblur.models.registry import WEIGHTS_DIR

ROOT = Path(__file__).resolve().parents[1]
NETWORKS = ("srcnn", "dae", "dae-fc", "unet")
ROWS = ("blurred input", "srcnn [blind]", "dae [blind]", "dae-fc [blind]", "unet [blind]", "nafnet-blind [blind]", "wiener [true kernel]", "richardson-lucy [true kernel]")


def training_facts(name: str) -> dict:
    """Validation metrics, steps and CPU minutes of the shipped weights of ``name``."""
    meta = json.loads((WEIGHTS_DIR / f"{name}.json").read_text())
    metrics = meta.get("metrics", {})
    plan_path = ROOT / "training" / "paper" / name / "plan.json"
    minutes, steps = None, meta.get("steps")
    if plan_path.exists():
        plan = json.loads(plan_path.read_text())
        stages = [c for c in plan.get("continuations", []) if not c.get("variant")]  # variants are not the shipped line
        runs = list(plan.get("sweep", [])) + ([plan["main"]] if plan.get("main") else []) + stages
        minutes = round(sum(r.get("seconds_per_step", 0) * r.get("steps", 0) for r in runs) / 60, 1)
        shipped = Path(plan.get("main_folder", "main")).name
        names = [c["folder"] for c in stages]
        if shipped in names and steps is not None:  # a continued run: count the stages before it
            steps += plan["main"]["steps"] + sum(c["steps"] for c in stages[: names.index(shipped)])
    # the paper's validation loss is the MSE: ``val_mse``, or the training loss of an MSE run
    mse = metrics.get("val_mse", metrics.get("val_loss") if meta.get("config", {}).get("loss", {}).get("kind") == "mse" else None)
    return {"val_loss": mse, "val_psnr": metrics.get("val_psnr"), "steps": steps, "cpu_minutes": minutes}


def main() -> None:
    results = json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs/results/paper.json").read_text())
    summary = results["summary"]
    sigmas = [s for s in ("sigma 0.5-3 (drawn)", "sigma 1", "sigma 1.5", "sigma 2", "sigma 3") if s in summary]
    head = ["method"] + [f"{s.replace('sigma ', 'σ ')} PSNR / SSIM" for s in sigmas] + ["val. loss (MSE)", "val. PSNR", "steps", "training min (wall, sweep + main + continuations)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in ROWS:
        cells = [summary[s].get(row) for s in sigmas]
        if not any(cells):
            continue
        text = [f"{c['psnr']:.2f} / {c['ssim']:.4f}" if c else "" for c in cells]
        name = row.split(" [")[0]
        facts = training_facts(name) if name in NETWORKS else {}
        extra = [f"{facts['val_loss']:.5f}" if facts.get("val_loss") is not None else "", f"{facts['val_psnr']:.2f}" if facts.get("val_psnr") is not None else "",
                 str(facts.get("steps") or ""), str(facts.get("cpu_minutes") or "")]
        print(f"| {row} | " + " | ".join(text + extra) + " |")
    published = json.loads((ROOT / "docs/results/paper_published.json").read_text())
    print(f"\nPublished (the paper's own data and protocol): {json.dumps(published['table'])}")


if __name__ == "__main__":
    main()

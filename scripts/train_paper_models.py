"""Train the paper's three networks one after another in one process (they share the
resized-image cache): ``python scripts/train_paper_models.py [runs/]``."""

import sys

from xraydeblur.train import train

out = sys.argv[1] if len(sys.argv) > 1 else "runs"
for name in ("srcnn", "dae", "unet"):
    best = train(f"configs/{name}_paper.yaml", f"{out}/{name}", resume=True, progress=False)
    print(name, best, flush=True)

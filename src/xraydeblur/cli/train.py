"""``xraydeblur train``: train a model from a YAML config (optionally multi-process DDP)."""

import subprocess
import sys
from pathlib import Path

from .common import HelpFormatter

EXAMPLES = """examples:
  xraydeblur train --config configs/srcnn_paper.yaml
  xraydeblur train --config configs/nafnet_blind.yaml --out runs/nafnet
  xraydeblur train --config configs/nafnet_blind.yaml --nproc 4     # DDP, one process per GPU/CPU group
  torchrun --nnodes 2 --nproc_per_node 8 ... -m xraydeblur.train --config C --out D   # many machines
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a model from a YAML config", description=__doc__, epilog=EXAMPLES, formatter_class=HelpFormatter)
    p.add_argument("--config", required=True, help="YAML training config")
    p.add_argument("--out", help="run folder (default runs/<config name>)")
    p.add_argument("--nproc", type=int, default=1, help="data-parallel processes on this machine (torchrun)")
    p.add_argument("--no-resume", action="store_true", help="start over even if the run folder has a checkpoint")
    p.add_argument("--max-steps", type=int, help="stop after this many optimiser steps")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import InputError
    from ..train.config import load_config

    if not Path(args.config).is_file():
        raise InputError(f"{args.config}: no such config file")
    cfg = load_config(args.config)
    out = args.out or str(Path("runs") / cfg["name"])
    extra = (["--no-resume"] if args.no_resume else []) + (["--max-steps", str(args.max_steps)] if args.max_steps else [])
    if args.nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}", "-m", "xraydeblur.train", "--config", args.config, "--out", out, *extra]
        return subprocess.call(cmd)
    from ..train import train

    best = train(cfg, out, resume=not args.no_resume, max_steps=args.max_steps)
    print(f"best: {best}")
    return 0

"""``python -m xraydeblur.train --config C --out DIR``: the entry point torchrun launches."""

import argparse
import sys

from .loop import train
from .worker_exit import leave_if_worker


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m xraydeblur.train")
    p.add_argument("--config", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--no-resume", action="store_true")
    p.add_argument("--max-steps", type=int)
    args = p.parse_args(argv)
    train(args.config, args.out, resume=not args.no_resume, max_steps=args.max_steps)
    leave_if_worker(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())

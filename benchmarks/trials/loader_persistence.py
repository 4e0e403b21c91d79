"""Trial: the training loop's DataLoader made afresh every epoch (before) against one
loader for the whole run whose workers persist (:class:`xraydeblur.train.data.EpochIndexed`
and :class:`~xraydeblur.train.data.EpochSampler`, now). Both draw the same pairs.

The GPU flagship config's training data (``configs/gpu/nafnet_blind_gpu.yaml``: 128 px
patches of the training split under the realistic degradations) with ``--samples``
patches per epoch, batch 32, ``--workers`` worker processes, ``--epochs`` epochs; prints
each epoch's wall seconds for both ways and writes JSON. A worker decodes each
radiograph it draws from the first time (then keeps it); a fresh loader's workers start
with nothing decoded.

    python benchmarks/trials/loader_persistence.py --out benchmarks/results/trials/loader_persistence.json
"""

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    from torch.utils.data import DataLoader, Subset

    from xraydeblur.train import load_config
    from xraydeblur.train.data import EpochIndexed, EpochSampler, build_datasets

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=384)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--out")
    args = p.parse_args()
    cfg = load_config(str(ROOT / "configs/gpu/nafnet_blind_gpu.yaml"))
    cfg["data"]["samples_per_epoch"] = args.samples
    train_set = build_datasets(cfg)[0]

    def fresh_every_epoch() -> list[float]:
        seconds = []
        for epoch in range(args.epochs):
            t = time.perf_counter()
            train_set.set_epoch(epoch)
            for _ in DataLoader(Subset(train_set, list(range(args.samples))), batch_size=32, num_workers=args.workers, drop_last=True):
                pass
            seconds.append(round(time.perf_counter() - t, 3))
        return seconds

    def one_loader() -> list[float]:
        sampler = EpochSampler(len(train_set), args.samples)
        loader = DataLoader(EpochIndexed(train_set), batch_size=32, sampler=sampler, num_workers=args.workers, persistent_workers=args.workers > 0, drop_last=True)
        seconds = []
        for epoch in range(args.epochs):
            t = time.perf_counter()
            sampler.epoch = epoch
            for _ in loader:
                pass
            seconds.append(round(time.perf_counter() - t, 3))
        return seconds

    table = {"fresh loader every epoch": fresh_every_epoch(), "one loader, workers persist": one_loader()}
    for name, seconds in table.items():
        print(f"{name}: epochs {seconds} s")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"command": "python benchmarks/trials/loader_persistence.py " + " ".join(sys.argv[1:]), "samples": args.samples, "workers": args.workers, "seconds_per_epoch": table}, fh, indent=1)


if __name__ == "__main__":
    main()

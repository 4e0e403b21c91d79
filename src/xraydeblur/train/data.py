"""Training and validation pairs as torch datasets, for every data preset."""

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ..data.pairs import KERNEL_SIZE, DegradationSampler, PaperPairs, PatchPairs, pad_kernel, preset
from ..degrade import blur


class PairDataset(Dataset):
    """Wraps an object with ``pair(i) -> (degraded, sharp, kernel)`` into tensors
    ``(1, H, W)``, ``(1, H, W)``, ``(1, K, K)``."""

    def __init__(self, source, length: int | None = None):
        self.source, self.length = source, length or len(source)

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        self.source.epoch = epoch

    def __getitem__(self, i: int):
        degraded, sharp, kernel = self.source.pair(i)
        return torch.from_numpy(degraded)[None], torch.from_numpy(sharp)[None], torch.from_numpy(kernel)[None]


class EpochIndexed(Dataset):
    """``dataset`` (a :class:`PairDataset`) indexed by ``epoch * len(dataset) + i``: item
    ``i`` of that epoch, the pair ``dataset.set_epoch(epoch); dataset[i]`` gives. The
    training loop's DataLoader keeps its worker processes for the whole run (their
    decoded-image caches with them) and still draws each epoch's own pairs, the same
    ones as a loader made afresh every epoch."""

    def __init__(self, dataset: PairDataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        epoch, i = divmod(int(index), len(self.dataset))
        self.dataset.set_epoch(epoch)
        return self.dataset[i]


class EpochSampler(Sampler):
    """The indices of :class:`EpochIndexed` one rank trains on in epoch :attr:`epoch`
    (set by the loop before each pass): items ``rank, rank + world, ...`` below
    ``count * world``, in order (the pairs are random already)."""

    def __init__(self, dataset_length: int, count: int, rank: int = 0, world: int = 1):
        self.length, self.count, self.rank, self.world, self.epoch = dataset_length, count, rank, world, 0

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        base = self.epoch * self.length
        return iter(range(base + self.rank, base + self.count * self.world, self.world))


class SyntheticPairs:
    """Random smooth images (sums of blobs and edges) - no files needed; for tests."""

    def __init__(self, patch: int, config: dict, length: int, seed: int = 0):
        self.patch, self.length, self.seed, self.epoch = patch, length, seed, 0
        self.sampler = DegradationSampler(config)

    def __len__(self) -> int:
        return self.length

    def pair(self, index: int):
        rng = np.random.default_rng([self.seed, self.epoch, index])
        n = self.patch + 2 * (KERNEL_SIZE // 2)
        yy, xx = np.mgrid[0:n, 0:n] / n
        img = np.full((n, n), 0.3)
        for _ in range(6):
            cy, cx, r = rng.uniform(0, 1, 3)
            img += 0.2 * ((yy - cy) ** 2 + (xx - cx) ** 2 < (0.1 + 0.2 * r) ** 2)
        img = blur(np.clip(img, 0, 1), np.ones((3, 3)) / 9)
        margin = KERNEL_SIZE // 2
        degraded, kernel = self.sampler.degrade(img, rng, margin)
        sharp = img[margin:-margin, margin:-margin]
        return degraded, np.ascontiguousarray(sharp[: self.patch, : self.patch], np.float32), pad_kernel(kernel)


def build_datasets(cfg: dict) -> tuple[PairDataset, PairDataset]:
    """(train, val) datasets for a config (see :mod:`.config`)."""
    data = cfg["data"]
    seed = int(cfg["seed"])
    # validation crops: seed + 1 unless data.val_seed fixes them (to compare runs of other seeds)
    val_seed = seed + 1 if data.get("val_seed") is None else int(data["val_seed"])
    kind = data["preset"]
    distribution = preset("realistic" if kind == "synthetic" else kind)
    distribution.update(data.get("degradation") or {})
    if kind == "synthetic":
        return (
            PairDataset(SyntheticPairs(data["patch"], distribution, data["samples_per_epoch"], seed)),
            PairDataset(SyntheticPairs(data["patch"], distribution, data["val_samples"], val_seed)),
        )
    from ..data.splits import split_rows

    train_rows = split_rows("train", data["scheme"], data["held_out"], seed=0)
    val_rows = split_rows("val", data["scheme"], data["held_out"], seed=0)
    if kind == "paper":
        sigma = tuple(distribution["gaussian_sigma"])
        train = PairDataset(PaperPairs(train_rows, 224, sigma, seed=seed, crop=data.get("crop")), length=data.get("samples_per_epoch") or len(train_rows))
        return train, PairDataset(PaperPairs(val_rows, 224, sigma, seed=val_seed, fixed=True))
    train = PairDataset(PatchPairs(train_rows, data["patch"], distribution, data["samples_per_epoch"], seed))
    val = PairDataset(PatchPairs(val_rows, data["val_patch"], distribution, data["val_samples"], val_seed))
    return train, val

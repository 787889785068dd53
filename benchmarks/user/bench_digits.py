"""A user's own map-style Dataset, as people write them: one sample per `__getitem__`, read by a DataLoader.

The benchmarks give the very same Datasets to lrtool (`data.name: "bench_digits:splits"`), to a
hand-written loop and to torch-lr-finder, so all three read the same samples through the same kind of
DataLoader (batch 64, shuffled, `num_workers=0`, default_collate).
"""

from __future__ import annotations

import numpy as np
import torch

from lrtool.data.builtin import load_digits_arrays


class Digits(torch.utils.data.Dataset):
    """scikit-learn's 8x8 digits, standardised: item i is (image float32 (1, 8, 8), label int)."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.x = torch.tensor(x, dtype=torch.float32).reshape(-1, 1, 8, 8)
        self.y = y.tolist()

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.x[i], self.y[i]


def splits(val_fraction: float = 0.2, seed: int = 0, repeat: int = 1) -> dict[str, Digits]:
    """{"train": Digits, "val": Digits}: a fixed split, standardised with the train part's statistics.

    `repeat`: each train sample that many times (an epoch of 23 batches of 64 becomes `23 * repeat`), so
    the per-epoch work (validation, checkpoint) weighs on a step as it does on a dataset of that size.
    """
    x, y = load_digits_arrays()
    order = np.random.default_rng(seed).permutation(len(y))
    n_val = round(len(y) * val_fraction)
    val, train = order[:n_val], order[n_val:]
    mean, std = x[train].mean(), x[train].std()
    x = (x - mean) / std
    train = np.tile(train, repeat)
    return {"train": Digits(x[train], y[train]), "val": Digits(x[val], y[val])}

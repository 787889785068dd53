"""Datasets that need no files: scikit-learn's 8x8 digits and seeded Gaussian blobs."""

from __future__ import annotations

import gzip
from functools import partial
from pathlib import Path

import numpy as np
import torch

from .. import checks
from ..errors import LrtoolError, one_line
from .sources import KEY
from .splits import Raw, generator


def _digits_csv_path() -> Path | None:
    """The digits.csv.gz file scikit-learn ships, found without importing sklearn (~2 s)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("sklearn")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            return path
    return None


def load_digits_arrays(path: Path | None | str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 digits as (X float64 (1797, 64) in 0..16, y int64 (1797,)).

    Args:
        path: the digits.csv.gz to read; "auto" finds scikit-learn's copy; None (or no file
            found) falls back to `sklearn.datasets.load_digits`.

    Returns:
        The same arrays `sklearn.datasets.load_digits(return_X_y=True)` gives.
    """
    if path == "auto":
        path = _digits_csv_path()
    if path is not None:
        # the format load_digits itself reads: 64 pixel values then the label, per row
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",")
        return table[:, :-1], table[:, -1].astype(np.int64)
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise LrtoolError(f"{KEY.get()}.name: dataset 'digits' needs scikit-learn "
                          f"({one_line(e, with_type=True)})") from None
    x, y = load_digits(return_X_y=True)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64)


def digits(*, seed: int, val_fraction: float) -> Raw:
    """scikit-learn's 8x8 handwritten digits (train/val only)."""
    x, y = load_digits_arrays()
    return Raw(train=(torch.from_numpy(x).reshape(-1, 1, 8, 8), torch.from_numpy(y)),
               num_classes=10, scale=16.0)


@checks.takes(n_samples=partial(checks.integer, lo=2), n_features=partial(checks.integer, lo=1),
              n_classes=partial(checks.integer, lo=2), noise=partial(checks.number, lo=0),
              image_size=checks.optional(partial(checks.integer, lo=1)),
              n_test=partial(checks.integer, lo=0))
def synthetic(*, seed: int, val_fraction: float, n_samples: int = 512, n_features: int = 16,
              n_classes: int = 4, noise: float = 1.0, image_size: int | None = None,
              n_test: int = 0) -> Raw:
    """Gaussian blobs: class centres with unit-variance coordinates, samples scattered by `noise`.

    With the defaults, centres are ~5.7 noise-widths apart: nearly separable, learnt in a few steps.
    `image_size` replaces n_features by image_size**2 inputs shaped (1, s, s) for conv models;
    `n_test` > 0 adds a test split drawn from the same blobs.
    """
    if image_size is None:
        dims, shape = n_features, (n_features,)
    else:
        dims, shape = image_size * image_size, (1, image_size, image_size)
    # a generator of its own, so the data do not share a stream with the split's randperm
    gen = generator((int(seed) * 1_000_003 + 7) % 2**63)
    centres = torch.randn(n_classes, dims, generator=gen)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        # balanced classes in random order
        y = (torch.arange(n) % n_classes)[torch.randperm(n, generator=gen)]
        x = centres[y] + noise * torch.randn(n, dims, generator=gen)
        return x.reshape(n, *shape), y

    train = draw(n_samples)  # drawn first, so n_test does not change the training data
    test = draw(n_test) if n_test else None
    return Raw(train=train, test=test, num_classes=n_classes)

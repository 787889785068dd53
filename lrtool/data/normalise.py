"""Scaling and per-channel normalisation, with statistics from the training part only."""

from __future__ import annotations

import torch

from ..errors import LrtoolError
from .splits import Data, Raw, TensorSplit, split_indices

# Chunk size (samples) for the statistics pass, shared with the streaming path's batches.
STATS_CHUNK = 2048
# Images read to estimate mean/std on the streaming (DataLoader) path; the training part is
# already in seeded random order, so the first ones are a random sample.
STATS_MAX_IMAGES = 10_000


class Moments:
    """Per-channel (dim 1) mean and variance over data seen in chunks (Chan et al.'s pairwise update)."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: torch.Tensor | None = None
        self.m2: torch.Tensor | None = None  # sum of squared deviations from the mean

    def update(self, x: torch.Tensor) -> None:
        """Add a chunk of samples, shape (N, C, ...) or (N, F)."""
        if x.shape[0] == 0:
            return
        # var_mean accumulates in double on the CPU without a float64 copy of the chunk
        var, mean = torch.var_mean(x.detach().float(), dim=[0, *range(2, x.dim())], correction=0)
        var, mean = var.cpu().double(), mean.cpu().double()
        n = x.numel() // x.shape[1]
        if self.mean is None or self.m2 is None:
            self.count, self.mean, self.m2 = n, mean, var * n
            return
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + var * n + delta.square() * (self.count * n / total)
        self.count = total

    def result(self, key: str = "data") -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and population std as float32; a constant channel gets std 1 (all zeros once centred)."""
        if self.mean is None or self.m2 is None:
            raise LrtoolError(f"{key}: no training samples to compute the normalisation from")
        std = (self.m2 / self.count).clamp_min(0).sqrt()
        std = torch.where(std > 1e-6, std, torch.ones_like(std))
        return self.mean.float(), std.float()


def to_float(x: torch.Tensor, scale: float) -> torch.Tensor:
    """A float32 copy of x divided by scale (the same arithmetic as torchvision's ToDtype(scale=True))."""
    out = x.to(torch.float32, copy=True)
    return out.mul_(1.0 / scale) if scale != 1 else out


def normalise_(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(x - mean) / std per channel, in place (the same arithmetic as torchvision's Normalize)."""
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return x.sub_(mean.view(shape)).div_(std.view(shape))


def prepare(raw: Raw, val_fraction: float, seed: int, key: str = "data") -> Data:
    """Split, scale and normalise a builder's raw arrays into a Data on the CPU."""
    x, y = raw.train
    val = raw.val
    if val is None and val_fraction > 0:
        train_idx, val_idx = split_indices(len(y), val_fraction, seed, f"{key}.val_fraction")
        val = (x[val_idx], y[val_idx])
        x, y = x[train_idx], y[train_idx]
    train_x = to_float(x, raw.scale)
    moments = Moments()
    for chunk in train_x.split(STATS_CHUNK):
        moments.update(chunk)
    mean, std = moments.result(key)

    def finish(xs: torch.Tensor, ys: torch.Tensor, is_float: bool = False) -> TensorSplit:
        xs = xs if is_float else to_float(xs, raw.scale)
        return TensorSplit(normalise_(xs, mean, std), ys.to(torch.int64))

    return Data(
        train=finish(train_x, y, is_float=True),
        val=finish(*val) if val is not None else None,
        test=finish(*raw.test) if raw.test is not None else None,
        input_shape=tuple(int(s) for s in train_x.shape[1:]),
        num_classes=raw.num_classes,
        name="",
        mean=tuple(mean.tolist()),
        std=tuple(std.tolist()),
    )

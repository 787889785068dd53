"""Datasets from a registry, held in memory as tensors (or streamed from image files).

Every builder returns CPU data; `build_data` does the work they share: the seeded train/val
split, per-channel mean/std from the training part only, float32, one move to the device.
Only torch, numpy and the standard library are imported at module level: torchvision and
scikit-learn take seconds to import and `lrtool --help` must stay fast.
"""

from __future__ import annotations

import gzip
import inspect
import math
import os
import pickle
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from ..errors import LrtoolError
from ..registry import Registry, check_kwargs

__all__ = ["DATASETS", "INJECTED", "Data", "LoaderSplit", "TensorSplit", "build_data",
           "load_digits_arrays", "validate_data"]

DATASETS = Registry("dataset")

# Parameters lrtool passes to every builder itself; a config may not set them.
INJECTED = ("seed", "val_fraction")

# The config key of the data section, so builders can name `data.root` etc. in their errors
# without taking a `key` argument (which check_kwargs would then offer to users).
_KEY: ContextVar[str] = ContextVar("lrtool_data_key", default="data")

# Chunk size (samples) for the statistics pass, shared with the streaming path's batches.
_STATS_CHUNK = 2048
# Images read to estimate mean/std on the streaming (DataLoader) path; the training part is
# already in seeded random order, so the first ones are a random sample.
_STATS_MAX_IMAGES = 10_000


def _arg(name: str) -> str:
    """The full config key of a dataset argument, e.g. 'data.root'."""
    return f"{_KEY.get()}.{name}"


def _one_line(err: BaseException) -> str:
    """An exception as one line of text, for messages that must stay on one line."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


# --------------------------------------------------------------------------- splits


class _Split:
    """What both kinds of split share."""

    def __len__(self) -> int:
        raise NotImplementedError

    def num_batches(self, batch_size: int, drop_last: bool = False,
                    shard: tuple[int, int] | None = None) -> int:
        """Batches in one pass.

        Args:
            batch_size: samples per batch.
            drop_last: leave out the final, smaller batch.
            shard: (rank, world size) under torchrun: the batches of each rank in a shuffled pass,
                the same number on every rank.

        Returns:
            The number of batches `batches` yields with the same arguments (and shuffle=True).
        """
        if shard is not None:
            # a short tail is padded to one sample per rank (see _rank_batches), so ceil still holds
            return _num_batches(len(self), batch_size * shard[1], drop_last)
        return _num_batches(len(self), batch_size, drop_last)


class TensorSplit(_Split):
    """One split held in memory as tensors; batches are index slices (no DataLoader)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        if len(x) != len(y):
            raise ValueError(f"TensorSplit: {len(x)} inputs but {len(y)} labels")
        self.x = x
        self.y = y

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __repr__(self) -> str:
        return (f"TensorSplit(n={len(self)}, x={tuple(self.x.shape)} {self.x.dtype}, "
                f"device={self.x.device})")

    @property
    def device(self) -> torch.device:
        return self.x.device

    def batches(self, batch_size: int, *, shuffle: bool, generator: torch.Generator | None = None,
                drop_last: bool = False,
                shard: tuple[int, int] | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One pass over the split: every sample once (at most once with drop_last).

        Args:
            batch_size: samples per batch.
            shuffle: visit samples in the order of `torch.randperm(n, generator=generator)`;
                otherwise in stored order.
            generator: a CPU generator for the order (torch's global one when None).
            drop_last: leave out the final, smaller batch.
            shard: (rank, world size) under torchrun, or None. Shuffled: every rank draws the same
                order and takes its part of each global batch of batch_size x world samples, so all
                ranks take the same number of steps (see _rank_batches). Not shuffled (evaluation):
                each rank reads its own contiguous part once.

        Returns:
            An iterator of (inputs, labels) on the split's device.
        """
        n = len(self)
        if shard is not None and not shuffle:
            lo, hi = _shard_bounds(n, shard)
            yield from TensorSplit(self.x[lo:hi], self.y[lo:hi]).batches(batch_size, shuffle=False,
                                                                         drop_last=drop_last)
            return
        count = _num_batches(n, batch_size, drop_last)
        if not shuffle:
            # contiguous slices are views: no copy at all
            for i in range(count):
                yield self.x[i * batch_size:(i + 1) * batch_size], self.y[i * batch_size:(i + 1) * batch_size]
            return
        # the order is drawn on the CPU (a CPU generator), then moved once per pass
        order = torch.randperm(n, generator=generator).to(self.x.device)
        if shard is not None:
            for idx in _rank_batches(order, batch_size, drop_last, shard):
                yield self.x[idx], self.y[idx]
            return
        for i in range(count):
            idx = order[i * batch_size:(i + 1) * batch_size]
            yield self.x[idx], self.y[idx]

    def subset(self, n: int) -> TensorSplit:
        """The first `n` samples (all of them when n >= len): a fixed subset, e.g. for cheap validation.

        Args:
            n: how many samples to keep.

        Returns:
            A TensorSplit viewing the same storage.
        """
        if n < 0:
            raise ValueError(f"subset: n must be >= 0, got {n}")
        return TensorSplit(self.x[:n], self.y[:n])

    def to(self, device: torch.device | str) -> TensorSplit:
        """The same split on `device` (self when it is already there)."""
        device = torch.device(device)
        if self.x.device == device and self.y.device == device:
            return self
        return TensorSplit(self.x.to(device), self.y.to(device))


class _Order(torch.utils.data.Sampler):
    """The sample order of the next pass; set before each pass so a DataLoader can be reused."""

    def __init__(self, n: int):
        super().__init__()
        self.order: Sequence[int] = range(n)

    def __iter__(self) -> Iterator[int]:
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


class LoaderSplit(_Split):
    """One split read through a DataLoader (files decoded on the fly), batches moved to the device."""

    def __init__(self, dataset: torch.utils.data.Dataset, *, num_workers: int = 0,
                 device: torch.device | str = "cpu"):
        self.dataset = dataset
        self.num_workers = num_workers
        self.device = torch.device(device)
        # one DataLoader kept per split so persistent workers survive between passes
        self._cached: tuple[tuple[int, bool], torch.utils.data.DataLoader, _Order] | None = None

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"LoaderSplit(n={len(self)}, num_workers={self.num_workers}, device={self.device})"

    def batches(self, batch_size: int, *, shuffle: bool, generator: torch.Generator | None = None,
                drop_last: bool = False,
                shard: tuple[int, int] | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One pass over the split: every sample once (at most once with drop_last).

        The shuffled order is `torch.randperm(n, generator=generator)`, exactly as for
        TensorSplit, so both kinds visit samples in the same order for the same generator.
        Run one pass at a time per split: passes share one DataLoader.

        Args:
            batch_size: samples per batch.
            shuffle: visit samples in a random order drawn from `generator`.
            generator: a CPU generator for the order (torch's global one when None).
            drop_last: leave out the final, smaller batch.
            shard: (rank, world size) under torchrun, or None: this rank's part, as for TensorSplit.

        Returns:
            An iterator of (inputs, labels) on the split's device.
        """
        _num_batches(len(self), batch_size, drop_last)  # checks batch_size
        loader, order = self._loader(batch_size, drop_last)
        # drawn here rather than by the DataLoader, which would also draw worker seeds from it
        if shard is None:
            order.order = torch.randperm(len(self), generator=generator).tolist() if shuffle else range(len(self))
        elif not shuffle:
            order.order = range(*_shard_bounds(len(self), shard))
        else:
            # every rank part is batch_size long but the last, so the loader's batches line up with them
            parts = list(_rank_batches(torch.randperm(len(self), generator=generator), batch_size, drop_last, shard))
            order.order = torch.cat(parts).tolist() if parts else []
        non_blocking = self.device.type == "cuda"
        for x, y in loader:
            yield x.to(self.device, non_blocking=non_blocking), y.to(self.device, non_blocking=non_blocking)

    def subset(self, n: int) -> LoaderSplit:
        """The first `n` samples (all of them when n >= len): a fixed subset, e.g. for cheap validation.

        Args:
            n: how many samples to keep.

        Returns:
            A LoaderSplit over those samples with the same options.
        """
        if n < 0:
            raise ValueError(f"subset: n must be >= 0, got {n}")
        part = torch.utils.data.Subset(self.dataset, range(min(n, len(self))))
        return LoaderSplit(part, num_workers=self.num_workers, device=self.device)

    def to(self, device: torch.device | str) -> LoaderSplit:
        """The same split delivering batches on `device` (self when it already does)."""
        device = torch.device(device)
        if device == self.device:
            return self
        return LoaderSplit(self.dataset, num_workers=self.num_workers, device=device)

    def _loader(self, batch_size: int, drop_last: bool) -> tuple[torch.utils.data.DataLoader, _Order]:
        """The DataLoader for these batch settings, made once and reused."""
        if self._cached is not None and self._cached[0] == (batch_size, drop_last):
            return self._cached[1], self._cached[2]
        order = _Order(len(self))
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_size=batch_size, sampler=order, drop_last=drop_last,
            num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
            pin_memory=self.device.type == "cuda")
        self._cached = ((batch_size, drop_last), loader, order)
        return loader, order


def _shard_bounds(n: int, shard: tuple[int, int]) -> tuple[int, int]:
    """[lo, hi) of rank's contiguous part of n samples (sizes differ by at most one)."""
    rank, world = shard
    size, extra = divmod(n, world)
    lo = rank * size + min(rank, extra)
    return lo, lo + size + (1 if rank < extra else 0)


def _rank_batches(order: torch.Tensor, batch_size: int, drop_last: bool,
                  shard: tuple[int, int]) -> Iterator[torch.Tensor]:
    """This rank's index batches: each global batch (batch_size x world consecutive entries of `order`)
    split into world near-equal parts, so step i of N ranks sees the samples step i of one process
    with batch_size x N would see. A tail shorter than world is padded from the start of the order,
    as DistributedSampler pads, so every rank has a sample at every step."""
    rank, world = shard
    glob = batch_size * world
    for i in range(_num_batches(len(order), glob, drop_last)):
        chunk = order[i * glob:(i + 1) * glob]
        if len(chunk) < world:
            chunk = torch.cat([chunk, order.repeat(world)[:world - len(chunk)]])
        yield torch.tensor_split(chunk, world)[rank]


def _num_batches(n: int, batch_size: int, drop_last: bool) -> int:
    """Batches in a pass over n samples; rejects a batch size below 1."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise LrtoolError(f"batch_size: expected a positive integer, got {batch_size!r}")
    return n // batch_size if drop_last else math.ceil(n / batch_size)


@dataclass
class Data:
    """A dataset's splits plus what a model needs to know about it."""

    train: TensorSplit | LoaderSplit
    val: TensorSplit | LoaderSplit | None  # None when val_fraction == 0 and the set has no own val
    test: TensorSplit | LoaderSplit | None  # the dataset's own test split, when it has one
    input_shape: tuple[int, ...]
    num_classes: int
    name: str
    # the normalisation applied (per channel, or per feature for flat inputs), in the units of
    # the raw data divided by its scale (e.g. [0, 1] for 8-bit images)
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()


@dataclass
class _Raw:
    """What an in-memory builder returns: CPU arrays, not yet split, scaled, normalised or moved."""

    train: tuple[torch.Tensor, torch.Tensor]
    num_classes: int
    val: tuple[torch.Tensor, torch.Tensor] | None = None  # the set's own val split
    test: tuple[torch.Tensor, torch.Tensor] | None = None
    scale: float = 1.0  # raw values are divided by this first (255 for 8-bit images)


# --------------------------------------------------------------------------- shared work


def validate_data(name: str, kwargs: dict, key: str = "data") -> None:
    """Check a dataset name and its arguments without building anything.

    Args:
        name: a registered dataset name or alias (case-insensitive).
        kwargs: the arguments for its builder, from the config.
        key: the config key of the data section, used in error messages.

    Returns:
        None; raises LrtoolError naming the offending key.
    """
    builder = DATASETS.get(name, key=f"{key}.name")
    kwargs = {} if kwargs is None else kwargs
    if not isinstance(kwargs, dict):
        raise LrtoolError(f"{key}: expected a mapping of dataset arguments, got {type(kwargs).__name__}")
    check_kwargs(builder, kwargs, key, injected=INJECTED)
    # check_kwargs only rejects unknown keys: a missing required one would be a TypeError later
    for arg, param in inspect.signature(builder).parameters.items():
        if (arg not in INJECTED and arg not in kwargs and param.default is inspect.Parameter.empty
                and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)):
            raise LrtoolError(f"{key}.{arg}: required by dataset '{DATASETS.canonical(name)}' but not set")


def build_data(name: str, kwargs: dict, *, val_fraction: float, seed: int,
               device: torch.device | str = "cpu", key: str = "data") -> Data:
    """Build a registered dataset: split, normalise and move it to the device once.

    Args:
        name: a registered dataset name or alias (case-insensitive).
        kwargs: the builder's own arguments, from the config.
        val_fraction: the part of the training data held out for validation (0 <= f < 1),
            used when the set has no own val split; 0 gives no val split.
        seed: seeds the train/val split (same seed, same split) and any generated data.
        device: where the tensors (or the loaders' batches) go.
        key: the config key of the data section, used in error messages.

    Returns:
        A Data with train, val and test splits on `device`.
    """
    kwargs = {} if kwargs is None else dict(kwargs)
    validate_data(name, kwargs, key)
    if (isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float))
            or not 0 <= val_fraction < 1):
        raise LrtoolError(f"{key}.val_fraction: expected a number in [0, 1), got {val_fraction!r}")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise LrtoolError(f"device: not a torch device: {device!r} ({_one_line(e)})") from None
    builder = DATASETS.get(name, key=f"{key}.name")
    token = _KEY.set(key)
    try:
        made = builder(seed=seed, val_fraction=val_fraction, **kwargs)
        data = made if isinstance(made, Data) else _prepare(made, val_fraction, seed)
    finally:
        _KEY.reset(token)
    data.name = DATASETS.canonical(name) or str(name)
    data.train = data.train.to(device)
    data.val = data.val.to(device) if data.val is not None else None
    data.test = data.test.to(device) if data.test is not None else None
    return data


def _generator(seed: int) -> torch.Generator:
    """A fresh CPU generator seeded with `seed`."""
    return torch.Generator().manual_seed(int(seed))


def _split_indices(n: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, val) indices of a seeded random split: same seed, same split."""
    if n < 2:
        raise LrtoolError(f"{_arg('val_fraction')}: cannot split {n} sample(s) into train and val; "
                          f"set it to 0")
    # at least one sample on each side, whatever the rounding
    n_val = min(n - 1, max(1, math.floor(n * val_fraction + 0.5)))
    perm = torch.randperm(n, generator=_generator(seed))
    return perm[n_val:], perm[:n_val]


class _Moments:
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

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and population std as float32; a constant channel gets std 1 (all zeros once centred)."""
        if self.mean is None or self.m2 is None:
            raise LrtoolError(f"{_KEY.get()}: no training samples to compute the normalisation from")
        std = (self.m2 / self.count).clamp_min(0).sqrt()
        std = torch.where(std > 1e-6, std, torch.ones_like(std))
        return self.mean.float(), std.float()


def _to_float(x: torch.Tensor, scale: float) -> torch.Tensor:
    """A float32 copy of x divided by scale (the same arithmetic as torchvision's ToDtype(scale=True))."""
    out = x.to(torch.float32, copy=True)
    return out.mul_(1.0 / scale) if scale != 1 else out


def _normalise_(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(x - mean) / std per channel, in place (the same arithmetic as torchvision's Normalize)."""
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return x.sub_(mean.view(shape)).div_(std.view(shape))


def _prepare(raw: _Raw, val_fraction: float, seed: int) -> Data:
    """Split, scale and normalise a builder's raw arrays into a Data on the CPU."""
    x, y = raw.train
    val = raw.val
    if val is None and val_fraction > 0:
        train_idx, val_idx = _split_indices(len(y), val_fraction, seed)
        val = (x[val_idx], y[val_idx])
        x, y = x[train_idx], y[train_idx]
    train_x = _to_float(x, raw.scale)
    moments = _Moments()
    for chunk in train_x.split(_STATS_CHUNK):
        moments.update(chunk)
    mean, std = moments.result()

    def finish(xs: torch.Tensor, ys: torch.Tensor, is_float: bool = False) -> TensorSplit:
        xs = xs if is_float else _to_float(xs, raw.scale)
        return TensorSplit(_normalise_(xs, mean, std), ys.to(torch.int64))

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


# --------------------------------------------------------------------------- argument checks


def _want_int(name: str, value: Any, minimum: int) -> int:
    """`value` if it is an integer >= minimum, else a LrtoolError naming the key."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise LrtoolError(f"{_arg(name)}: expected an integer >= {minimum}, got {value!r}")
    return value


def _want_bool(name: str, value: Any) -> bool:
    """`value` if it is true or false, else a LrtoolError naming the key."""
    if not isinstance(value, bool):
        raise LrtoolError(f"{_arg(name)}: expected true or false, got {value!r}")
    return value


def _want_root(value: Any) -> Path:
    """The `root` argument as a Path (with ~ expanded)."""
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise LrtoolError(f"{_arg('root')}: expected a folder path, got {value!r}")
    return Path(value).expanduser()


def _labels_in_range(y: np.ndarray, num_classes: int, where: Path) -> None:
    """Reject labels outside 0..num_classes-1: they would only fail later, inside the loss."""
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise LrtoolError(f"{_arg('root')}: labels in {where} must be in 0..{num_classes - 1}, "
                          f"got {int(y.min())}..{int(y.max())}")


def _missing_files(dataset: str, root: Path, expected: list[Path], missing: list[Path]) -> LrtoolError:
    """The one-line error for a dataset whose files are not under root."""
    if len(missing) == len(expected):
        what = f"no {dataset} files under '{root}' (expected {', '.join(map(str, expected))})"
    else:
        what = f"incomplete {dataset} files under '{root}' (missing {', '.join(map(str, missing))})"
    return LrtoolError(f"{_arg('root')}: {what}; put them there or set {_arg('download')}: true "
                       f"(needs a network)")


def _download_failed(dataset: str, root: Path, err: BaseException) -> LrtoolError:
    """The one-line error for a failed download."""
    return LrtoolError(f"{_arg('download')}: downloading {dataset} into '{root}' failed ({_one_line(err)}); "
                       f"check the network, or put the files there yourself and set "
                       f"{_arg('download')}: false")


# --------------------------------------------------------------------------- digits


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
        raise LrtoolError(f"{_KEY.get()}.name: dataset 'digits' needs scikit-learn "
                          f"({_one_line(e)})") from None
    x, y = load_digits(return_X_y=True)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64)


@DATASETS.register("digits", "sklearn_digits",
                   help="scikit-learn's 8x8 handwritten digits: 1797 images (1, 8, 8), 10 classes, "
                        "no download")
def digits(*, seed: int, val_fraction: float) -> _Raw:
    """scikit-learn's 8x8 handwritten digits (train/val only)."""
    x, y = load_digits_arrays()
    return _Raw(train=(torch.from_numpy(x).reshape(-1, 1, 8, 8), torch.from_numpy(y)),
                num_classes=10, scale=16.0)


# --------------------------------------------------------------------------- synthetic


@DATASETS.register("synthetic", "blobs",
                   help="seeded Gaussian blobs, easy to learn (for tests); image_size gives (1, s, s) inputs")
def synthetic(*, seed: int, val_fraction: float, n_samples: int = 512, n_features: int = 16,
              n_classes: int = 4, noise: float = 1.0, image_size: int | None = None,
              n_test: int = 0) -> _Raw:
    """Gaussian blobs: class centres with unit-variance coordinates, samples scattered by `noise`.

    With the defaults, centres are ~5.7 noise-widths apart: nearly separable, learnt in a few steps.
    `image_size` replaces n_features by image_size**2 inputs shaped (1, s, s) for conv models;
    `n_test` > 0 adds a test split drawn from the same blobs.
    """
    _want_int("n_samples", n_samples, 2)
    _want_int("n_classes", n_classes, 2)
    _want_int("n_test", n_test, 0)
    if image_size is None:
        dims, shape = _want_int("n_features", n_features, 1), (n_features,)
    else:
        size = _want_int("image_size", image_size, 1)
        dims, shape = size * size, (1, size, size)
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or noise < 0:
        raise LrtoolError(f"{_arg('noise')}: expected a number >= 0, got {noise!r}")
    # a generator of its own, so the data do not share a stream with the split's randperm
    gen = _generator((int(seed) * 1_000_003 + 7) % 2**63)
    centres = torch.randn(n_classes, dims, generator=gen)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        # balanced classes in random order
        y = (torch.arange(n) % n_classes)[torch.randperm(n, generator=gen)]
        x = centres[y] + noise * torch.randn(n, dims, generator=gen)
        return x.reshape(n, *shape), y

    train = draw(n_samples)  # drawn first, so n_test does not change the training data
    test = draw(n_test) if n_test else None
    return _Raw(train=train, test=test, num_classes=n_classes)


# --------------------------------------------------------------------------- MNIST (IDX files)

_IDX_IMAGES, _IDX_LABELS = 2051, 2049  # magic numbers: 0x08 (unsigned byte) data, 3 or 1 dims
_MNIST_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def _read_bytes(path: Path) -> bytes:
    """A file's bytes, gunzipped when its name ends in .gz."""
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as f:
            return f.read()
    return path.read_bytes()


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """An IDX file (the MNIST format: big-endian magic, dims, then uint8 data) as a uint8 array."""
    try:
        raw = _read_bytes(path)
    except (OSError, EOFError) as e:
        raise LrtoolError(f"{_arg('root')}: cannot read {path} ({_one_line(e)})") from None
    kind = "image" if magic == _IDX_IMAGES else "label"
    found = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if found != magic:
        raise LrtoolError(f"{_arg('root')}: {path} is not an IDX {kind} file "
                          f"(magic number {found}, expected {magic})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    size = math.prod(dims)
    if len(raw) < header + size:
        raise LrtoolError(f"{_arg('root')}: {path} is truncated: dims {dims} need {header + size} bytes, "
                          f"the file has {len(raw)}")
    return np.frombuffer(raw, dtype=np.uint8, count=size, offset=header).reshape(dims)


def _find(path: Path) -> Path | None:
    """`path`, or its .gz twin (as downloaded), whichever exists."""
    gz = path.with_name(path.name + ".gz")
    return path if path.is_file() else gz if gz.is_file() else None


def _load_idx_set(dataset: str, tv_class: str, root: Path, download: bool) -> _Raw:
    """MNIST-layout IDX files under root/<tv_class>/raw (torchvision's layout), downloaded when asked."""
    raw_dir = root / tv_class / "raw"
    expected = [raw_dir / name for pair in _MNIST_FILES.values() for name in pair]
    missing = [p for p in expected if _find(p) is None]
    if missing and download:
        try:
            import torchvision.datasets as tvd

            getattr(tvd, tv_class)(str(root), train=True, download=True)
        except Exception as e:  # network, disk, checksum: all end the same way for the user
            raise _download_failed(dataset, root, e) from None
        missing = [p for p in expected if _find(p) is None]
    if missing:
        raise _missing_files(dataset, root, expected, missing)
    splits = {}
    for split, (images_name, labels_name) in _MNIST_FILES.items():
        images_path, labels_path = _find(raw_dir / images_name), _find(raw_dir / labels_name)
        images, labels = _read_idx(images_path, _IDX_IMAGES), _read_idx(labels_path, _IDX_LABELS)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise LrtoolError(f"{_arg('root')}: {images_path} holds {images.shape} images but "
                              f"{labels_path} holds {labels.shape} labels")
        _labels_in_range(labels, 10, labels_path)
        splits[split] = (torch.from_numpy(images.copy()).unsqueeze(1),
                         torch.from_numpy(labels.astype(np.int64)))
    return _Raw(train=splits["train"], test=splits["test"], num_classes=10, scale=255.0)


@DATASETS.register("mnist",
                   help="MNIST handwritten digits, IDX files in root/MNIST/raw: (1, 28, 28), 10 classes")
def mnist(*, seed: int, val_fraction: float, root: str, download: bool = False) -> _Raw:
    """MNIST: 60k train (+ val split), 10k test, read from the IDX files torchvision lays out."""
    return _load_idx_set("MNIST", "MNIST", _want_root(root), _want_bool("download", download))


@DATASETS.register("fashion_mnist", "fashion-mnist", "fashionmnist",
                   help="Fashion-MNIST from IDX files under root/FashionMNIST/raw: (1, 28, 28), 10 classes")
def fashion_mnist(*, seed: int, val_fraction: float, root: str, download: bool = False) -> _Raw:
    """Fashion-MNIST: 60k train (+ val split), 10k test, read from the IDX files torchvision lays out."""
    return _load_idx_set("Fashion-MNIST", "FashionMNIST", _want_root(root),
                         _want_bool("download", download))


# --------------------------------------------------------------------------- CIFAR (pickle batches)


def _read_cifar_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR python batch as (uint8 (N, 3, 32, 32), int64 (N,))."""
    try:
        with open(path, "rb") as f:
            # a pickle can run code: read only files you trust (torchvision reads them the same way).
            # latin1 is how the original Python 2 pickles of numpy arrays load correctly.
            entry = pickle.load(f, encoding="latin1")
    except Exception as e:  # unpickling raises nearly anything on a damaged file
        raise LrtoolError(f"{_arg('root')}: cannot read CIFAR batch {path} ({_one_line(e)})") from None
    if not isinstance(entry, dict):
        raise LrtoolError(f"{_arg('root')}: {path} is not a CIFAR batch (a pickled dict), "
                          f"got {type(entry).__name__}")
    # keys are str in the original files, bytes when a file was written by Python 3 with b"data"
    entry = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}
    if "data" not in entry or label_key not in entry:
        raise LrtoolError(f"{_arg('root')}: {path} lacks the 'data' or '{label_key}' entry "
                          f"(has {', '.join(map(str, entry)) or 'nothing'})")
    data = np.asarray(entry["data"], dtype=np.uint8)
    labels = np.asarray(entry[label_key], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or labels.shape != (len(data),):
        raise LrtoolError(f"{_arg('root')}: {path} holds data of shape {data.shape} and {labels.shape} "
                          f"labels; expected (N, 3072) and (N,)")
    # each row is the red plane, then green, then blue: channels-first already
    return data.reshape(-1, 3, 32, 32), labels


def _load_cifar(dataset: str, tv_class: str, root: Path, download: bool, folder: str,
                train_files: list[str], test_file: str, label_key: str, num_classes: int) -> _Raw:
    """A CIFAR set from its python batches under root/<folder>, downloaded by torchvision when asked."""
    expected = [root / folder / name for name in (*train_files, test_file)]
    missing = [p for p in expected if not p.is_file()]
    if missing and download:
        try:
            import torchvision.datasets as tvd
            from torchvision.datasets.utils import download_and_extract_archive

            cls = getattr(tvd, tv_class)
            # the archive alone: the torchvision class would then load (and md5-check) everything again
            download_and_extract_archive(cls.url, str(root), filename=cls.filename, md5=cls.tgz_md5)
        except Exception as e:  # network, disk, checksum: all end the same way for the user
            raise _download_failed(dataset, root, e) from None
        missing = [p for p in expected if not p.is_file()]
    if missing:
        raise _missing_files(dataset, root, expected, missing)
    parts = [_read_cifar_batch(p, label_key) for p in expected]
    for path, (_, labels) in zip(expected, parts):
        _labels_in_range(labels, num_classes, path)
    train_x = np.concatenate([x for x, _ in parts[:-1]])
    train_y = np.concatenate([y for _, y in parts[:-1]])
    test_x, test_y = parts[-1]
    return _Raw(train=(torch.from_numpy(train_x), torch.from_numpy(train_y)),
                test=(torch.from_numpy(np.ascontiguousarray(test_x)), torch.from_numpy(test_y)),
                num_classes=num_classes, scale=255.0)


@DATASETS.register("cifar10", "cifar-10", "cifar_10",
                   help="CIFAR-10, python batches in root/cifar-10-batches-py: (3, 32, 32), 10 classes")
def cifar10(*, seed: int, val_fraction: float, root: str, download: bool = False) -> _Raw:
    """CIFAR-10: 50k train (+ val split), 10k test."""
    return _load_cifar("CIFAR-10", "CIFAR10", _want_root(root), _want_bool("download", download),
                       "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch",
                       "labels", 10)


@DATASETS.register("cifar100", "cifar-100", "cifar_100",
                   help="CIFAR-100 (fine labels) from root/cifar-100-python: (3, 32, 32), 100 classes")
def cifar100(*, seed: int, val_fraction: float, root: str, download: bool = False) -> _Raw:
    """CIFAR-100 with its 100 fine labels: 50k train (+ val split), 10k test."""
    return _load_cifar("CIFAR-100", "CIFAR100", _want_root(root), _want_bool("download", download),
                       "cifar-100-python", ["train"], "test", "fine_labels", 100)


# --------------------------------------------------------------------------- image folders

_VAL_DIRS = ("val", "valid", "validation")


def _image_folder(tvd: Any, folder: Path, root: Path, classes: list[str] | None = None) -> Any:
    """A torchvision ImageFolder over `folder`, its labels numbered as in `classes` when given."""
    try:
        ds = tvd.ImageFolder(str(folder))
    except (FileNotFoundError, OSError) as e:
        from torchvision.datasets.folder import IMG_EXTENSIONS

        raise LrtoolError(
            f"{_arg('root')}: no images under '{folder}' ({_one_line(e)}); expected class sub-folders "
            f"of image files ({', '.join(IMG_EXTENSIONS)}), e.g. {root}/<class>/1.png, or "
            f"{root}/train/<class>/... with {root}/val/<class>/...") from None
    if classes is None or ds.classes == classes:
        return ds
    # a val/test folder may lack some classes; its labels must still mean what they mean in train
    unknown = [c for c in ds.classes if c not in classes]
    if unknown:
        raise LrtoolError(f"{_arg('root')}: '{folder}' has classes that the training folder lacks: "
                          f"{', '.join(unknown)}")
    index = {c: i for i, c in enumerate(classes)}
    ds.samples = [(path, index[ds.classes[t]]) for path, t in ds.samples]
    ds.imgs = ds.samples
    ds.targets = [t for _, t in ds.samples]
    ds.classes, ds.class_to_idx = list(classes), index
    return ds


def _shuffled(ds: Any, seed: int) -> torch.utils.data.Subset:
    """`ds` in a seeded random order: ImageFolder sorts by class, so `subset(n)` would be one class."""
    return torch.utils.data.Subset(ds, torch.randperm(len(ds), generator=_generator(seed)).tolist())


def _image_batches(ds: torch.utils.data.Dataset, num_workers: int, root: Path) -> Iterator[tuple]:
    """Batches of (images, labels) decoded in stored order; unreadable files become a LrtoolError."""
    loader = torch.utils.data.DataLoader(ds, batch_size=256, shuffle=False, num_workers=num_workers)
    try:
        yield from loader
    except (OSError, ValueError, RuntimeError) as e:  # PIL errors arrive wrapped when from a worker
        raise LrtoolError(f"{_arg('root')}: could not read an image under '{root}' "
                          f"({_one_line(e)})") from None


def _decode_all(ds: torch.utils.data.Dataset, num_workers: int,
                root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image of `ds` decoded once, as (uint8 (N, C, H, W), int64 (N,))."""
    xs, ys = [], []
    for x, y in _image_batches(ds, num_workers, root):
        xs.append(x)
        ys.append(y)
    return torch.cat(xs), torch.cat(ys).to(torch.int64)


@DATASETS.register("imagefolder", "image_folder", "folder",
                   help="your own images: root/<class>/*.png (or root/train, root/val, root/test), resized")
def imagefolder(*, seed: int, val_fraction: float, root: str, image_size: int = 32,
                grayscale: bool = False, num_workers: int = 0, in_memory: bool = False) -> _Raw | Data:
    """Images in class sub-folders, resized and centre-cropped to image_size, normalised by train statistics.

    Layouts: root/<class>/... (split into train/val by seed), or root/train/<class>/... with
    optional root/val (or valid, validation) and root/test. Streams through a DataLoader
    with `num_workers`, or is decoded once into memory when `in_memory` is true.
    """
    root = _want_root(root)
    size = _want_int("image_size", image_size, 1)
    grayscale = _want_bool("grayscale", grayscale)
    num_workers = _want_int("num_workers", num_workers, 0)
    in_memory = _want_bool("in_memory", in_memory)
    if not root.is_dir():
        raise LrtoolError(f"{_arg('root')}: no folder '{root}'; expected class sub-folders of images "
                          f"({root}/<class>/1.png, ...) or {root}/train and {root}/val")
    import torchvision.datasets as tvd
    from torchvision.transforms import v2

    # uint8 all the way to the crop, so the in-memory copy and the stream round identically
    decode = v2.Compose([v2.ToImage(), *([v2.Grayscale(1)] if grayscale else []),
                         v2.Resize(size), v2.CenterCrop(size)])
    if (root / "train").is_dir():
        bases = {"train": _image_folder(tvd, root / "train", root)}
        classes = bases["train"].classes
        val_dir = next((root / d for d in _VAL_DIRS if (root / d).is_dir()), None)
        if val_dir is not None:
            bases["val"] = _image_folder(tvd, val_dir, root, classes)
        if (root / "test").is_dir():
            bases["test"] = _image_folder(tvd, root / "test", root, classes)
    else:
        bases = {"train": _image_folder(tvd, root, root)}
        classes = bases["train"].classes
    for base in bases.values():
        base.transform = decode
    splits: dict[str, Any] = {name: _shuffled(base, seed) for name, base in bases.items()}
    num_classes = len(classes)

    if in_memory:
        arrays = {name: _decode_all(ds, num_workers, root) for name, ds in splits.items()}
        return _Raw(train=arrays["train"], val=arrays.get("val"), test=arrays.get("test"),
                    num_classes=num_classes, scale=255.0)

    # streaming: split as build_data would, so both paths hold the same samples in the same order
    if "val" not in splits and val_fraction > 0:
        train_idx, val_idx = _split_indices(len(splits["train"]), val_fraction, seed)
        whole = splits["train"]
        splits["train"] = torch.utils.data.Subset(whole, train_idx.tolist())
        splits["val"] = torch.utils.data.Subset(whole, val_idx.tolist())
    to_float = v2.ToDtype(torch.float32, scale=True)
    moments = _Moments()
    sample = torch.utils.data.Subset(splits["train"], range(min(len(splits["train"]), _STATS_MAX_IMAGES)))
    for x, _ in _image_batches(sample, num_workers, root):
        moments.update(to_float(x))
    mean, std = moments.result()
    for base in bases.values():
        base.transform = v2.Compose([decode, to_float, v2.Normalize(mean.tolist(), std.tolist())])
    channels = 1 if grayscale else 3

    def loader_split(name: str) -> LoaderSplit | None:
        return LoaderSplit(splits[name], num_workers=num_workers) if name in splits else None

    return Data(train=loader_split("train"), val=loader_split("val"), test=loader_split("test"),
                input_shape=(channels, size, size), num_classes=num_classes, name="imagefolder",
                mean=tuple(mean.tolist()), std=tuple(std.tolist()))


def augment_batch(x: torch.Tensor, *, crop: int = 0, flip: bool = False) -> torch.Tensor:
    """Random crop (after zero padding of `crop` pixels) and horizontal flip of a whole image batch.

    Runs on the batch's device with torch's global RNG (saved in checkpoints, so resume stays exact).
    """
    if x.dim() != 4:
        raise LrtoolError(f"data.augment: needs image batches (N, C, H, W), got shape {tuple(x.shape)}")
    n, c, h, w = x.shape
    if flip:
        mask = torch.rand(n, device=x.device) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    if crop:
        padded = torch.nn.functional.pad(x, (crop, crop, crop, crop))
        dy = torch.randint(0, 2 * crop + 1, (n,), device=x.device)
        dx = torch.randint(0, 2 * crop + 1, (n,), device=x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        x = padded[torch.arange(n, device=x.device)[:, None, None, None],
                   torch.arange(c, device=x.device)[None, :, None, None], rows, cols]
    return x

"""Splits of a dataset held in memory (TensorSplit) or read through a DataLoader (LoaderSplit).

Both yield the same batches in the same order for the same generator, and both shard a pass
across ranks under torchrun the same way.
"""

from __future__ import annotations

import itertools
import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import torch

from ..errors import LrtoolError, one_line
from .batches import split_batch, to_device
from .task import Task, as_targets


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
                drop_last: bool = False, shard: tuple[int, int] | None = None,
                skip: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One pass over the split: every sample once (at most once with drop_last).

        Args:
            batch_size: samples per batch.
            shuffle: visit samples in the order of `torch.randperm(n, generator=generator)`;
                otherwise in stored order.
            skip: leave out the pass's first `skip` batches (a run resumed mid-epoch).
            generator: a CPU generator for the order (torch's global one when None).
            drop_last: leave out the final, smaller batch.
            shard: (rank, world size) under torchrun, or None. Shuffled: every rank draws the same
                order and takes its part of each global batch of batch_size x world samples, so all
                ranks take the same number of steps (see _rank_batches). Not shuffled (evaluation):
                each rank reads its own contiguous part once.

        Returns:
            An iterator of (inputs, labels) on the split's device.
        """
        if skip:
            yield from itertools.islice(self.batches(batch_size, shuffle=shuffle, generator=generator,
                                                     drop_last=drop_last, shard=shard), skip, None)
            return
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

    def probe(self, n: int = 2) -> tuple[Any, torch.Tensor]:
        """The first `n` samples as one batch (inputs, target): a real batch to check the model on."""
        return self.x[:n], self.y[:n]

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


@dataclass
class LoaderOptions:
    """How a LoaderSplit reads its Dataset and turns what it yields into (inputs, target) batches."""

    num_workers: int = 0
    pin_memory: bool | None = None  # None: on when batches go to a CUDA device
    persistent_workers: bool | None = None  # None: on when num_workers > 0 (workers survive between passes)
    collate_fn: Callable[[list], Any] | None = None  # None: torch's default_collate
    inputs: str | list[str] | None = None  # dict batches: the model's input key(s) (see batches.split_batch)
    target: str | list[str] | None = None  # dict batches: the target key (a list: the table's columns)
    key: str = "data"  # the config section, for messages
    source: str | None = None  # the user's 'module:callable' that made the Dataset (None: one of lrtool's)


READING = " while lrtool read its Dataset"  # where the user's Dataset raised, after its callable returned


@contextmanager
def user_code(source: str | None, key: str, when: str = "") -> Iterator[None]:
    """The user's data code (`source`, its 'module:callable') raising while lrtool sets up a run is bad input
    (exit 2, one line naming `key.name`), found before training; with source None errors pass as they are."""
    if source is None:
        yield
        return
    try:
        yield
    except LrtoolError:
        raise
    except Exception as err:
        raise LrtoolError(f"{key}.name: {source} raised {one_line(err, with_type=True)}{when}") from err
    except SystemExit as err:
        raise LrtoolError(f"{key}.name: {source} called sys.exit({err.code!r}){when}; data code must not "
                          "exit") from None


class LoaderSplit(_Split):
    """One split read through a DataLoader (files decoded, user Datasets read), batches moved to the device.

    Each batch goes through the batch adapter (tuples `(x, y, *extra)` or dicts -> (inputs, target)); floating
    inputs become float32 and targets take the dtype of the task (`task`, set by the data source), because
    default_collate turns Python floats into float64, which no float32 model or loss takes.
    """

    def __init__(self, dataset: torch.utils.data.Dataset, *, options: LoaderOptions | None = None,
                 device: torch.device | str = "cpu", task: Task | None = None):
        self.dataset = dataset
        self.options = options or LoaderOptions()
        self.device = torch.device(device)
        self.task = task
        # each pass's iterator draws its workers' base seed from this generator, not from torch's global RNG:
        # the Dataset's own random draws (augmentation in __getitem__) then follow only the seeded global RNG,
        # and a run resumed mid-epoch (one iterator fewer) draws the same ones as the uninterrupted run.
        # Seeded from the run's seed (torch.initial_seed() reads no RNG state)
        self._seeds = torch.Generator().manual_seed(torch.initial_seed() + 1)
        # one DataLoader kept per split so persistent workers survive between passes
        self._cached: tuple[tuple[int, bool], torch.utils.data.DataLoader, _Order] | None = None

    @property
    def num_workers(self) -> int:
        return self.options.num_workers

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"LoaderSplit(n={len(self)}, num_workers={self.num_workers}, device={self.device})"

    def adapt(self, batch: Any) -> tuple[Any, Any]:
        """(inputs, target) of one collated batch, with the dtypes the model and loss expect, on the device."""
        o = self.options
        x, y = split_batch(batch, o.key, inputs=o.inputs, target=o.target)
        x = _float32(x)
        if not isinstance(y, torch.Tensor):
            y = torch.as_tensor(y)
        if self.task is not None:
            y = as_targets(y, self.task)
        return to_device(x, self.device), to_device(y, self.device)

    def probe(self, n: int = 2) -> tuple[Any, Any]:
        """The first `n` samples collated into one batch, in this process (no workers started)."""
        collate = self.options.collate_fn or torch.utils.data.default_collate
        with user_code(self.options.source, self.options.key, READING):
            samples = [self.dataset[i] for i in range(min(n, len(self)))]
        try:
            batch = collate(samples)
        except (RuntimeError, TypeError) as err:  # e.g. token lists of different lengths
            hint = "; samples of different sizes need a data.collate_fn that pads them" \
                if self.options.collate_fn is None else ""
            raise LrtoolError(f"{self.options.key}: the Dataset's samples cannot be collated into a batch: "
                              f"{one_line(err)}{hint}") from err
        return self.adapt(batch)

    def batches(self, batch_size: int, *, shuffle: bool, generator: torch.Generator | None = None,
                drop_last: bool = False, shard: tuple[int, int] | None = None,
                skip: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
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
            skip: leave out the pass's first `skip` batches (a run resumed mid-epoch). They are cut from
                the sample order, so the Dataset never reads them: a `__getitem__` that draws random
                numbers (augmentation) draws the same ones as the uninterrupted run.

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
        order.order = order.order[skip * batch_size:]
        for batch in loader:
            yield self.adapt(batch)

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
        return LoaderSplit(part, options=self.options, device=self.device, task=self.task)

    def to(self, device: torch.device | str) -> LoaderSplit:
        """The same split delivering batches on `device` (self when it already does)."""
        device = torch.device(device)
        if device == self.device:
            return self
        return LoaderSplit(self.dataset, options=self.options, device=device, task=self.task)

    def _loader(self, batch_size: int, drop_last: bool) -> tuple[torch.utils.data.DataLoader, _Order]:
        """The DataLoader for these batch settings, made once and reused."""
        if self._cached is not None and self._cached[0] == (batch_size, drop_last):
            return self._cached[1], self._cached[2]
        order = _Order(len(self))
        o = self.options
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_size=batch_size, sampler=order, drop_last=drop_last, collate_fn=o.collate_fn,
            generator=self._seeds,
            num_workers=o.num_workers,
            persistent_workers=o.num_workers > 0 if o.persistent_workers is None else o.persistent_workers,
            pin_memory=self.device.type == "cuda" if o.pin_memory is None else o.pin_memory)
        self._cached = ((batch_size, drop_last), loader, order)
        return loader, order


def _float32(x: Any) -> Any:
    """Floating tensors (also inside dicts, tuples) as float32: default_collate makes float64 of Python floats."""
    if isinstance(x, torch.Tensor):
        return x.float() if x.is_floating_point() and x.dtype != torch.float32 else x
    if isinstance(x, dict):
        return {k: _float32(v) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return type(x)(_float32(v) for v in x)
    return x


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
    task: Task  # what the targets mean and the model's output width (read by the loss and metric checks)
    name: str
    # the normalisation applied (per channel, or per feature for flat inputs), in the units of
    # the raw data divided by its scale (e.g. [0, 1] for 8-bit images)
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    classes: list | None = None  # the label of each class index, when the source maps labels (e.g. `table`)

    @property
    def num_outputs(self) -> int:
        """The model's output width: classes, labels or real values per sample."""
        return self.task.num_outputs

    @property
    def num_classes(self) -> int:
        """The model's output width (the name model builders take; classes for a multiclass task)."""
        return self.task.num_outputs


@dataclass
class Raw:
    """What an in-memory builder returns: CPU arrays, not yet split, scaled, normalised or moved."""

    train: tuple[torch.Tensor, torch.Tensor]
    num_classes: int | None = None  # classes of a multiclass set (None: read from the targets)
    val: tuple[torch.Tensor, torch.Tensor] | None = None  # the set's own val split
    test: tuple[torch.Tensor, torch.Tensor] | None = None
    scale: float = 1.0  # raw values are divided by this first (255 for 8-bit images)
    task: str | None = None  # multiclass | multilabel | regression; None: read from the targets
    classes: list | None = None  # the label of each class index, when the source mapped labels to indices


def generator(seed: int) -> torch.Generator:
    """A fresh CPU generator seeded with `seed`."""
    return torch.Generator().manual_seed(int(seed))


def split_indices(n: int, val_fraction: float, seed: int,
                  key: str = "data.val_fraction") -> tuple[torch.Tensor, torch.Tensor]:
    """(train, val) indices of a seeded random split: same seed, same split."""
    if n < 2:
        raise LrtoolError(f"{key}: cannot split {n} sample(s) into train and val; "
                          f"set it to 0")
    # at least one sample on each side, whatever the rounding
    n_val = min(n - 1, max(1, math.floor(n * val_fraction + 0.5)))
    perm = torch.randperm(n, generator=generator(seed))
    return perm[n_val:], perm[:n_val]

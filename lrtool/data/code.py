"""Data from the user's code: `data: {name: "package.module:callable", ...its keyword arguments}`.

The callable may return what people have at hand:
- a torch Dataset (map-style: `len` and `[i]`): split into train/val by `val_fraction` with the split seed;
- a mapping `{"train": ..., "val": ..., "test": ...}` or a tuple `(train, val[, test])` of Datasets;
- arrays or tensors `(x, y)` (or a mapping/tuple of such pairs per split): held in memory as tensors and
  batched by index slices, the fast path small data takes. They are used as given (no normalisation).
Dataset items (and collated batches) are `(x, y, *extra)` tuples or dicts, adapted by batches.split_batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .. import checks
from ..errors import LrtoolError, one_line
from ..imports import resolve_callable
from .batches import first_tensor, split_batch
from .splits import READING, Data, LoaderOptions, LoaderSplit, TensorSplit, split_indices, user_code
from .task import MULTICLASS, as_targets, infer_task

SPLITS = ("train", "val", "test")
_NOT_SPLITS = (torch.Tensor, np.ndarray, tuple, list)  # indexable with a length, yet not a Dataset split
CONTRACT = ("a torch Dataset, a mapping or tuple of train/val[/test] Datasets, or arrays/tensors (x, y)")


def validate_code(spec: str, kwargs: dict, key: str) -> None:
    """Import the callable and check its argument names (no call)."""
    checks.check_kwargs(resolve_callable(spec, f"{key}.name"), kwargs, key)


def code_data(spec: str, kwargs: dict, *, val_fraction: float, seed: int, task: str | None,
              options: LoaderOptions, key: str) -> Data:
    """Call the user's callable and turn what it returns into a Data (on the CPU).

    Args:
        spec: 'package.module:callable'.
        kwargs: its keyword arguments from the config.
        val_fraction, seed: the split of a single Dataset or (x, y) pair into train and val.
        task: `data.task` (None: read from the targets).
        options: how Datasets are read (workers, collate_fn, dict keys).
        key: the config key of the data section.

    Returns:
        The Data; raises LrtoolError naming `key.name` when the result is not one of the contract's forms.
    """
    fn = resolve_callable(spec, f"{key}.name")
    with user_code(spec, key):  # any other exception of the user's code is bad input too, named by user_code
        try:
            made = fn(**kwargs)
        except (TypeError, ValueError) as err:
            raise LrtoolError(f"{key}: {spec} rejected its arguments: {one_line(err)}") from err
    parts = _parts(made, spec, key)
    if parts.get("train") is None:
        raise LrtoolError(f"{key}.name: {spec} returned no 'train' split; expected {CONTRACT}")
    with user_code(spec, key, READING):  # len() of the user's Dataset
        n_train = len(parts["train"][1]) if _is_pair(parts["train"]) else len(parts["train"])
    if n_train == 0:  # nothing to train on: no epoch, no loss, no range test could say anything
        raise LrtoolError(f"{key}.name: {spec} returned 0 training samples; expected at least 1")
    if parts.get("val") is None and val_fraction > 0:
        with user_code(spec, key, READING):  # len() of the user's Dataset
            parts["train"], parts["val"] = _split(parts["train"], val_fraction, seed, key)
    if all(_is_pair(p) for p in parts.values() if p is not None):
        return _in_memory(parts, task, key)
    with user_code(spec, key, READING):  # the first reads of the user's Datasets: len(), [i]
        return _loaded(parts, task, options, key)


def _is_pair(obj: Any) -> bool:
    """Whether `obj` is an (x, y) pair of arrays or tensors of the same length."""
    return (isinstance(obj, (tuple, list)) and len(obj) == 2
            and all(isinstance(v, (torch.Tensor, np.ndarray)) for v in obj) and len(obj[0]) == len(obj[1]))


def _is_dataset(obj: Any) -> bool:
    """A map-style dataset: what a DataLoader with a sampler can read."""
    return hasattr(obj, "__getitem__") and hasattr(obj, "__len__") and not isinstance(obj, (str, bytes, Mapping))


def _check_lengths(obj: Any, spec: str, key: str, where: str = "") -> None:
    """Arrays/tensors (x, y) of different lengths: a one-line error saying so (not 'returned a Tensor')."""
    if (isinstance(obj, (tuple, list)) and len(obj) == 2
            and all(isinstance(v, (torch.Tensor, np.ndarray)) and v.ndim > 0 for v in obj)
            and len(obj[0]) != len(obj[1])):
        raise LrtoolError(f"{key}.name: {spec} returned x with {len(obj[0])} samples but y with {len(obj[1])}"
                          f"{where}; (x, y) need one target per sample")


def _parts(made: Any, spec: str, key: str) -> dict[str, Any]:
    """{'train': ..., 'val': ..., 'test': ...} from any of the contract's forms."""
    _check_lengths(made, spec, key)
    if _is_pair(made):
        return {"train": (_tensor(made[0]), _tensor(made[1]))}
    if (isinstance(made, (tuple, list)) and len(made) == 1
            and (_is_pair(made[0]) or _is_dataset(made[0]) and not isinstance(made[0], _NOT_SPLITS))):
        # a tuple of splits needs train and val; one split alone is returned as itself, not in a 1-tuple
        raise LrtoolError(f"{key}.name: {spec} returned a {type(made).__name__} of 1 split; expected {CONTRACT} "
                          f"(a single Dataset or (x, y) is returned as it is, not in a {type(made).__name__})")
    if isinstance(made, Mapping):
        unknown = [k for k in made if k not in SPLITS]
        if unknown:
            raise LrtoolError(f"{key}.name: {spec} returned a mapping with key(s) ({', '.join(map(str, unknown))}); "
                              f"expected keys among ({', '.join(SPLITS)})")
        items = dict(made)
    elif isinstance(made, (tuple, list)) and 2 <= len(made) <= 3 and not isinstance(made, torch.Tensor):
        items = dict(zip(SPLITS, made))
    elif _is_dataset(made) and not isinstance(made, (torch.Tensor, np.ndarray)):
        return {"train": made}
    else:
        raise LrtoolError(f"{key}.name: {spec} returned a {type(made).__name__}; expected {CONTRACT}")
    out: dict[str, Any] = {}
    for name, part in items.items():
        if part is None:
            continue
        _check_lengths(part, spec, key, f" for its '{name}' split")
        if _is_pair(part):
            out[name] = (_tensor(part[0]), _tensor(part[1]))
        elif _is_dataset(part) and not isinstance(part, _NOT_SPLITS):
            out[name] = part
        else:
            raise LrtoolError(f"{key}.name: {spec} returned a {type(part).__name__} as its '{name}' split; "
                              f"expected a torch Dataset or arrays/tensors (x, y)")
    return out


def _tensor(a: Any) -> torch.Tensor:
    """A tensor of an array (numpy float64 becomes float32: models are float32)."""
    t = torch.as_tensor(a)
    return t.float() if t.dtype == torch.float64 else t


def _split(train: Any, val_fraction: float, seed: int, key: str) -> tuple[Any, Any]:
    """Hold out the seeded val part of a Dataset or (x, y) pair (data.val_fraction, data.split_seed)."""
    train_idx, val_idx = split_indices(len(train[1]) if _is_pair(train) else len(train), val_fraction, seed,
                                       f"{key}.val_fraction")
    if _is_pair(train):
        x, y = train
        return (x[train_idx], y[train_idx]), (x[val_idx], y[val_idx])
    return (torch.utils.data.Subset(train, train_idx.tolist()), torch.utils.data.Subset(train, val_idx.tolist()))


def _in_memory(parts: dict[str, Any], task: str | None, key: str) -> Data:
    """Tensors as TensorSplits, targets in the task's dtype."""
    ys = [p[1] for p in parts.values()]
    found = infer_task(torch.cat([y.reshape(len(y), *ys[0].shape[1:]) for y in ys]), task, key=f"{key}.task")
    splits = {name: TensorSplit(p[0], as_targets(p[1], found)) for name, p in parts.items()}
    return Data(train=splits["train"], val=splits.get("val"), test=splits.get("test"),
                input_shape=tuple(int(s) for s in parts["train"][0].shape[1:]), task=found, name="")


def _targets(dataset: Any, options: LoaderOptions) -> torch.Tensor:
    """Every target of a Dataset: its `targets` attribute (torchvision's convention), else read item by item."""
    base, index = dataset, None
    while isinstance(base, torch.utils.data.Subset):  # a val split of the user's Dataset
        index = base.indices if index is None else [base.indices[i] for i in index]
        base = base.dataset
    known = getattr(base, "targets", None)
    if isinstance(known, (torch.Tensor, np.ndarray, list)) and len(known) == len(base):
        t = torch.as_tensor(np.asarray(known)) if not isinstance(known, torch.Tensor) else known
        return t[torch.as_tensor(index, dtype=torch.long)] if index is not None else t
    ys = [_item_target(dataset[i], options) for i in range(len(dataset))]
    return torch.stack([torch.as_tensor(y) for y in ys]) if ys else torch.zeros(0)


def _item_target(item: Any, options: LoaderOptions) -> torch.Tensor:
    """The target of one Dataset item (before collate_fn, so the input keys may not exist yet)."""
    return torch.as_tensor(split_batch(item, options.key, target=options.target)[1])


def _loaded(parts: dict[str, Any], task: str | None, options: LoaderOptions, key: str) -> Data:
    """Datasets (or pairs, wrapped as TensorDatasets) read through DataLoaders."""
    datasets = {name: torch.utils.data.TensorDataset(*p) if _is_pair(p) else p for name, p in parts.items()}
    train = datasets["train"]
    base = train
    while isinstance(base, torch.utils.data.Subset):  # the train part lrtool split off the user's Dataset
        base = base.dataset
    classes = getattr(base, "classes", None)
    num_classes = len(classes) if isinstance(classes, (list, tuple)) and classes else None
    if task is not None and task != MULTICLASS or num_classes is not None:
        # the task or the class count is known: one target shows the shape, no pass over the data
        first = _item_target(train[0], options)
        # `classes` says multiclass for class-index targets; a vector of class probabilities tells its own task
        classes_task = MULTICLASS if first.dim() == 0 else None
        found = infer_task(first.reshape(1, *first.shape), (task or classes_task) if num_classes else task,
                           num_classes=num_classes, key=f"{key}.task")
    else:
        ys = [_targets(d, options) for d in datasets.values()]
        found = infer_task(torch.cat([y.reshape(len(y), *ys[0].shape[1:]) for y in ys]), task, key=f"{key}.task")
    splits = {name: LoaderSplit(d, options=options, task=found) for name, d in datasets.items()}
    x, _ = splits["train"].probe(1)
    shape = first_tensor(x)
    return Data(train=splits["train"], val=splits.get("val"), test=splits.get("test"),
                input_shape=tuple(int(s) for s in shape.shape[1:]) if shape is not None else (1,),
                task=found, name="")


"""Datasets from a registry, held in memory as tensors (or streamed from image files).

Every builder returns CPU data; `build_data` does the work they share: the seeded train/val
split, per-channel mean/std from the training part only, float32, one move to the device.
Only torch, numpy and the standard library are imported at module level: torchvision and
scikit-learn take seconds to import and `lrtool --help` must stay fast.

Layout: task.py (the Task contract: multiclass / multilabel / regression and the output width, read
by the loss and metric checks), batches.py (the batch adapter: tuples and dicts -> (inputs, target)),
splits.py (TensorSplit, LoaderSplit, sharding), normalise.py, augment.py, code.py (the user's
'module:callable'), and one module per source format (builtin, idx, cifar, imagefolder, table).
To add a dataset, write its builder in such a module (keyword-only arguments, values declared with
checks.takes) and register it below.
"""

from __future__ import annotations

import dataclasses
import inspect

import torch

from .. import checks
from ..errors import LrtoolError, one_line
from ..imports import is_spec
from ..registry import Registry
from . import builtin, cifar, idx, imagefolder, table
from .augment import augment_batch
from .builtin import load_digits_arrays
from .code import code_data, validate_code
from .normalise import prepare
from .sources import KEY
from .splits import Data, LoaderOptions, LoaderSplit, Raw, TensorSplit
from .task import MULTICLASS, MULTILABEL, REGRESSION, TASKS, Task, as_targets, infer_task

__all__ = ["DATASETS", "INJECTED", "MULTICLASS", "MULTILABEL", "REGRESSION", "TASKS", "Data", "LoaderOptions",
           "LoaderSplit", "Raw", "Task", "TensorSplit", "as_targets", "augment_batch", "build_data", "infer_task",
           "load_digits_arrays", "validate_data"]

DATASETS = Registry("dataset")
DATASETS.add("digits", builtin.digits, "sklearn_digits",
             help="scikit-learn's 8x8 handwritten digits: 1797 images (1, 8, 8), 10 classes, no download")
DATASETS.add("synthetic", builtin.synthetic, "blobs",
             help="seeded Gaussian blobs, easy to learn (for tests); image_size gives (1, s, s) inputs")
DATASETS.add("mnist", idx.mnist,
             help="MNIST handwritten digits, IDX files in root/MNIST/raw: (1, 28, 28), 10 classes")
DATASETS.add("fashion_mnist", idx.fashion_mnist, "fashion-mnist", "fashionmnist",
             help="Fashion-MNIST from IDX files under root/FashionMNIST/raw: (1, 28, 28), 10 classes")
DATASETS.add("cifar10", cifar.cifar10, "cifar-10", "cifar_10",
             help="CIFAR-10, python batches in root/cifar-10-batches-py: (3, 32, 32), 10 classes")
DATASETS.add("cifar100", cifar.cifar100, "cifar-100", "cifar_100",
             help="CIFAR-100 (fine labels) from root/cifar-100-python: (3, 32, 32), 100 classes")
DATASETS.add("imagefolder", imagefolder.imagefolder, "image_folder", "folder",
             help="your own images: root/<class>/*.png (or root/train, root/val, root/test), resized")
DATASETS.add("table", table.table, "csv", "parquet",
             help="a CSV/Parquet file via pandas: target column(s), numeric features (standardised on train)")
DATASETS.add("breast_cancer", table.breast_cancer,
             help="scikit-learn's breast cancer set: 569 rows x 30 features, 2 classes, no download")
DATASETS.add("wine", table.wine, help="scikit-learn's wine set: 178 rows x 13 features, 3 classes, no download")
DATASETS.add("iris", table.iris, help="scikit-learn's iris set: 150 rows x 4 features, 3 classes, no download")
DATASETS.add("diabetes", table.diabetes,
             help="scikit-learn's diabetes set: 442 rows x 10 features, regression (disease progression)")

# Parameters lrtool passes to every builder itself; num_workers, task and target only to builders that name
# them, from the data section's own keys of the same names (which also serve DataLoaders and dict batches).
INJECTED = ("seed", "val_fraction", "num_workers", "task", "target")


def _checked(name: str, kwargs: dict, key: str) -> dict:
    """The builder's arguments with their names and values checked (see lrtool.checks)."""
    if is_spec(name):
        validate_code(name, kwargs, key)
        return checks.kwargs_dict(kwargs, key)
    builder = DATASETS.get(name, key=f"{key}.name")
    kwargs = checks.kwargs_dict(kwargs, key)
    checks.check_kwargs(builder, kwargs, key, injected=INJECTED)
    checks.check_required(builder, kwargs, key, injected=INJECTED,
                          owner=f"dataset '{DATASETS.canonical(name)}'")
    return checks.check_values(builder, kwargs, key)


def validate_data(name: str, kwargs: dict, key: str = "data") -> None:
    """Check a dataset name and its arguments (names and values) without building anything.

    Args:
        name: a registered dataset name or alias (case-insensitive).
        kwargs: the arguments for its builder, from the config.
        key: the config key of the data section, used in error messages.

    Returns:
        None; raises LrtoolError naming the offending key.
    """
    _checked(name, kwargs, key)


def build_data(name: str, kwargs: dict, *, val_fraction: float, seed: int,
               device: torch.device | str = "cpu", key: str = "data", task: str | None = None,
               options: LoaderOptions | None = None) -> Data:
    """Build a registered dataset: split, normalise and move it to the device once.

    Args:
        name: a registered dataset name or alias (case-insensitive).
        kwargs: the builder's own arguments, from the config.
        val_fraction: the part of the training data held out for validation (0 <= f < 1),
            used when the set has no own val split; 0 gives no val split.
        seed: seeds the train/val split (same seed, same split) and any generated data.
        device: where the tensors (or the loaders' batches) go.
        key: the config key of the data section, used in error messages.
        task: `data.task`: multiclass, multilabel or regression (None: read from the targets).
        options: how data read through a DataLoader is loaded and adapted (workers, collate_fn, dict keys).

    Returns:
        A Data with train, val and test splits on `device`.
    """
    kwargs = _checked(name, kwargs, key)
    if (isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float))
            or not 0 <= val_fraction < 1):
        raise checks.fail(f"{key}.val_fraction", "a number in [0, 1)", val_fraction)
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise LrtoolError(f"device: not a torch device: {device!r} ({one_line(e, with_type=True)})") from None
    options = options or LoaderOptions(key=key)
    token = KEY.set(key)
    try:
        if is_spec(name):
            if options.target is not None and not isinstance(options.target, str):
                raise checks.fail(f"{key}.target", "one key of the dict batches", options.target)
            options = dataclasses.replace(options, source=str(name))  # its Dataset's errors name it
            data = code_data(name, kwargs, val_fraction=val_fraction, seed=seed, task=task, options=options, key=key)
        else:
            builder = DATASETS.get(name, key=f"{key}.name")
            named = inspect.signature(builder).parameters
            if "target" in named and named["target"].default is inspect.Parameter.empty and options.target is None:
                raise LrtoolError(f"{key}.target: required by dataset '{DATASETS.canonical(name)}' but not set")
            given = (("num_workers", options.num_workers), ("task", task), ("target", options.target))
            kwargs = {**kwargs, **{k: v for k, v in given if k in named and (k != "target" or v is not None)}}
            made = builder(seed=seed, val_fraction=val_fraction, **kwargs)
            if isinstance(made, Raw) and task is not None:
                made.task = task
            data = made if isinstance(made, Data) else prepare(made, val_fraction, seed, key)
    finally:
        KEY.reset(token)
    if task is not None and data.task.kind != task:
        raise LrtoolError(f"{key}.task: dataset '{name}' is {data.task.describe()}, got task {task!r}")
    for split in (data.train, data.val, data.test):
        if isinstance(split, LoaderSplit):  # the config's loader options, for sources that build their own
            split.options, split.task = options, data.task
    data.name = str(name) if is_spec(name) else DATASETS.canonical(name) or str(name)
    data.train = data.train.to(device)
    data.val = data.val.to(device) if data.val is not None else None
    data.test = data.test.to(device) if data.test is not None else None
    return data

"""Datasets from a registry, held in memory as tensors (or streamed from image files).

Every builder returns CPU data; `build_data` does the work they share: the seeded train/val
split, per-channel mean/std from the training part only, float32, one move to the device.
Only torch, numpy and the standard library are imported at module level: torchvision and
scikit-learn take seconds to import and `lrtool --help` must stay fast.

Layout: splits.py (TensorSplit, LoaderSplit, sharding), normalise.py, augment.py, and one module
per source format (builtin, idx, cifar, imagefolder). To add a dataset, write its builder in such
a module (keyword-only arguments, values declared with checks.takes) and register it below.
"""

from __future__ import annotations

import torch

from .. import checks
from ..errors import LrtoolError, one_line
from ..registry import Registry
from . import builtin, cifar, idx, imagefolder
from .augment import augment_batch
from .builtin import load_digits_arrays
from .normalise import prepare
from .sources import KEY
from .splits import Data, LoaderSplit, Raw, TensorSplit

__all__ = ["DATASETS", "INJECTED", "Data", "LoaderSplit", "Raw", "TensorSplit", "augment_batch",
           "build_data", "load_digits_arrays", "validate_data"]

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

# Parameters lrtool passes to every builder itself; a config may not set them.
INJECTED = ("seed", "val_fraction")


def _checked(name: str, kwargs: dict, key: str) -> dict:
    """The builder's arguments with their names and values checked (see lrtool.checks)."""
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
    kwargs = _checked(name, kwargs, key)
    if (isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float))
            or not 0 <= val_fraction < 1):
        raise checks.fail(f"{key}.val_fraction", "a number in [0, 1)", val_fraction)
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise LrtoolError(f"device: not a torch device: {device!r} ({one_line(e, with_type=True)})") from None
    builder = DATASETS.get(name, key=f"{key}.name")
    token = KEY.set(key)
    try:
        made = builder(seed=seed, val_fraction=val_fraction, **kwargs)
        data = made if isinstance(made, Data) else prepare(made, val_fraction, seed, key)
    finally:
        KEY.reset(token)
    data.name = DATASETS.canonical(name) or str(name)
    data.train = data.train.to(device)
    data.val = data.val.to(device) if data.val is not None else None
    data.test = data.test.to(device) if data.test is not None else None
    return data

"""What the source-format modules (builtin, idx, cifar, imagefolder) share: keys and error lines."""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path

import numpy as np

from ..errors import LrtoolError, one_line

# The config key of the data section, so loaders can name `data.root` etc. in their errors
# without taking a `key` argument (which check_kwargs would then offer to users).
KEY: ContextVar[str] = ContextVar("lrtool_data_key", default="data")


def arg(name: str) -> str:
    """The full config key of a dataset argument, e.g. 'data.root'."""
    return f"{KEY.get()}.{name}"


def labels_in_range(y: np.ndarray, num_classes: int, where: Path) -> None:
    """Reject labels outside 0..num_classes-1: they would only fail later, inside the loss."""
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise LrtoolError(f"{arg('root')}: labels in {where} must be in 0..{num_classes - 1}, "
                          f"got {int(y.min())}..{int(y.max())}")


def missing_files(dataset: str, root: Path, expected: list[Path], missing: list[Path]) -> LrtoolError:
    """The one-line error for a dataset whose files are not under root."""
    if len(missing) == len(expected):
        what = f"no {dataset} files under '{root}' (expected {', '.join(map(str, expected))})"
    else:
        what = f"incomplete {dataset} files under '{root}' (missing {', '.join(map(str, missing))})"
    return LrtoolError(f"{arg('root')}: {what}; put them there or set {arg('download')}: true "
                       f"(needs a network)")


def download_failed(dataset: str, root: Path, err: BaseException) -> LrtoolError:
    """The one-line error for a failed download."""
    return LrtoolError(f"{arg('download')}: downloading {dataset} into '{root}' failed "
                       f"({one_line(err, with_type=True)}); check the network, or put the files there "
                       f"yourself and set {arg('download')}: false")

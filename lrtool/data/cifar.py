"""CIFAR-10 and CIFAR-100 from their python (pickle) batches."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from .. import checks
from ..errors import LrtoolError, one_line
from .sources import arg, download_failed, labels_in_range, missing_files
from .splits import Raw


def _read_cifar_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR python batch as (uint8 (N, 3, 32, 32), int64 (N,))."""
    try:
        with open(path, "rb") as f:
            # a pickle can run code: read only files you trust (torchvision reads them the same way).
            # latin1 is how the original Python 2 pickles of numpy arrays load correctly.
            entry = pickle.load(f, encoding="latin1")
    except Exception as e:  # unpickling raises nearly anything on a damaged file
        raise LrtoolError(f"{arg('root')}: cannot read CIFAR batch {path} ({one_line(e, with_type=True)})") from None
    if not isinstance(entry, dict):
        raise LrtoolError(f"{arg('root')}: {path} is not a CIFAR batch (a pickled dict), "
                          f"got {type(entry).__name__}")
    # keys are str in the original files, bytes when a file was written by Python 3 with b"data"
    entry = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}
    if "data" not in entry or label_key not in entry:
        raise LrtoolError(f"{arg('root')}: {path} lacks the 'data' or '{label_key}' entry "
                          f"(has {', '.join(map(str, entry)) or 'nothing'})")
    data = np.asarray(entry["data"], dtype=np.uint8)
    labels = np.asarray(entry[label_key], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or labels.shape != (len(data),):
        raise LrtoolError(f"{arg('root')}: {path} holds data of shape {data.shape} and {labels.shape} "
                          f"labels; expected (N, 3072) and (N,)")
    # each row is the red plane, then green, then blue: channels-first already
    return data.reshape(-1, 3, 32, 32), labels


def _load_cifar(dataset: str, tv_class: str, root: Path, download: bool, folder: str,
                train_files: list[str], test_file: str, label_key: str, num_classes: int) -> Raw:
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
            raise download_failed(dataset, root, e) from None
        missing = [p for p in expected if not p.is_file()]
    if missing:
        raise missing_files(dataset, root, expected, missing)
    parts = [_read_cifar_batch(p, label_key) for p in expected]
    for path, (_, labels) in zip(expected, parts):
        labels_in_range(labels, num_classes, path)
    train_x = np.concatenate([x for x, _ in parts[:-1]])
    train_y = np.concatenate([y for _, y in parts[:-1]])
    test_x, test_y = parts[-1]
    return Raw(train=(torch.from_numpy(train_x), torch.from_numpy(train_y)),
                test=(torch.from_numpy(np.ascontiguousarray(test_x)), torch.from_numpy(test_y)),
                num_classes=num_classes, scale=255.0)


@checks.takes(root=checks.folder, download=checks.flag)
def cifar10(*, seed: int, val_fraction: float, root: Path, download: bool = False) -> Raw:
    """CIFAR-10: 50k train (+ val split), 10k test."""
    return _load_cifar("CIFAR-10", "CIFAR10", root, download,
                       "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch",
                       "labels", 10)


@checks.takes(root=checks.folder, download=checks.flag)
def cifar100(*, seed: int, val_fraction: float, root: Path, download: bool = False) -> Raw:
    """CIFAR-100 with its 100 fine labels: 50k train (+ val split), 10k test."""
    return _load_cifar("CIFAR-100", "CIFAR100", root, download,
                       "cifar-100-python", ["train"], "test", "fine_labels", 100)

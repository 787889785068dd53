"""MNIST and Fashion-MNIST from the IDX files torchvision lays out under root/<set>/raw."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import torch

from .. import checks
from ..errors import LrtoolError, one_line
from .sources import arg, download_failed, labels_in_range, missing_files
from .splits import Raw

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
        raise LrtoolError(f"{arg('root')}: cannot read {path} ({one_line(e, with_type=True)})") from None
    kind = "image" if magic == _IDX_IMAGES else "label"
    found = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if found != magic:
        raise LrtoolError(f"{arg('root')}: {path} is not an IDX {kind} file "
                          f"(magic number {found}, expected {magic})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    size = math.prod(dims)
    if len(raw) < header + size:
        raise LrtoolError(f"{arg('root')}: {path} is truncated: dims {dims} need {header + size} bytes, "
                          f"the file has {len(raw)}")
    return np.frombuffer(raw, dtype=np.uint8, count=size, offset=header).reshape(dims)


def _find(path: Path) -> Path | None:
    """`path`, or its .gz twin (as downloaded), whichever exists."""
    gz = path.with_name(path.name + ".gz")
    return path if path.is_file() else gz if gz.is_file() else None


def _load_idx_set(dataset: str, tv_class: str, root: Path, download: bool) -> Raw:
    """MNIST-layout IDX files under root/<tv_class>/raw (torchvision's layout), downloaded when asked."""
    raw_dir = root / tv_class / "raw"
    expected = [raw_dir / name for pair in _MNIST_FILES.values() for name in pair]
    missing = [p for p in expected if _find(p) is None]
    if missing and download:
        try:
            import torchvision.datasets as tvd

            getattr(tvd, tv_class)(str(root), train=True, download=True)
        except Exception as e:  # network, disk, checksum: all end the same way for the user
            raise download_failed(dataset, root, e) from None
        missing = [p for p in expected if _find(p) is None]
    if missing:
        raise missing_files(dataset, root, expected, missing)
    splits = {}
    for split, (images_name, labels_name) in _MNIST_FILES.items():
        images_path, labels_path = _find(raw_dir / images_name), _find(raw_dir / labels_name)
        images, labels = _read_idx(images_path, _IDX_IMAGES), _read_idx(labels_path, _IDX_LABELS)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise LrtoolError(f"{arg('root')}: {images_path} holds {images.shape} images but "
                              f"{labels_path} holds {labels.shape} labels")
        labels_in_range(labels, 10, labels_path)
        splits[split] = (torch.from_numpy(images.copy()).unsqueeze(1),
                         torch.from_numpy(labels.astype(np.int64)))
    return Raw(train=splits["train"], test=splits["test"], num_classes=10, scale=255.0)


@checks.takes(root=checks.folder, download=checks.flag)
def mnist(*, seed: int, val_fraction: float, root: Path, download: bool = False) -> Raw:
    """MNIST: 60k train (+ val split), 10k test, read from the IDX files torchvision lays out."""
    return _load_idx_set("MNIST", "MNIST", root, download)


@checks.takes(root=checks.folder, download=checks.flag)
def fashion_mnist(*, seed: int, val_fraction: float, root: Path, download: bool = False) -> Raw:
    """Fashion-MNIST: 60k train (+ val split), 10k test, read from the IDX files torchvision lays out."""
    return _load_idx_set("Fashion-MNIST", "FashionMNIST", root, download)

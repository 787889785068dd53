"""Your own images in class sub-folders, streamed through a DataLoader or decoded into memory."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Iterator

import torch

from .. import checks
from ..errors import LrtoolError, one_line
from .normalise import STATS_MAX_IMAGES, Moments
from .sources import KEY, arg
from .splits import Data, LoaderSplit, Raw, generator, split_indices

_VAL_DIRS = ("val", "valid", "validation")


def _image_folder(tvd: Any, folder: Path, root: Path, classes: list[str] | None = None) -> Any:
    """A torchvision ImageFolder over `folder`, its labels numbered as in `classes` when given."""
    try:
        ds = tvd.ImageFolder(str(folder))
    except (FileNotFoundError, OSError) as e:
        from torchvision.datasets.folder import IMG_EXTENSIONS

        raise LrtoolError(
            f"{arg('root')}: no images under '{folder}' ({one_line(e, with_type=True)}); expected class sub-folders "
            f"of image files ({', '.join(IMG_EXTENSIONS)}), e.g. {root}/<class>/1.png, or "
            f"{root}/train/<class>/... with {root}/val/<class>/...") from None
    if classes is None or ds.classes == classes:
        return ds
    # a val/test folder may lack some classes; its labels must still mean what they mean in train
    unknown = [c for c in ds.classes if c not in classes]
    if unknown:
        raise LrtoolError(f"{arg('root')}: '{folder}' has classes that the training folder lacks: "
                          f"{', '.join(unknown)}")
    index = {c: i for i, c in enumerate(classes)}
    ds.samples = [(path, index[ds.classes[t]]) for path, t in ds.samples]
    ds.imgs = ds.samples
    ds.targets = [t for _, t in ds.samples]
    ds.classes, ds.class_to_idx = list(classes), index
    return ds


def _shuffled(ds: Any, seed: int) -> torch.utils.data.Subset:
    """`ds` in a seeded random order: ImageFolder sorts by class, so `subset(n)` would be one class."""
    return torch.utils.data.Subset(ds, torch.randperm(len(ds), generator=generator(seed)).tolist())


def _image_batches(ds: torch.utils.data.Dataset, num_workers: int, root: Path) -> Iterator[tuple]:
    """Batches of (images, labels) decoded in stored order; unreadable files become a LrtoolError."""
    loader = torch.utils.data.DataLoader(ds, batch_size=256, shuffle=False, num_workers=num_workers)
    try:
        yield from loader
    except (OSError, ValueError, RuntimeError) as e:  # PIL errors arrive wrapped when from a worker
        raise LrtoolError(f"{arg('root')}: could not read an image under '{root}' "
                          f"({one_line(e, with_type=True)})") from None


def _decode_all(ds: torch.utils.data.Dataset, num_workers: int,
                root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image of `ds` decoded once, as (uint8 (N, C, H, W), int64 (N,))."""
    xs, ys = [], []
    for x, y in _image_batches(ds, num_workers, root):
        xs.append(x)
        ys.append(y)
    return torch.cat(xs), torch.cat(ys).to(torch.int64)


@checks.takes(root=checks.folder, image_size=partial(checks.integer, lo=1), grayscale=checks.flag,
              num_workers=partial(checks.integer, lo=0), in_memory=checks.flag)
def imagefolder(*, seed: int, val_fraction: float, root: Path, image_size: int = 32,
                grayscale: bool = False, num_workers: int = 0, in_memory: bool = False) -> Raw | Data:
    """Images in class sub-folders, resized and centre-cropped to image_size, normalised by train statistics.

    Layouts: root/<class>/... (split into train/val by seed), or root/train/<class>/... with
    optional root/val (or valid, validation) and root/test. Streams through a DataLoader
    with `num_workers`, or is decoded once into memory when `in_memory` is true.
    """
    size = image_size
    if not root.is_dir():
        raise LrtoolError(f"{arg('root')}: no folder '{root}'; expected class sub-folders of images "
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
        return Raw(train=arrays["train"], val=arrays.get("val"), test=arrays.get("test"),
                    num_classes=num_classes, scale=255.0)

    # streaming: split as build_data would, so both paths hold the same samples in the same order
    if "val" not in splits and val_fraction > 0:
        train_idx, val_idx = split_indices(len(splits["train"]), val_fraction, seed, arg("val_fraction"))
        whole = splits["train"]
        splits["train"] = torch.utils.data.Subset(whole, train_idx.tolist())
        splits["val"] = torch.utils.data.Subset(whole, val_idx.tolist())
    to_float = v2.ToDtype(torch.float32, scale=True)
    moments = Moments()
    sample = torch.utils.data.Subset(splits["train"], range(min(len(splits["train"]), STATS_MAX_IMAGES)))
    for x, _ in _image_batches(sample, num_workers, root):
        moments.update(to_float(x))
    mean, std = moments.result(KEY.get())
    for base in bases.values():
        base.transform = v2.Compose([decode, to_float, v2.Normalize(mean.tolist(), std.tolist())])
    channels = 1 if grayscale else 3

    def loader_split(name: str) -> LoaderSplit | None:
        return LoaderSplit(splits[name], num_workers=num_workers) if name in splits else None

    return Data(train=loader_split("train"), val=loader_split("val"), test=loader_split("test"),
                input_shape=(channels, size, size), num_classes=num_classes, name="imagefolder",
                mean=tuple(mean.tolist()), std=tuple(std.tolist()))

"""Tests for lrtool.data: tiny files in the real formats, written to tmp_path."""

from __future__ import annotations

import ast
import gzip
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lrtool import data as lrdata
from lrtool.data import (
    DATASETS,
    INJECTED,
    Data,
    LoaderOptions,
    LoaderSplit,
    TensorSplit,
    augment_batch,
    build_data,
    load_digits_arrays,
    validate_data,
)
from lrtool.data import builtin as lrbuiltin
from lrtool.data import splits as lrsplits
from lrtool.errors import LrtoolError

# --------------------------------------------------------------------------- fixtures: files


def write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    """An IDX file: big-endian magic number, big-endian dims, then the uint8 data."""
    array = np.asarray(array, dtype=np.uint8)
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + array.tobytes())


MNIST_SIZES = {"train": 30, "t10k": 12}


def write_mnist(root: Path, folder: str, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """MNIST-layout IDX files under root/<folder>/raw; returns what was written."""
    rng = np.random.default_rng(seed)
    written = {}
    for prefix, n in MNIST_SIZES.items():
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(root / folder / "raw" / f"{prefix}-images-idx3-ubyte", images, 2051)
        write_idx(root / folder / "raw" / f"{prefix}-labels-idx1-ubyte", labels, 2049)
        written[prefix] = (images, labels)
    return written


def write_cifar10(root: Path, per_batch: int = 4, n_test: int = 6) -> np.ndarray:
    """cifar-10-batches-py with data_batch_1..5 and test_batch; returns the test data rows."""
    rng = np.random.default_rng(1)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name, n in [*((f"data_batch_{i}", per_batch) for i in range(1, 6)), ("test_batch", n_test)]:
        rows = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n)]
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"data": rows, b"labels": labels}, f)
    return rows


def write_cifar100(root: Path, n_train: int = 20, n_test: int = 5) -> np.ndarray:
    """cifar-100-python with train and test (fine and coarse labels); returns the test data rows."""
    rng = np.random.default_rng(2)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for name, n in [("train", n_train), ("test", n_test)]:
        rows = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        fine = [int(v) for v in rng.integers(0, 100, size=n)]
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": rows, b"fine_labels": fine, b"coarse_labels": [v // 5 for v in fine]}, f)
    return rows


def write_images(folder: Path, classes: dict[str, int], seed: int = 0,
                 size: tuple[int, int] = (12, 10)) -> None:
    """`classes[name]` small random-colour PNGs in folder/<name>/ (not square, to exercise the crop)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name, count in classes.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / name / f"{i}.png")


@pytest.fixture
def flat_images(tmp_path: Path) -> Path:
    write_images(tmp_path / "imgs", {"cat": 6, "dog": 5, "fish": 4})
    return tmp_path / "imgs"


@pytest.fixture
def split_images(tmp_path: Path) -> Path:
    root = tmp_path / "imgs"
    write_images(root / "train", {"a": 5, "b": 4, "c": 3}, seed=1)
    write_images(root / "val", {"a": 2, "c": 2}, seed=2)  # no 'b': labels must still follow train
    write_images(root / "test", {"a": 1, "b": 2, "c": 1}, seed=3)
    return root


def all_batches(split, batch_size=4, **kw) -> tuple[torch.Tensor, torch.Tensor]:
    """A whole pass, concatenated."""
    xs, ys = zip(*split.batches(batch_size, shuffle=kw.pop("shuffle", False), **kw))
    return torch.cat(xs), torch.cat(ys)


def raw_pixels(split: TensorSplit, data: Data) -> torch.Tensor:
    """Undo the normalisation: the pixels as read, in the units of Data.mean."""
    shape = (1, -1, 1, 1)
    return split.x * torch.tensor(data.std).view(shape) + torch.tensor(data.mean).view(shape)


# --------------------------------------------------------------------------- registry and errors


def test_registry_names_and_aliases():
    for name in ("digits", "synthetic", "mnist", "fashion_mnist", "cifar10", "cifar100", "imagefolder"):
        assert name in DATASETS.names()
        assert DATASETS.help(name)
    assert DATASETS.canonical("Fashion-MNIST") == "fashion_mnist"
    assert DATASETS.canonical("CIFAR-10") == "cifar10"
    assert INJECTED == ("seed", "val_fraction", "num_workers", "task", "target")


def test_unknown_name_lists_choices_and_suggests():
    with pytest.raises(LrtoolError) as e:
        validate_data("mnsit", {})
    msg = str(e.value)
    assert msg.startswith("data.name: unknown dataset 'mnsit'")
    assert "did you mean 'mnist'" in msg and "cifar10" in msg and "\n" not in msg


def test_unknown_kwarg_names_the_key():
    with pytest.raises(LrtoolError) as e:
        validate_data("mnist", {"roott": "/x"})
    assert str(e.value).startswith("data.roott: unknown argument (did you mean 'root'?)")
    assert "download" in str(e.value)
    with pytest.raises(LrtoolError,
                       match=r"^cfg\.data\.n_sample: unknown argument \(did you mean 'n_samples'"):
        build_data("synthetic", {"n_sample": 10}, val_fraction=0.2, seed=0, key="cfg.data")


def test_injected_and_required_kwargs():
    with pytest.raises(LrtoolError, match=r"^data\.seed: set by lrtool itself"):
        validate_data("digits", {"seed": 1})
    with pytest.raises(LrtoolError, match=r"^data\.root: required by dataset 'cifar10' but not set$"):
        validate_data("cifar-10", {})
    validate_data("synthetic", {"n_samples": 10, "image_size": 4})  # fine


def test_bad_values_name_the_key(tmp_path):
    with pytest.raises(LrtoolError, match=r"^data\.download: expected true or false, got 'yes'$"):
        build_data("mnist", {"root": str(tmp_path), "download": "yes"}, val_fraction=0.2, seed=0)
    with pytest.raises(LrtoolError, match=r"^data\.n_classes: expected an integer >= 2, got 1$"):
        build_data("synthetic", {"n_classes": 1}, val_fraction=0.2, seed=0)
    with pytest.raises(LrtoolError, match=r"^data\.val_fraction: expected a number in \[0, 1\), got 1\.0$"):
        build_data("synthetic", {}, val_fraction=1.0, seed=0)
    with pytest.raises(LrtoolError, match=r"^data\.val_fraction: cannot split 1 sample"):
        lrsplits.split_indices(1, 0.5, seed=0)


@pytest.mark.parametrize("name, folder, label", [("mnist", "MNIST", "MNIST"),
                                                 ("fashion_mnist", "FashionMNIST", "Fashion-MNIST")])
def test_idx_missing_root_message(tmp_path, name, folder, label):
    root = tmp_path / "nowhere"
    with pytest.raises(LrtoolError) as e:
        build_data(name, {"root": str(root)}, val_fraction=0.2, seed=0)
    msg = str(e.value)
    raw = root / folder / "raw"
    assert msg.startswith(f"data.root: no {label} files under '{root}' "
                          f"(expected {raw}/train-images-idx3-ubyte, ")
    assert f"{raw}/t10k-labels-idx1-ubyte" in msg
    assert msg.endswith("put them there or set data.download: true (needs a network)")
    assert "\n" not in msg


def test_idx_partial_files_are_named(tmp_path):
    write_mnist(tmp_path, "MNIST")
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    missing = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    pattern = rf"^data\.root: incomplete MNIST files under .* \(missing {re.escape(str(missing))}\); put"
    with pytest.raises(LrtoolError, match=pattern):
        build_data("mnist", {"root": str(tmp_path)}, val_fraction=0.2, seed=0)


@pytest.mark.parametrize("name, folder", [("cifar10", "cifar-10-batches-py"),
                                          ("cifar100", "cifar-100-python")])
def test_cifar_missing_root_message(tmp_path, name, folder):
    with pytest.raises(LrtoolError) as e:
        build_data(name, {"root": str(tmp_path)}, val_fraction=0.2, seed=0)
    msg = str(e.value)
    assert msg.startswith(f"data.root: no CIFAR-{name[5:]} files under '{tmp_path}' "
                          f"(expected {tmp_path / folder}/")
    assert "set data.download: true (needs a network)" in msg and "\n" not in msg


def test_download_failure_is_one_line(tmp_path, monkeypatch):
    import torchvision.datasets as tvd
    import torchvision.datasets.utils as tvu

    def offline(*args, **kwargs):
        raise OSError("network is unreachable\n(second line)")

    monkeypatch.setattr(tvd, "MNIST", offline)
    monkeypatch.setattr(tvu, "download_and_extract_archive", offline)
    for name in ("mnist", "cifar10"):
        with pytest.raises(LrtoolError) as e:
            build_data(name, {"root": str(tmp_path), "download": True}, val_fraction=0.2, seed=0)
        msg = str(e.value)
        assert msg.startswith("data.download: downloading ") and "network is unreachable (second line)" in msg
        assert "\n" not in msg


def test_bad_idx_magic(tmp_path):
    write_mnist(tmp_path, "MNIST")
    write_idx(tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte", np.zeros((2, 28, 28)), 2049)
    with pytest.raises(LrtoolError, match=r"^data\.root: .*train-images-idx3-ubyte is not an IDX image file "
                                          r"\(magic number 2049, expected 2051\)$"):
        build_data("mnist", {"root": str(tmp_path)}, val_fraction=0.2, seed=0)


def test_imagefolder_missing_and_empty_root(tmp_path):
    with pytest.raises(LrtoolError, match=r"^data\.root: no folder '.*nope'; expected class sub-folders"):
        build_data("imagefolder", {"root": str(tmp_path / "nope")}, val_fraction=0.2, seed=0)
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    (tmp_path / "empty" / "cat" / "notes.txt").write_text("not an image")
    with pytest.raises(LrtoolError) as e:
        build_data("imagefolder", {"root": str(tmp_path / "empty")}, val_fraction=0.2, seed=0)
    assert str(e.value).startswith(f"data.root: no images under '{tmp_path / 'empty'}'")
    assert ".png" in str(e.value) and "\n" not in str(e.value)


def test_import_stays_light():
    """`lrtool --help` imports this module: torchvision and sklearn must wait for a builder.

    Checked on the source (a subprocess would spend seconds importing torch): every
    module-level import is the standard library, numpy, torch or lrtool itself.
    """
    allowed = {"__future__", "collections", "contextlib", "gzip", "inspect", "itertools", "math", "os", "pickle",
               "contextvars", "dataclasses", "functools", "pathlib", "typing", "numpy", "torch"}
    files = sorted(Path(lrdata.__file__).parent.glob("*.py"))
    assert len(files) > 5  # the package's modules, not only __init__
    for path in files:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                assert {a.name.split(".")[0] for a in node.names} <= allowed, path
            elif isinstance(node, ast.ImportFrom) and not node.level:
                assert node.module.split(".")[0] in allowed, path


# --------------------------------------------------------------------------- digits and synthetic


def test_digits_default():
    data = build_data("digits", {}, val_fraction=0.2, seed=0)
    assert data.name == "digits" and data.num_classes == 10 and data.input_shape == (1, 8, 8)
    assert len(data.train) + len(data.val) == 1797 and len(data.val) == round(1797 * 0.2)
    assert data.test is None
    assert data.train.x.dtype == torch.float32 and data.train.y.dtype == torch.int64
    assert set(data.train.y.tolist()) == set(range(10))
    # pixels 0..16 are reported in [0, 1] units
    assert 0 < data.mean[0] < 1 and 0 < data.std[0] < 1
    whole = build_data("digits", {}, val_fraction=0, seed=0)
    assert whole.val is None and len(whole.train) == 1797


def test_digits_csv_matches_sklearn():
    assert lrbuiltin._digits_csv_path() is not None  # this venv has scikit-learn's file
    x_csv, y_csv = load_digits_arrays()
    x_sk, y_sk = load_digits_arrays(None)
    assert x_csv.shape == (1797, 64) and y_csv.shape == (1797,)
    assert x_csv.dtype == x_sk.dtype and y_csv.dtype == y_sk.dtype
    assert np.array_equal(x_csv, x_sk) and np.array_equal(y_csv, y_sk)
    assert x_csv.min() == 0 and x_csv.max() == 16


def test_digits_without_the_csv_falls_back(monkeypatch):
    expected = build_data("digits", {}, val_fraction=0.2, seed=3)
    monkeypatch.setattr(lrbuiltin, "_digits_csv_path", lambda: None)
    got = build_data("digits", {}, val_fraction=0.2, seed=3)
    assert torch.equal(got.train.x, expected.train.x) and torch.equal(got.val.y, expected.val.y)


def test_synthetic_shapes_and_test_split():
    kw = {"n_samples": 100, "n_features": 5, "n_classes": 3}
    flat = build_data("synthetic", kw, val_fraction=0.2, seed=0)
    assert flat.input_shape == (5,) and flat.num_classes == 3 and flat.test is None
    assert len(flat.train) == 80 and len(flat.val) == 20
    img = build_data("blobs", {"n_samples": 64, "image_size": 6, "n_test": 16}, val_fraction=0, seed=0)
    assert img.input_shape == (1, 6, 6) and img.train.x.shape == (64, 1, 6, 6) and len(img.test) == 16
    assert img.val is None and img.name == "synthetic"
    # classes are balanced
    assert torch.bincount(img.train.y).tolist() == [16, 16, 16, 16]


def test_synthetic_is_deterministic_and_learnable():
    kw = {"n_samples": 400, "n_test": 100}
    a = build_data("synthetic", kw, val_fraction=0.25, seed=5)
    b = build_data("synthetic", kw, val_fraction=0.25, seed=5)
    c = build_data("synthetic", kw, val_fraction=0.25, seed=6)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.test.x, c.test.x)
    # the training data do not depend on n_test
    d = build_data("synthetic", {"n_samples": 400}, val_fraction=0.25, seed=5)
    assert torch.equal(a.train.x, d.train.x)
    # nearest class mean already classifies the held-out samples
    centres = torch.stack([a.train.x[a.train.y == k].mean(0) for k in range(4)])
    for split in (a.val, a.test):
        predicted = torch.cdist(split.x, centres).argmin(1)
        assert (predicted == split.y).float().mean() > 0.95


# --------------------------------------------------------------------------- split and normalisation


def test_split_is_deterministic_by_seed():
    a = build_data("digits", {}, val_fraction=0.1, seed=1)
    b = build_data("digits", {}, val_fraction=0.1, seed=1)
    c = build_data("digits", {}, val_fraction=0.1, seed=2)
    assert torch.equal(a.val.x, b.val.x) and torch.equal(a.val.y, b.val.y)
    assert torch.equal(a.train.y, b.train.y)
    assert not torch.equal(a.val.x, c.val.x)


def test_split_keeps_every_sample_once():
    # train + val hold exactly the images of the whole set (matched by pixels; digits has duplicates)
    whole = build_data("digits", {}, val_fraction=0, seed=0)
    parts = build_data("digits", {}, val_fraction=0.3, seed=0)
    assert parts.mean != whole.mean  # statistics come from the training part only
    rows = lambda d, s: sorted(map(tuple, raw_pixels(s, d).flatten(1).mul(16).round().int().tolist()))
    assert sorted(rows(parts, parts.train) + rows(parts, parts.val)) == rows(whole, whole.train)


def test_normalisation_uses_training_statistics(tmp_path):
    rows = write_cifar10(tmp_path)
    data = build_data("cifar10", {"root": str(tmp_path)}, val_fraction=0.25, seed=0)
    train = data.train.x
    assert torch.allclose(train.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(train.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-5)
    # the same train statistics are applied to the test split
    expected = torch.from_numpy(rows).float().div(255).view(-1, 3, 32, 32)
    assert torch.allclose(raw_pixels(data.test, data), expected, atol=1e-5)
    # per feature for flat inputs
    flat = build_data("synthetic", {"n_features": 7}, val_fraction=0.2, seed=0)
    assert len(flat.mean) == 7
    assert torch.allclose(flat.train.x.mean(0), torch.zeros(7), atol=1e-5)
    assert torch.allclose(flat.train.x.std(0, unbiased=False), torch.ones(7), atol=1e-5)


# --------------------------------------------------------------------------- batches and subset


def id_split(n: int) -> TensorSplit:
    """Sample i has input i and label i."""
    return TensorSplit(torch.arange(n, dtype=torch.float32).unsqueeze(1), torch.arange(n))


def loader_split(n: int) -> LoaderSplit:
    split = id_split(n)
    return LoaderSplit(torch.utils.data.TensorDataset(split.x, split.y))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 40), batch_size=st.integers(1, 16), shuffle=st.booleans(),
       drop_last=st.booleans(), loader=st.booleans())
def test_batches_visit_every_sample_once(n, batch_size, shuffle, drop_last, loader):
    split = loader_split(n) if loader else id_split(n)
    gen = torch.Generator().manual_seed(n)
    seen, sizes = [], []
    for x, y in split.batches(batch_size, shuffle=shuffle, generator=gen, drop_last=drop_last):
        assert torch.equal(x.squeeze(1).long(), y)  # inputs and labels stay paired
        seen += y.tolist()
        sizes.append(len(y))
    assert len(sizes) == split.num_batches(batch_size, drop_last)
    assert len(set(seen)) == len(seen)  # never twice
    if drop_last:
        assert all(s == batch_size for s in sizes) and len(seen) == n // batch_size * batch_size
    else:
        assert sorted(seen) == list(range(n)) and all(s == batch_size for s in sizes[:-1])
    if not shuffle:
        assert seen == list(range(len(seen)))


def test_order_comes_from_the_generator():
    split, loader = id_split(50), loader_split(50)
    order = lambda s, seed: all_batches(s, 8, shuffle=True, generator=torch.Generator().manual_seed(seed))[1]
    assert torch.equal(order(split, 1), order(split, 1))
    assert not torch.equal(order(split, 1), order(split, 2))
    assert torch.equal(order(split, 1), torch.randperm(50, generator=torch.Generator().manual_seed(1)))
    # the DataLoader path visits samples in the very same order
    assert torch.equal(order(loader, 1), order(split, 1))
    # consecutive passes from one generator differ (and agree across both kinds)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    first = all_batches(split, 8, shuffle=True, generator=g1)[1]
    assert torch.equal(all_batches(loader, 8, shuffle=True, generator=g2)[1], first)
    second = all_batches(split, 8, shuffle=True, generator=g1)[1]
    assert not torch.equal(first, second)
    assert torch.equal(all_batches(loader, 8, shuffle=True, generator=g2)[1], second)


def test_subset_is_the_first_samples():
    split, loader = id_split(20), loader_split(20)
    assert split.subset(5).y.tolist() == [0, 1, 2, 3, 4] and len(split.subset(99)) == 20
    part = loader.subset(7)
    assert isinstance(part, LoaderSplit) and len(part) == 7
    assert all_batches(part, 3)[1].tolist() == list(range(7))
    assert split.num_batches(6) == 4 and split.num_batches(6, drop_last=True) == 3
    with pytest.raises(LrtoolError, match="batch_size: expected a positive integer, got 0"):
        split.num_batches(0)


def test_device_argument():
    data = build_data("synthetic", {"n_samples": 20}, val_fraction=0.2, seed=0, device=torch.device("cpu"))
    assert data.train.x.device.type == "cpu" and data.train.device.type == "cpu"
    with pytest.raises(LrtoolError, match=r"^device: not a torch device: 'gpu0'"):
        build_data("synthetic", {}, val_fraction=0.2, seed=0, device="gpu0")


# --------------------------------------------------------------------------- files


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_idx_datasets(tmp_path, name, folder):
    written = write_mnist(tmp_path, folder)
    data = build_data(name, {"root": str(tmp_path)}, val_fraction=0.2, seed=0)
    assert data.input_shape == (1, 28, 28) and data.num_classes == 10 and data.name == name
    assert len(data.train) == 24 and len(data.val) == 6 and len(data.test) == 12
    images, labels = written["t10k"]
    assert data.test.y.tolist() == labels.tolist()
    expected = torch.from_numpy(images).float().div(255).unsqueeze(1)
    assert torch.allclose(raw_pixels(data.test, data), expected, atol=1e-5)
    assert sorted(data.train.y.tolist() + data.val.y.tolist()) == sorted(written["train"][1].tolist())


def test_idx_gz_files_are_read(tmp_path):
    written = write_mnist(tmp_path, "MNIST")
    for path in (tmp_path / "MNIST" / "raw").iterdir():
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
    data = build_data("mnist", {"root": str(tmp_path)}, val_fraction=0, seed=0)
    assert data.train.y.tolist() == written["train"][1].tolist()


def test_cifar10(tmp_path):
    rows = write_cifar10(tmp_path)
    data = build_data("cifar10", {"root": tmp_path}, val_fraction=0.25, seed=0)
    assert data.input_shape == (3, 32, 32) and data.num_classes == 10 and len(data.mean) == 3
    assert len(data.train) == 15 and len(data.val) == 5 and len(data.test) == 6
    # each row is the red plane, then green, then blue
    first = raw_pixels(data.test, data)[0]
    assert torch.allclose(first[1, 0, :4], torch.from_numpy(rows[0, 1024:1028]).float() / 255, atol=1e-5)


def test_cifar100(tmp_path):
    rows = write_cifar100(tmp_path)
    data = build_data("cifar-100", {"root": str(tmp_path)}, val_fraction=0, seed=0)
    assert data.input_shape == (3, 32, 32) and data.num_classes == 100 and data.val is None
    assert len(data.train) == 20 and len(data.test) == 5
    with open(tmp_path / "cifar-100-python" / "test", "rb") as f:
        fine = pickle.load(f)[b"fine_labels"]
    assert data.test.y.tolist() == fine
    expected = torch.from_numpy(rows).float() / 255
    assert torch.allclose(raw_pixels(data.test, data).flatten(1), expected, atol=1e-5)


def test_cifar_labels_out_of_range(tmp_path):
    write_cifar10(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    with open(path, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [3, 10]}, f)
    with pytest.raises(LrtoolError,
                       match=r"^data\.root: labels in .*test_batch must be in 0\.\.9, got 3\.\.10$"):
        build_data("cifar10", {"root": str(tmp_path)}, val_fraction=0.2, seed=0)


# --------------------------------------------------------------------------- image folders


def test_imagefolder_flat_in_memory_and_loader_agree(flat_images):
    kw = {"root": str(flat_images), "image_size": 8}
    mem = build_data("imagefolder", {**kw, "in_memory": True}, val_fraction=0.2, seed=4)
    stream = build_data("folder", kw, val_fraction=0.2, seed=4)
    assert isinstance(mem.train, TensorSplit) and isinstance(stream.train, LoaderSplit)
    for data in (mem, stream):
        assert data.input_shape == (3, 8, 8) and data.num_classes == 3 and data.test is None
        assert len(data.train) == 12 and len(data.val) == 3 and data.name == "imagefolder"
    assert np.allclose(mem.mean, stream.mean, atol=1e-6) and np.allclose(mem.std, stream.std, atol=1e-6)
    for a, b in ((mem.train, stream.train), (mem.val, stream.val)):
        xa, ya = all_batches(a, 5)
        xb, yb = all_batches(b, 5)
        assert torch.equal(ya, yb) and torch.allclose(xa, xb, atol=1e-5)
    # the training images are normalised to mean 0, std 1 per channel
    x = mem.train.x
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(x.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-5)
    # shuffled batches agree too, and subsets mix classes (ImageFolder itself sorts by class)
    g = lambda: torch.Generator().manual_seed(0)
    assert torch.equal(all_batches(mem.train, 4, shuffle=True, generator=g())[1],
                       all_batches(stream.train, 4, shuffle=True, generator=g())[1])
    assert len(set(stream.train.subset(6).batches(6, shuffle=False).__next__()[1].tolist())) > 1


def test_imagefolder_split_is_seeded(flat_images):
    kw = {"root": str(flat_images), "image_size": 8, "in_memory": True}
    a = build_data("imagefolder", kw, val_fraction=0.3, seed=1)
    b = build_data("imagefolder", kw, val_fraction=0.3, seed=1)
    c = build_data("imagefolder", kw, val_fraction=0.3, seed=2)
    assert torch.equal(a.val.x, b.val.x)
    assert not torch.equal(a.val.x, c.val.x)


def test_imagefolder_train_val_test_layout(split_images):
    kw = {"root": str(split_images), "image_size": 6, "grayscale": True}
    for in_memory in (False, True):
        data = build_data("imagefolder", {**kw, "in_memory": in_memory}, val_fraction=0.5, seed=0)
        assert data.input_shape == (1, 6, 6) and data.num_classes == 3
        # the own val folder is used whatever val_fraction says
        assert (len(data.train), len(data.val), len(data.test)) == (12, 4, 4)
        _, val_y = all_batches(data.val)
        assert sorted(val_y.tolist()) == [0, 0, 2, 2]  # 'a' and 'c' keep the training numbering
        x, test_y = all_batches(data.test)
        assert x.shape == (4, 1, 6, 6) and sorted(test_y.tolist()) == [0, 1, 1, 2]
    no_val = build_data("imagefolder", kw, val_fraction=0, seed=0)
    assert no_val.val is not None  # still the own val folder


def test_imagefolder_without_val_folder_splits_train(split_images):
    import shutil

    shutil.rmtree(split_images / "val")
    data = build_data("imagefolder", {"root": str(split_images), "image_size": 4}, val_fraction=0.25, seed=0)
    assert (len(data.train), len(data.val), len(data.test)) == (9, 3, 4)
    assert build_data("imagefolder", {"root": str(split_images), "image_size": 4},
                      val_fraction=0, seed=0).val is None


def test_imagefolder_val_class_unknown_to_train(split_images):
    write_images(split_images / "val", {"zebra": 1})
    with pytest.raises(LrtoolError,
                       match=r"^data\.root: '.*val' has classes that the training folder lacks: zebra$"):
        build_data("imagefolder", {"root": str(split_images)}, val_fraction=0.2, seed=0)


def test_imagefolder_with_workers(flat_images):
    kw = {"root": str(flat_images), "image_size": 8}
    plain = build_data("imagefolder", kw, val_fraction=0.2, seed=0)
    workers = build_data("imagefolder", kw, val_fraction=0.2, seed=0, options=LoaderOptions(num_workers=2))
    expected_x, expected_y = all_batches(plain.train, 5)
    for _ in range(2):  # the second pass reuses the persistent workers
        x, y = all_batches(workers.train, 5)
        assert torch.equal(y, expected_y) and torch.allclose(x, expected_x)


# --------------------------------------------------------------------------- augmentation


def _which_transform(out: torch.Tensor, image: torch.Tensor, crop: int) -> tuple[bool, int, int] | None:
    """(flipped, dy, dx) such that `out` is that window of the zero-padded (flipped) image, or None."""
    h, w = image.shape[1:]
    for flipped in (False, True):
        source = image.flip(2) if flipped else image
        padded = torch.nn.functional.pad(source, (crop, crop, crop, crop))
        for dy in range(2 * crop + 1):
            for dx in range(2 * crop + 1):
                if torch.equal(out, padded[:, dy:dy + h, dx:dx + w]):
                    return flipped, dy, dx
    return None


def test_augmentation_flips_and_shifts_each_image_on_its_own():
    # distinct positive values, so every window and flip of every image is recognisable
    x = torch.arange(1, 1 + 64 * 3 * 5 * 5, dtype=torch.float32).reshape(64, 3, 5, 5)
    torch.manual_seed(0)
    out = augment_batch(x, crop=2, flip=True)
    assert out.shape == x.shape
    found = [_which_transform(out[i], x[i], crop=2) for i in range(len(x))]
    assert None not in found  # each image is a padded window of itself, flipped or not
    # drawn per image: both flipped and unflipped ones, and several different shifts
    assert {f for f, _, _ in found} == {False, True}
    assert len({(dy, dx) for _, dy, dx in found}) > 5
    # torch's global RNG decides (it is saved in checkpoints, so a resumed run draws the same)
    torch.manual_seed(0)
    assert torch.equal(augment_batch(x, crop=2, flip=True), out)

    torch.manual_seed(1)
    flipped = augment_batch(x, flip=True)
    kinds = [_which_transform(flipped[i], x[i], crop=0) for i in range(len(x))]
    assert {k[0] for k in kinds if k is not None} == {False, True} and None not in kinds
    assert torch.equal(augment_batch(x), x)  # nothing asked, nothing done
    with pytest.raises(LrtoolError, match=r"^data\.augment: needs image batches \(N, C, H, W\)"):
        augment_batch(torch.zeros(4, 10), flip=True)

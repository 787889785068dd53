"""Data from code (`module:callable`), tables via pandas, scikit-learn's tabular sets, batches and the task contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from lrtool.data import LoaderOptions, LoaderSplit, Task, TensorSplit, build_data, infer_task
from lrtool.data.batches import split_batch
from lrtool.errors import LrtoolError
from lrtool.run import engine

from .conftest import invoke, write_base_config

REPO = Path(__file__).resolve().parents[1]


def module(tmp_path: Path, monkeypatch, name: str, source: str) -> str:
    """Write the user module `name` into tmp_path and put tmp_path on the import path; returns its name."""
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return name


SOURCES = """
    import numpy as np
    import torch

    class Pairs(torch.utils.data.Dataset):
        def __init__(self, n):
            self.x = torch.arange(n * 2, dtype=torch.float64).reshape(n, 2)
            self.y = [i % 3 for i in range(n)]
        def __len__(self):
            return len(self.y)
        def __getitem__(self, i):
            return self.x[i], self.y[i], "extra"

    def dataset(n=50):
        return Pairs(n)

    def mapping(n=20):
        return {"train": Pairs(n), "val": Pairs(5)}

    def triple():
        return Pairs(20), Pairs(6), Pairs(4)

    def arrays(n=40):
        rng = np.random.default_rng(0)
        return rng.normal(size=(n, 3)), rng.normal(size=n) * 0.4 + 2.5

    def wrong():
        return "not data"

    def tokens(n=30):
        ids = torch.randint(1, 20, (n, 7))
        return torch.utils.data.TensorDataset(ids, torch.arange(n) % 2)

    class Bag(torch.nn.Module):
        def __init__(self, num_classes):
            super().__init__()
            self.embed = torch.nn.EmbeddingBag(20, 4)
            self.head = torch.nn.Linear(4, num_classes)
        def forward(self, ids):
            return self.head(self.embed(ids))
"""


def test_code_dataset_split_by_val_fraction_and_seed(tmp_path, monkeypatch):
    name = module(tmp_path, monkeypatch, "src_split", SOURCES)
    a = build_data(f"{name}:dataset", {"n": 50}, val_fraction=0.2, seed=3)
    b = build_data(f"{name}:dataset", {"n": 50}, val_fraction=0.2, seed=3)
    c = build_data(f"{name}:dataset", {"n": 50}, val_fraction=0.2, seed=4)
    assert isinstance(a.train, LoaderSplit) and (len(a.train), len(a.val)) == (40, 10)
    assert a.val.dataset.indices == b.val.dataset.indices != c.val.dataset.indices
    assert a.task == Task("multiclass", 3) and a.input_shape == (2,) and a.name == f"{name}:dataset"
    x, y = next(a.train.batches(8, shuffle=False))
    # (x, y, *extra) items: the extra is dropped; float64 inputs become float32, class indices int64
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape == (8, 2)


def test_code_mapping_tuple_and_arrays(tmp_path, monkeypatch):
    name = module(tmp_path, monkeypatch, "src_forms", SOURCES)
    m = build_data(f"{name}:mapping", {}, val_fraction=0.2, seed=0)
    assert (len(m.train), len(m.val), m.test) == (20, 5, None)
    t = build_data(f"{name}:triple", {}, val_fraction=0.2, seed=0)
    assert (len(t.train), len(t.val), len(t.test)) == (20, 6, 4)
    arr = build_data(f"{name}:arrays", {}, val_fraction=0.25, seed=0)
    assert isinstance(arr.train, TensorSplit) and (len(arr.train), len(arr.val)) == (30, 10)
    # a real-valued target keeps its value: truncation to an integer class would make all of them 2
    assert arr.task == Task("regression", 1) and arr.train.y.dtype == torch.float32
    assert arr.train.y.shape == (30, 1) and not torch.equal(arr.train.y, arr.train.y.round())


def test_code_returning_something_else_is_one_line(tmp_path, monkeypatch):
    name = module(tmp_path, monkeypatch, "src_wrong", SOURCES)
    with pytest.raises(LrtoolError) as e:
        build_data(f"{name}:wrong", {}, val_fraction=0.2, seed=0)
    assert str(e.value) == ("data.name: src_wrong:wrong returned a str; expected a torch Dataset, a mapping or "
                            "tuple of train/val[/test] Datasets, or arrays/tensors (x, y)")
    with pytest.raises(LrtoolError, match=r"^data.size: unknown argument"):
        build_data(f"{name}:dataset", {"size": 3}, val_fraction=0.2, seed=0)


def test_embedding_model_is_checked_on_a_real_batch(tmp_path, monkeypatch):
    from lrtool.models import build_model

    name = module(tmp_path, monkeypatch, "src_tokens", SOURCES)
    data = build_data(f"{name}:tokens", {}, val_fraction=0.2, seed=0)
    assert data.train.probe(2)[0].dtype == torch.int64
    model = build_model(f"{name}:Bag", {}, input_shape=data.input_shape, num_classes=data.num_outputs,
                        example=data.train.probe(2))
    assert model(data.train.probe(2)[0]).shape == (2, 2)
    with pytest.raises(LrtoolError, match="fails on a batch of shape"):  # zeros of float: what used to be fed
        build_model(f"{name}:Bag", {}, input_shape=data.input_shape, num_classes=2)


DICTS = """
    import torch

    class Texts(torch.utils.data.Dataset):
        def __len__(self):
            return 24
        def __getitem__(self, i):
            return {"input_ids": torch.full((i % 5 + 1,), i % 7 + 1), "labels": i % 2}

    def texts():
        return Texts()

    def pad(samples):
        ids = torch.nn.utils.rnn.pad_sequence([s["input_ids"] for s in samples], batch_first=True)
        return {"input_ids": ids, "attention_mask": ids != 0, "labels": torch.tensor([s["labels"] for s in samples])}

    class Model(torch.nn.Module):
        def __init__(self, num_classes):
            super().__init__()
            self.embed = torch.nn.Embedding(8, 4, padding_idx=0)
            self.head = torch.nn.Linear(4, num_classes)
        def forward(self, input_ids, attention_mask):
            m = attention_mask.unsqueeze(-1).float()
            return self.head((self.embed(input_ids) * m).sum(1) / m.sum(1))
"""


def test_dict_batches_with_collate_fn_reach_the_model_as_keywords(tmp_path, monkeypatch):
    name = module(tmp_path, monkeypatch, "src_dicts", DICTS)
    import importlib

    user = importlib.import_module(name)
    options = LoaderOptions(collate_fn=user.pad, inputs=["input_ids", "attention_mask"], target="labels")
    data = build_data(f"{name}:texts", {}, val_fraction=0.25, seed=0, options=options)
    x, y = next(data.train.batches(6, shuffle=True, generator=torch.Generator().manual_seed(0)))
    assert set(x) == {"input_ids", "attention_mask"} and y.dtype == torch.int64 and len(y) == 6
    model = user.Model(2)
    precision = engine.Precision("fp32", torch.device("cpu"))
    loss, _ = engine.forward_backward(model, x, y, torch.nn.functional.cross_entropy, precision)
    assert torch.isclose(loss, torch.nn.functional.cross_entropy(model(**x), y).detach())
    val_loss, _ = engine.evaluate(model, data.val.batches(4, shuffle=False), torch.nn.functional.cross_entropy,
                                  precision)
    assert np.isfinite(val_loss)


def test_dict_batch_errors_list_the_keys():
    batch = {"input_ids": torch.zeros(2), "label_ids": torch.zeros(2)}
    with pytest.raises(LrtoolError) as e:
        split_batch(batch, "data", target="labels")
    assert str(e.value) == "data.target: expected a key 'labels' in the dict batches, got keys (input_ids, label_ids)"
    with pytest.raises(LrtoolError) as e:
        split_batch(batch, "data", inputs=["input_ids", "mask"], target="label_ids")
    assert str(e.value) == "data.inputs: expected key(s) (mask) in the dict batches, got keys (input_ids, label_ids)"
    x, y = split_batch(batch, "data", inputs="input_ids", target="label_ids")
    assert x is batch["input_ids"] and y is batch["label_ids"]


def test_infer_task_from_targets():
    assert infer_task(torch.tensor([0, 2, 1])) == Task("multiclass", 3)
    assert infer_task(torch.tensor([[0.0, 1.0], [1.0, 1.0]])) == Task("multilabel", 2)
    assert infer_task(torch.tensor([0.5, 2.0])) == Task("regression", 1)
    assert infer_task(torch.tensor([0, 1]), "regression") == Task("regression", 1)
    with pytest.raises(LrtoolError, match=r"^data.task: multiclass needs one integer class index per sample"):
        infer_task(torch.tensor([0.5, 1.0]), "multiclass")


def iris_csv(path: Path) -> Path:
    from sklearn.datasets import load_iris

    bunch = load_iris(as_frame=True)
    frame = bunch.frame.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    frame["species"] = [str(bunch.target_names[i]) for i in bunch.target]
    frame.drop(columns="target").to_csv(path, index=False)
    return path


def table(path: Path, target: str | list[str], **kwargs):
    """build_data for the table source: the target comes from data.target (a loader option), as in a config."""
    return build_data("table", {"path": str(path), **kwargs}, val_fraction=0.2, seed=0,
                      options=LoaderOptions(target=target))


def test_table_classification_maps_labels_and_standardises_on_train_only(tmp_path):
    path = iris_csv(tmp_path / "iris.csv")
    data = table(path, "species")
    assert data.task == Task("multiclass", 3) and data.classes == ["setosa", "versicolor", "virginica"]
    assert data.input_shape == (4,) and data.train.y.dtype == torch.int64
    import pandas as pd

    frame = pd.read_csv(path)
    from lrtool.data.splits import split_indices

    train_idx, val_idx = split_indices(len(frame), 0.2, 0)
    raw = torch.tensor(frame.drop(columns="species").to_numpy(np.float32))
    mean, std = raw[train_idx].mean(0), raw[train_idx].std(0, unbiased=False)
    assert torch.allclose(data.val.x, (raw[val_idx] - mean) / std, atol=1e-5)
    assert data.classes[int(data.val.y[0])] == frame["species"][int(val_idx[0])]


def test_table_regression_and_errors(tmp_path):
    path = iris_csv(tmp_path / "iris.csv")
    reg = table(path, "sepal_length", features=["petal_width"])
    assert reg.task == Task("regression", 1) and reg.input_shape == (1,)
    assert not torch.equal(reg.train.y, reg.train.y.round())  # 5.1, 4.9, ... kept as they are
    columns = "(sepal_length, sepal_width, petal_length, petal_width, species)"
    with pytest.raises(LrtoolError) as e:
        table(path, "kind")
    assert str(e.value) == f"data.target: no column(s) (kind) in '{path}'; available columns: {columns}"
    with pytest.raises(LrtoolError) as e:
        table(path, "sepal_length", features=["species"])
    assert str(e.value).startswith(f"data.features: column(s) (species) in '{path}' are not numeric; numeric "
                                   "columns: (sepal_width, petal_length, petal_width)")
    with pytest.raises(LrtoolError, match=r"^data.path: no such file"):
        table(tmp_path / "no.csv", "y")


@pytest.mark.parametrize("name,task,features", [("breast_cancer", Task("multiclass", 2), 30),
                                                ("wine", Task("multiclass", 3), 13),
                                                ("iris", Task("multiclass", 3), 4),
                                                ("diabetes", Task("regression", 1), 10)])
def test_sklearn_tabular_builtins(name, task, features):
    data = build_data(name, {}, val_fraction=0.2, seed=0)
    assert data.task == task and data.input_shape == (features,)
    assert data.train.y.dtype == task.target_dtype
    assert torch.allclose(data.train.x.mean(0), torch.zeros(features), atol=1e-4)


def test_table_run_saves_the_class_mapping(tmp_path):
    path = iris_csv(tmp_path / "iris.csv")
    config = tmp_path / "iris.yaml"
    config.write_text(f"seed: 0\ndevice: cpu\ndata: {{name: table, path: '{path}', target: species, batch_size: 16}}\n"
                      "model: {name: mlp, hidden: [8]}\nfind_lr: {num_iter: 10}\n")
    result = invoke("find-lr", config, "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "classes.json").read_text()) == {
        "classes": ["setosa", "versicolor", "virginica"]}


def test_user_modules_next_to_the_config_import_without_pythonpath(tmp_path):
    """The installed console script puts neither the cwd nor the config's folder on sys.path: lrtool does."""
    project = tmp_path / "project"
    (project / "cfg").mkdir(parents=True)
    (project / "cfg" / "mynet.py").write_text(textwrap.dedent("""
        import torch
        def SmallNet(input_shape, num_classes):
            return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(input_shape[0], num_classes))
    """))
    (project / "mydata.py").write_text("import torch\n\ndef make(n=64):\n"
                                       "    g = torch.Generator().manual_seed(0)\n"
                                       "    x = torch.randn(n, 5, generator=g)\n"
                                       "    return x, (x[:, 0] > 0).long()\n")
    (project / "cfg" / "run.yaml").write_text("device: cpu\ndata: {name: 'mydata:make', batch_size: 16}\n"
                                              "model: {name: 'mynet:SmallNet'}\nfind_lr: {num_iter: 5}\n")
    launcher = tmp_path / "bin" / "lrtool_script.py"  # what the console script does: import and call main
    launcher.parent.mkdir()
    launcher.write_text(f"import sys\nsys.path.insert(0, {str(REPO)!r})\nfrom lrtool.cli import main\nmain()\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-P", str(launcher), "find-lr", "cfg/run.yaml", "--out", "out"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (project / "out" / "lr_find.csv").exists()
    # --resume finds the same modules from anywhere: the run records where they were imported from
    proc = subprocess.run([sys.executable, "-P", str(launcher), "train", "cfg/run.yaml", "--epochs", "1",
                           "--out", "run"], cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary_path = project / "run" / "summary.json"
    s = json.loads(summary_path.read_text())
    assert s["import_paths"] == [str((project / "cfg").resolve()), str(project.resolve())]
    summary_path.write_text(json.dumps({**s, "status": "interrupted"}))  # as a Ctrl-C after the last step leaves it
    proc = subprocess.run([sys.executable, "-P", str(launcher), "train", "--resume", str(project / "run")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(summary_path.read_text())["status"] == "completed"


def test_a_resumed_run_whose_module_is_gone_names_the_folders_it_searched(tmp_path, monkeypatch):
    """--resume looks where the run recorded (import_paths), not in 'the config's folder': the error says so."""
    from lrtool import imports

    monkeypatch.setattr(sys, "path", list(sys.path))  # the folders lrtool adds go with the test
    monkeypatch.setattr(imports, "_ADDED", set())
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / "cfg").mkdir(parents=True)
    elsewhere.mkdir()
    module_file = project / "cfg" / "resume_gone_net.py"
    module_file.write_text("import torch\n\ndef make(input_shape, num_classes):\n"
                           "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(input_shape[0], "
                           "num_classes))\n")
    write_base_config(project / "cfg", "run.yaml", text="seed: 0\ndevice: cpu\n"
                      "data: {name: synthetic, n_samples: 64, n_features: 4, n_classes: 2, batch_size: 16}\n"
                      "model: {name: 'resume_gone_net:make'}\ntrain: {epochs: 1, plots: false}\n")
    monkeypatch.chdir(project)
    assert invoke("train", "cfg/run.yaml", "--out", "run").exit_code == 0
    run = project / "run"
    s = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**s, "status": "interrupted"}))
    module_file.unlink()  # moved away since the run was made
    monkeypatch.delitem(sys.modules, "resume_gone_net")
    monkeypatch.chdir(elsewhere)
    res = invoke("train", "--resume", run)
    assert res.exit_code == 2, res.output
    message = " ".join(res.output.split())
    # the recorded folders, after the run's own folder and the working directory config.yaml's load adds
    folders = [str(run.resolve()), str(elsewhere.resolve()), *s["import_paths"]]
    assert s["import_paths"] == [str((project / "cfg").resolve()), str(project.resolve())]
    assert f"(searched {', '.join(folders)}, then the rest of sys.path)" in message
    assert "config's folder" not in message


def test_loader_options_reach_the_dataloader(tmp_path, monkeypatch):
    name = module(tmp_path, monkeypatch, "src_options", SOURCES)
    def collate(samples):
        return torch.utils.data.default_collate(samples)

    options = LoaderOptions(num_workers=2, pin_memory=False, persistent_workers=False, collate_fn=collate)
    data = build_data(f"{name}:dataset", {}, val_fraction=0.2, seed=0, options=options)
    loader, _ = data.train._loader(8, False)
    assert (loader.num_workers, loader.pin_memory, loader.persistent_workers) == (2, False, False)
    assert loader.collate_fn is collate
    default, _ = build_data(f"{name}:dataset", {}, val_fraction=0.2, seed=0,
                            options=LoaderOptions(num_workers=1)).train._loader(8, False)
    assert default.persistent_workers and not default.pin_memory  # workers kept between passes; CPU: no pinning


def test_persistent_workers_without_workers_is_refused(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("data: {name: digits, persistent_workers: true}\n")
    result = invoke("find-lr", config, "--out", tmp_path / "run")
    assert result.exit_code == 2
    assert "data.persistent_workers: needs num_workers > 0, got num_workers 0" in result.output


CLASSES_SOURCE = """
    import torch

    class Counted(torch.utils.data.Dataset):
        classes = ["a", "b", "c", "d", "e"]  # five classes; the samples only show three
        reads = 0

        def __len__(self):
            return 40

        def __getitem__(self, i):
            Counted.reads += 1
            return torch.full((4,), float(i)), i % 3

    def make():
        return Counted()
"""


def test_a_datasets_classes_attribute_is_used_also_when_lrtool_splits_it(tmp_path, monkeypatch):
    """The class count comes from `classes` (no pass over every item), through the train/val split."""
    name = module(tmp_path, monkeypatch, "src_counted", CLASSES_SOURCE)
    data = build_data(f"{name}:make", {}, val_fraction=0.25, seed=0, options=LoaderOptions())
    assert data.task == Task("multiclass", 5)
    assert sys.modules[name].Counted.reads <= 2  # the probe batch, not all 40 items


RAGGED_SOURCE = """
    import torch

    class Ragged(torch.utils.data.Dataset):
        def __len__(self):
            return 20

        def __getitem__(self, i):
            return torch.arange(1 + i % 4), i % 2  # token ids of different lengths

    def make():
        return Ragged()
"""


def test_samples_of_different_sizes_without_a_collate_fn_are_a_one_line_error(tmp_path, monkeypatch):
    name = module(tmp_path, monkeypatch, "src_ragged", RAGGED_SOURCE)
    cfg = write_base_config(tmp_path, "ragged.yaml", f"device: cpu\ndata: {{name: '{name}:make', batch_size: 4}}\n"
                            "model: {name: mlp}\n")
    res = invoke("find-lr", cfg, "--out", tmp_path / "run")
    assert res.exit_code == 2, res.output
    assert "data: the Dataset's samples cannot be collated into a batch" in res.output
    assert "data.collate_fn" in res.output and "Traceback" not in res.output


FAILING_SOURCE = """
    import torch

    class Shards(torch.utils.data.Dataset):
        targets = [i % 2 for i in range(40)]  # known up front: only the probe batches read items

        def __init__(self, where, bad_from=0):
            self.where, self.bad_from = where, bad_from
            if where == "init":
                raise RuntimeError("cannot open shard 3")

        def __len__(self):
            if self.where == "len":
                raise OSError("disk gone")
            return 40

        def __getitem__(self, i):
            if self.where == "getitem" and i >= self.bad_from:
                raise KeyError("pixels")
            return torch.full((4,), float(i)), i % 2

    def make(where="init", bad_from=0):
        return Shards(where, bad_from)

    def quits():
        raise SystemExit(3)
"""


@pytest.mark.parametrize("command", ["find-lr", "train"])
@pytest.mark.parametrize("overrides, message", [
    ([], "data.name: {name}:make raised RuntimeError: cannot open shard 3"),
    (["data.where=len"], "data.name: {name}:make raised OSError: disk gone while lrtool read its Dataset"),
    (["data.where=getitem"], "data.name: {name}:make raised KeyError: 'pixels' while lrtool read its Dataset"),
    # the first sample reads fine; the model's check batch (2 samples) reads the one that fails
    (["data.where=getitem", "data.bad_from=1"],
     "data.name: {name}:make raised KeyError: 'pixels' while lrtool read its Dataset"),
    (["data.name={name}:quits"],
     "data.name: {name}:quits called sys.exit(3); data code must not exit"),
])
def test_a_user_dataset_that_raises_during_setup_is_bad_input(tmp_path, monkeypatch, command, overrides, message):
    """Exit 2 with one line naming data.name and the callable, before any run directory exists."""
    name = module(tmp_path, monkeypatch, "src_failing", FAILING_SOURCE)
    cfg = write_base_config(tmp_path, "failing.yaml", f"device: cpu\ndata: {{name: '{name}:make', batch_size: 8}}\n"
                            "model: {name: mlp}\ntrain: {epochs: 1}\n")
    args = [a for o in overrides for a in ("--set", o.format(name=name))]
    res = invoke(command, cfg, "--out", tmp_path / "run", *args)
    assert res.exit_code == 2, res.output
    assert res.output.strip() == f"lrtool: error: {message.format(name=name)}"
    assert not (tmp_path / "run").exists()  # as for every other exit-2 setup error: no run was started


SHAPES_SOURCE = """
    import torch

    def mismatch():
        return torch.randn(100, 4), torch.randint(0, 2, (90,))

    def mismatch_split():
        return {"train": (torch.randn(30, 4), torch.zeros(30)), "val": (torch.randn(10, 4), torch.zeros(9))}

    def one():
        return (torch.utils.data.TensorDataset(torch.randn(10, 4), torch.randint(0, 2, (10,))),)

    def empty():
        return torch.zeros(0, 4), torch.zeros(0).long()

    class Nothing(torch.utils.data.Dataset):
        def __len__(self):
            return 0

        def __getitem__(self, i):
            raise IndexError(i)

    def nothing():
        return Nothing()
"""


def test_misshapen_returns_say_what_is_wrong(tmp_path, monkeypatch):
    name = module(tmp_path, monkeypatch, "src_shapes", SHAPES_SOURCE)

    def error(fn: str) -> str:
        with pytest.raises(LrtoolError) as e:
            build_data(f"{name}:{fn}", {}, val_fraction=0.2, seed=0)
        return str(e.value)

    assert error("mismatch") == ("data.name: src_shapes:mismatch returned x with 100 samples but y with 90; "
                                 "(x, y) need one target per sample")
    assert error("mismatch_split") == ("data.name: src_shapes:mismatch_split returned x with 10 samples but y with 9 "
                                       "for its 'val' split; (x, y) need one target per sample")
    for fn in ("empty", "nothing"):  # no samples: never a made-up result, nor lrtool's IndexError blamed on them
        for val_fraction in (0.0, 0.2):
            with pytest.raises(LrtoolError) as e:
                build_data(f"{name}:{fn}", {}, val_fraction=val_fraction, seed=0)
            assert str(e.value) == f"data.name: src_shapes:{fn} returned 0 training samples; expected at least 1"
    assert error("one") == ("data.name: src_shapes:one returned a tuple of 1 split; expected a torch Dataset, a "
                            "mapping or tuple of train/val[/test] Datasets, or arrays/tensors (x, y) (a single "
                            "Dataset or (x, y) is returned as it is, not in a tuple)")

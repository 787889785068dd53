"""One plan for train, preview and find-lr: preview's steps per epoch are train's, and find-lr
validates with data.eval_batch_size as train does."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from lrtool.cli import app
from lrtool.commands.find_lr import find_lr
from lrtool.commands.preview import preview
from lrtool.config import load_config
from lrtool.data import TensorSplit
from lrtool.run.build import build
from lrtool.run.plan import make_plan, make_schedule

runner = CliRunner()


def write_images(folder: Path, classes: dict[str, int]) -> None:
    """`classes[name]` small random PNGs in folder/<name>/."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, count in classes.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.fromarray(rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)).save(folder / name / f"{i}.png")


def count_rows(path: Path) -> int:
    with open(path, newline="") as f:
        return sum(1 for _ in csv.DictReader(f))


def config_file(tmp_path: Path, data: dict, accumulate: int, epochs: int = 2) -> Path:
    doc = {"seed": 3, "device": "cpu", "data": data, "model": {"name": "mlp", "hidden": [8]},
           "optimizer": {"name": "SGD", "lr": 0.05, "momentum": 0.9},
           "train": {"epochs": epochs, "accumulate": accumulate, "plots": False, "checkpoints": False}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


CASES = [  # (data section, accumulate)
    ({"name": "synthetic", "n_samples": 203, "n_features": 4, "batch_size": 16, "val_fraction": 0.3}, 1),
    ({"name": "synthetic", "n_samples": 203, "n_features": 4, "batch_size": 10, "val_fraction": 0.0}, 3),
    ({"name": "synthetic", "n_samples": 97, "n_features": 4, "batch_size": 7, "val_fraction": 0.15}, 4),
    ({"name": "digits", "batch_size": 64, "val_fraction": 0.2}, 1),
    ({"name": "digits", "batch_size": 50, "val_fraction": 0.33}, 2),
    ({"name": "imagefolder", "root": "{flat}", "image_size": 8, "batch_size": 4, "val_fraction": 0.25}, 1),
    ({"name": "imagefolder", "root": "{flat}", "image_size": 8, "batch_size": 3, "val_fraction": 0.1}, 2),
    ({"name": "imagefolder", "root": "{split}", "image_size": 8, "batch_size": 4, "val_fraction": 0.5}, 2),
]


@pytest.mark.parametrize("data,accumulate", CASES)
def test_preview_steps_per_epoch_are_trains(tmp_path, data, accumulate):
    write_images(tmp_path / "flat", {"a": 9, "b": 8})
    write_images(tmp_path / "split" / "train", {"a": 7, "b": 6})  # own val folder: val_fraction unused
    write_images(tmp_path / "split" / "val", {"a": 2, "b": 2})
    data = {k: v.format(flat=tmp_path / "flat", split=tmp_path / "split") if isinstance(v, str) else v
            for k, v in data.items()}
    path = config_file(tmp_path, data, accumulate)
    shown = preview(path, [], schedule="cosine", lr_from=None, out=tmp_path / "preview")
    setup = build(load_config(path))
    _schedule, plan = make_schedule(setup)  # what train runs against
    n_train = len(setup.data.train)
    expected = max(1, math.ceil(math.ceil(n_train / data["batch_size"]) / accumulate))
    assert shown.steps_per_epoch == plan.steps_per_epoch == expected
    assert shown.total_steps == plan.total_steps == 2 * expected
    assert len(shown.rows) == shown.total_steps


def test_preview_predicts_the_steps_train_takes(tmp_path):
    data = {"name": "synthetic", "n_samples": 131, "n_features": 4, "batch_size": 9, "val_fraction": 0.2}
    path = config_file(tmp_path, data, accumulate=2, epochs=1)
    res = runner.invoke(app, ["preview", str(path), "--out", str(tmp_path / "p")])
    assert res.exit_code == 0, res.output
    shown = count_rows(tmp_path / "p" / "schedule.csv")
    assert f"1 epoch x {shown} steps of batch 9" in res.output
    res = runner.invoke(app, ["train", str(path), "--out", str(tmp_path / "t")])
    assert res.exit_code == 0, res.output
    assert count_rows(tmp_path / "t" / "steps.csv") == shown == 6  # 105 samples


@pytest.mark.parametrize("optimizer", [
    {"name": "SGD", "lr": 0.1, "momentum": 0.9},
    {"name": "SGD", "lr": 0.1},
    {"name": "Adam", "lr": 0.003, "betas": [0.85, 0.99]},
    {"name": "AdamW", "lr": 0.003, "param_groups": [{"match": "bias", "lr": 0.001}]},
])
def test_plan_without_a_model_has_the_built_optimizers_lrs_and_momenta(tmp_path, optimizer):
    path = config_file(tmp_path, {"name": "synthetic", "n_samples": 64, "n_features": 4}, accumulate=1)
    cfg = load_config(path, [f"optimizer={yaml.safe_dump(optimizer, default_flow_style=True).strip()}"])
    setup = build(cfg)
    from_config = make_plan(cfg, setup.data.train)
    built = make_plan(cfg, setup.data.train, optimizer=setup.optimizer)
    assert from_config == built
    assert len(built.base_lrs) == len(setup.optimizer.param_groups)


@pytest.mark.parametrize("eval_batch_size,expected", [(7, 7), (None, 4 * 12)])
def test_find_lr_validates_with_the_eval_batch_size(tmp_path, monkeypatch, eval_batch_size, expected):
    data = {"name": "synthetic", "n_samples": 300, "n_features": 4, "batch_size": 12, "val_fraction": 0.3}
    if eval_batch_size is not None:
        data["eval_batch_size"] = eval_batch_size
    path = config_file(tmp_path, data, accumulate=1)
    seen = []
    real = TensorSplit.batches

    def recording(self, batch_size, *, shuffle, **kw):
        if not shuffle:  # evaluation passes
            seen.append(batch_size)
        return real(self, batch_size, shuffle=shuffle, **kw)

    monkeypatch.setattr(TensorSplit, "batches", recording)
    result = find_lr(path, ["find_lr.num_iter=6", "find_lr.val_every=2", "find_lr.end_lr=0.1"],
                     out=tmp_path / "run")
    assert result.summary["status"] == "completed"
    assert len(seen) == 4 and set(seen) == {expected}  # steps 0, 2, 4 and the last

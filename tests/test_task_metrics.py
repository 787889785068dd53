"""Runs follow the configured metrics and their directions: epochs.csv columns, monitor and best.pt,
find-lr's metric-vs-LR columns, compare's ranking, and one-line errors for a metric or loss that does
not fit the task."""

from __future__ import annotations

import math

import pytest
import torch

from lrtool import compare as C
from lrtool.rundir import columns as cols

from .conftest import invoke, rows, summary, write_base_config, write_run

REGRESSION = """\
seed: 0
device: cpu
data: {name: diabetes, batch_size: 32}
model: {name: mlp, hidden: [16]}
optimizer: {name: Adam, lr: 0.05}
loss: {name: MSELoss}
train: {epochs: 2, plots: true}
find_lr: {start_lr: 1.0e-5, end_lr: 10, num_iter: 20, val_every: 5}
"""


def test_regression_run_has_mae_rmse_and_no_accuracy(tmp_path):
    config = write_base_config(tmp_path, "reg.yaml", REGRESSION)
    res = invoke("train", config, "--out", tmp_path / "run")
    assert res.exit_code == 0, res.output
    header = (tmp_path / "run" / "epochs.csv").read_text().splitlines()[0].split(",")
    assert header == ["epoch", "step", "lr", "train_loss", "train_mae", "train_rmse", "val_loss", "val_mae",
                      "val_rmse", "time_s"]
    assert not any("acc" in c for c in header)
    s = summary(tmp_path / "run")
    assert s["task"] == "regression" and s["metrics"] == ["mae", "rmse"] and s["monitor"] == "val_mae"
    last = rows(tmp_path / "run" / "epochs.csv")[-1]
    # rmse >= mae always; both in the units of the target (diabetes progression, tens to hundreds)
    assert float(last["val_rmse"]) >= float(last["val_mae"]) > 1.0
    assert float(last["val_loss"]) == pytest.approx(float(last["val_rmse"]) ** 2, rel=0.05)
    assert set(s["best"]) >= {"val_mae", "val_rmse", "val_loss", "train_loss"}
    assert (tmp_path / "run" / "metrics.png").exists() and (tmp_path / "run" / "checkpoints" / "best.pt").exists()
    # find-lr measures val_loss and the first metric (metric-vs-LR)
    res = invoke("find-lr", config, "--out", tmp_path / "find")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "find" / "lr_find.csv").read_text().splitlines()[0] == \
        "step,lr,loss,smoothed_loss,val_loss,val_mae"


def test_configured_metrics_become_columns(tmp_path):
    config = write_base_config(tmp_path)
    res = invoke("train", config, "--out", tmp_path / "a", "--set", "train.metrics=[accuracy, f1, top2]",
                 "--set", "train.monitor=val_f1")
    assert res.exit_code == 0, res.output
    header = (tmp_path / "a" / "epochs.csv").read_text().splitlines()[0]
    assert header == ("epoch,step,lr,train_loss,train_acc,train_f1,train_top2,val_loss,val_acc,val_f1,val_top2,"
                      "time_s")
    assert summary(tmp_path / "a")["monitor"] == "val_f1"
    last = rows(tmp_path / "a" / "epochs.csv")[-1]
    assert float(last["val_top2"]) >= float(last["val_acc"])  # the true class among the top 2 at least as often
    res = invoke("train", config, "--out", tmp_path / "b", "--set", "train.metrics=[]")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "b" / "epochs.csv").read_text().splitlines()[0] == \
        "epoch,step,lr,train_loss,val_loss,time_s"
    assert summary(tmp_path / "b")["monitor"] == "val_loss"


@pytest.mark.parametrize("overrides, message", [
    (["train.metrics=[accuracy, mae]"],
     "train.metrics[1]: 'mae' does not fit a multiclass task; valid for multiclass: accuracy, f1, precision, "
     "recall, top<k>"),
    (["train.metrics=[acuracy]"], "train.metrics[0]: unknown metric 'acuracy' (did you mean 'accuracy'?)"),
    (["train.monitor=val_f1"], None),  # the default metrics (accuracy) do not measure f1: known once built
    (["train.metrics=[accuracy]", "train.monitor=val_f1"],
     "train.monitor: expected one of the measured metrics (train_loss, train_acc, val_loss, val_acc), "
     "got 'val_f1'"),
    (["loss.name=MSELoss"], "loss: MSELoss compares the output (3,) per sample elementwise with float targets of "
                            "the same shape, got int64 targets of shape () per sample"),
    (["schedule={name: plateau, monitor: val_mae}"],
     "schedule.monitor: expected one of the measured metrics (train_loss, train_acc, val_loss, val_acc), "
     "got 'val_mae'"),
])
def test_metric_or_loss_that_does_not_fit_is_one_line_exit_2(tmp_path, overrides, message):
    config = write_base_config(tmp_path)
    args = [a for o in overrides for a in ("--set", o)]
    res = invoke("train", config, "--out", tmp_path / "run", *args)
    assert res.exit_code == 2, res.output
    line = res.output.strip().replace("\n", " ")
    assert line.count("lrtool: error: ") == 1
    if message is None:
        message = "train.monitor: expected one of the measured metrics"
    assert message in line
    assert not (tmp_path / "run" / "epochs.csv").exists()  # before training


def test_a_val_monitor_without_a_validation_split_is_refused_only_when_set(tmp_path):
    """train.monitor: val_acc with data.val_fraction 0 would silently pick best.pt by train_loss: exit 2
    in train; left unset, train_loss is the default; find-lr picks no best.pt and runs."""
    config = write_base_config(tmp_path)
    no_val = ("--set", "data.val_fraction=0")
    res = invoke("train", config, "--out", tmp_path / "set", *no_val, "--set", "train.monitor=val_acc")
    assert res.exit_code == 2, res.output
    assert res.output.strip().replace("\n", " ") == (
        "lrtool: error: train.monitor: val_acc needs a validation split, which this run does not have "
        "(data.val_fraction is 0.0); set data.val_fraction > 0, monitor a train_ column, or leave train.monitor "
        "unset (then train_loss picks best.pt)")
    assert not (tmp_path / "set").exists()
    res = invoke("train", config, "--out", tmp_path / "unset", *no_val)
    assert res.exit_code == 0, res.output
    assert summary(tmp_path / "unset")["monitor"] == "train_loss"
    res = invoke("find-lr", config, "--out", tmp_path / "find", *no_val, "--set", "train.monitor=val_acc")
    assert res.exit_code == 0, res.output


SOFT_SOURCE = """\
import torch

class Soft(torch.utils.data.Dataset):
    classes = ["a", "b", "c"]  # torchvision's convention; the targets are probabilities over these

    def __init__(self, n=96):
        g = torch.Generator().manual_seed(0)
        self.y = torch.arange(n) % 3
        self.x = torch.randn(3, 8, generator=g)[self.y] + torch.randn(n, 8, generator=g)
        self.p = torch.nn.functional.one_hot(self.y, 3).float() * 0.9 + 0.1 / 3  # label smoothing 0.1

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.p[i]

def pairs():
    d = Soft()
    return d.x, d.p

def dataset():
    return Soft()
"""


@pytest.mark.parametrize("source", ["pairs", "dataset"])
def test_class_probability_targets_train_with_cross_entropy_and_accuracy(tmp_path, source):
    """Soft targets (N, C) for CrossEntropyLoss: accepted, a multiclass run whose accuracy scores the
    most probable class of each target."""
    from lrtool.metrics import MetricSet

    (tmp_path / "soft_src.py").write_text(SOFT_SOURCE)
    config = write_base_config(tmp_path, "soft.yaml", f"seed: 0\ndevice: cpu\ndata: {{name: 'soft_src:{source}', "
                               "batch_size: 16}\nmodel: {name: mlp, hidden: [16]}\nloss: {name: CrossEntropyLoss}\n"
                               "train: {epochs: 2, plots: false, metrics: [accuracy, f1]}\n")
    res = invoke("train", config, "--out", tmp_path / "run")
    assert res.exit_code == 0, res.output
    s = summary(tmp_path / "run")
    assert (s["task"], s["monitor"]) == ("multiclass", "val_acc")
    assert 0 <= float(rows(tmp_path / "run" / "epochs.csv")[-1]["val_acc"]) <= 1
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3], [0.5, 0.25, 0.25]])
    logits = torch.tensor([[2.0, 0, 0], [0, 0, 1.0], [1.0, 0, 0], [1.0, 0, 0]])  # argmax 0, 2, 0, 0
    metric = MetricSet(["accuracy"], "multiclass", 3)
    metric.update(logits, probs)  # the targets' most probable classes: 0, 2, 1, 0
    assert metric.compute()["acc"] == pytest.approx(0.75)


def _regression_run(root, name, val_mae, val_loss, monitor):
    """A regression train run whose epochs have the given val_mae and val_loss."""
    columns = cols.epoch_columns(("mae", "rmse"))
    epochs = [{"epoch": k, "step": 10 * k, "lr": 0.1, "train_loss": loss, "train_mae": mae, "train_rmse": mae,
               "val_loss": loss, "val_mae": mae, "val_rmse": math.sqrt(loss), "time_s": float(k)}
              for k, (mae, loss) in enumerate(zip(val_mae, val_loss), start=1)]
    s = {"status": "completed", "command": "train", "schedule": "constant", "epochs": len(epochs),
         "progress": {"epoch": len(epochs), "step": 10 * len(epochs)}, "task": "regression",
         "metrics": ["mae", "rmse"], "monitor": monitor}
    config = f"seed: 0\nloss: {{name: MSELoss}}\ntrain: {{monitor: {monitor}}}\nschedule: {{name: {name}}}\n"
    return write_run(root / name, summary=s, config=config, csvs={"epochs.csv": (columns, epochs)}).path


def test_compare_ranks_by_the_runs_monitor_and_its_direction(tmp_path):
    # by val_loss "low-loss" wins; by val_mae "low-mae" would
    a = _regression_run(tmp_path, "low-mae", [5.0, 3.0], [40.0, 30.0], "val_loss")
    b = _regression_run(tmp_path, "low-loss", [6.0, 4.0], [30.0, 20.0], "val_loss")
    cmp = C.build_comparison(C.load_runs([str(a), str(b)])[0])
    assert cmp.metric == "val_loss"
    assert list(cmp.table["run"]) == ["low-loss", "low-mae"]
    assert "acc" not in " ".join(cmp.table.columns)
    assert C.verdict(cmp)[0] == "best by best val_loss: low-loss (20), 10 below low-mae"
    by_mae = C.build_comparison(C.load_runs([str(a), str(b)])[0], metric="val_mae")
    assert list(by_mae.table["run"]) == ["low-mae", "low-loss"]  # lower mae is better
    assert by_mae.table.set_index("run")["best_val_mae"]["low-mae"] == 3.0
    target = C.parse_target("val_mae=5.0")
    hit = C.build_comparison(C.load_runs([str(a), str(b)])[0], target=target).table.set_index("run")
    assert hit["target_step"]["low-mae"] == 10 and hit["target_step"]["low-loss"] == 20  # <= for an error


def test_compare_cli_target_and_metric_are_checked_against_the_runs(tmp_path):
    a = _regression_run(tmp_path, "r1", [5.0, 3.0], [40.0, 30.0], "val_mae")
    res = invoke("compare", a, "--out", tmp_path / "c", "--target", "val_acc=0.9")
    assert res.exit_code == 2
    assert "--target metric: expected one of (val_mae, val_rmse, val_loss, train_loss, train_mae, train_rmse)" \
        in res.output.replace("\n", " ")
    res = invoke("compare", a, "--out", tmp_path / "d", "--format", "csv")
    assert res.exit_code == 0, res.output
    assert "best_val_mae" in res.output and "val_acc" not in res.output
    assert (tmp_path / "d" / "val_mae.png").exists() and not (tmp_path / "d" / "val_acc.png").exists()

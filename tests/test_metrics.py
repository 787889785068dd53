"""Metrics by name through torchmetrics: names, task fit, directions, values equal to torchmetrics called
directly, and the first-batch check."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torchmetrics.functional as TF

from lrtool import metrics as M
from lrtool.rundir import higher_is_better

from .conftest import error


@pytest.mark.parametrize("name, task, n", [
    ("accuracy", "multiclass", 10), ("f1", "multiclass", 10), ("precision", "multilabel", 4),
    ("recall", "multiclass", 3), ("exact_match", "multilabel", 4), ("top5", "multiclass", 10),
    ("mae", "regression", 1), ("mse", "regression", 1), ("rmse", "regression", 2), ("r2", "regression", 1)])
def test_direction_table_agrees_with_torchmetrics(name, task, n):
    """The torch-free table that rundir and compare rank by says what torchmetrics' higher_is_better says."""
    metric = M.build_metric(name, task, n)
    column = M.column(name)
    assert higher_is_better(f"val_{column}") is metric.higher_is_better
    assert higher_is_better(f"train_{column}") is metric.higher_is_better


def test_directions_of_losses_and_names():
    assert not higher_is_better("val_loss") and not higher_is_better("smoothed_loss")
    assert higher_is_better("val_acc") and higher_is_better("test_acc") and higher_is_better("val_top5")
    assert not higher_is_better("val_mae") and not higher_is_better("train_rmse") and higher_is_better("val_r2")


def test_rundir_stays_free_of_torch():
    code = ("import sys, lrtool.rundir, lrtool.compare, lrtool.metrics; "
            "print('torch' in sys.modules, 'torchmetrics' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_defaults_by_task_and_names():
    assert M.resolve(None, "multiclass", 10) == ["accuracy"]
    assert M.resolve(None, "multilabel", 5) == ["accuracy"]
    assert M.resolve(None, "regression", 1) == ["mae", "rmse"]
    assert M.resolve([], "regression", 1) == []
    assert M.resolve(["acc", "F1", "top5", "top1"][:3], "multiclass", 10) == ["accuracy", "f1", "top5"]
    assert [M.column(n) for n in M.resolve(["accuracy", "top5"], "multiclass", 10)] == ["acc", "top5"]
    assert M.epoch_metrics(["mae", "rmse"]) == ["train_loss", "train_mae", "train_rmse", "val_loss", "val_mae",
                                                "val_rmse"]
    assert M.default_monitor(["mae", "rmse"], True) == "val_mae"
    assert M.default_monitor([], True) == "val_loss"
    assert M.default_monitor(["accuracy"], False) == "train_loss"


def test_metric_that_does_not_fit_the_task():
    assert error(M.resolve, ["accuracy", "mae"], "multiclass", 10) == (
        "train.metrics[1]: 'mae' does not fit a multiclass task; valid for multiclass: accuracy, f1, precision, "
        "recall, top<k>")
    assert error(M.resolve, ["accuracy"], "regression", 1) == (
        "train.metrics[0]: 'accuracy' does not fit a regression task; valid for regression: mae, mse, rmse, r2")
    assert error(M.resolve, ["top5"], "multiclass", 3) == (
        "train.metrics[0]: 'top5' needs at least 5 classes, the data has 3")
    assert error(M.resolve, ["acuracy"], "multiclass", 3).startswith(
        "train.metrics[0]: unknown metric 'acuracy' (did you mean 'accuracy'?); valid choices: accuracy, f1")
    assert error(M.check_monitor, "val_f1", ["accuracy"], True) == (
        "train.monitor: expected one of the measured metrics (train_loss, train_acc, val_loss, val_acc), "
        "got 'val_f1' (did you mean 'val_acc'?)")


def test_multilabel_metrics_equal_torchmetrics_called_directly():
    torch.manual_seed(0)
    logits = torch.randn(64, 3)
    target = (torch.rand(64, 3) > 0.6).float()
    ms = M.MetricSet(["accuracy", "f1", "exact_match"], "multilabel", 3)
    for lo in range(0, 64, 16):  # accumulated over batches
        ms.update(logits[lo:lo + 16], target[lo:lo + 16])
    got = ms.compute()
    probs, t = torch.sigmoid(logits), target.long()
    assert got["acc"] == pytest.approx(float(TF.classification.multilabel_accuracy(
        probs, t, num_labels=3, threshold=0.5, average="micro")))
    assert got["f1"] == pytest.approx(float(TF.classification.multilabel_f1_score(probs, t, num_labels=3)))
    assert got["exact_match"] == pytest.approx(float(TF.classification.multilabel_exact_match(probs, t, num_labels=3)))
    # by hand: the fraction of labels right at threshold 0.5
    assert got["acc"] == pytest.approx(float(((logits > 0).float() == target).float().mean()))


def test_multiclass_and_regression_values():
    torch.manual_seed(1)
    logits, classes = torch.randn(50, 10), torch.randint(0, 10, (50,))
    ms = M.MetricSet(["accuracy", "top5"], "multiclass", 10)
    ms.update(logits, classes)
    got = ms.compute()
    assert got["acc"] == pytest.approx(float((logits.argmax(1) == classes).float().mean()))
    top5 = (logits.topk(5, dim=1).indices == classes[:, None]).any(1).float().mean()
    assert got["top5"] == pytest.approx(float(top5))
    pred, y = torch.randn(40, 1), torch.randn(40, 1)
    reg = M.MetricSet(["mae", "rmse", "r2"], "regression", 1)
    reg.update(pred[:20], y[:20])
    reg.update(pred[20:], y[20:])
    got = reg.compute()
    assert got["mae"] == pytest.approx(float((pred - y).abs().mean()), rel=1e-5)
    assert got["rmse"] == pytest.approx(float(((pred - y) ** 2).mean().sqrt()), rel=1e-5)
    assert got["r2"] == pytest.approx(float(TF.r2_score(pred, y)), rel=1e-5)
    reg.reset()
    assert all(v != v for v in reg.compute().values())  # nothing added: NaN, not an exception


def test_checkpointed_state_round_trip():
    logits, classes = torch.randn(30, 4), torch.randint(0, 4, (30,))
    a = M.MetricSet(["accuracy", "f1"], "multiclass", 4)
    a.update(logits[:15], classes[:15])
    b = M.MetricSet(["accuracy", "f1"], "multiclass", 4)
    b.load_state(a.state())
    a.update(logits[15:], classes[15:])
    b.update(logits[15:], classes[15:])
    assert a.compute() == b.compute()


def test_first_batch_targets_that_do_not_fit_the_metrics():
    logits = torch.randn(8, 3)
    multi_hot = (torch.rand(8, 3) > 0.5).float()
    assert error(M.check_batch, ["accuracy"], "multiclass", 3, logits, multi_hot) == (
        "train.metrics: accuracy for single-label classes needs one integer class index per sample, got "
        "torch.float32 targets of shape (3,) per sample; multi-hot targets need data.task: multilabel")
    assert error(M.check_batch, ["mae"], "regression", 1, logits[:, :1], torch.randn(8)) == (
        "train.metrics: mae for a regression task needs targets shaped like the model output (1,) per sample, "
        "got torch.float32 targets of shape () per sample")
    M.check_batch(["accuracy", "f1"], "multilabel", 3, logits, multi_hot)
    M.check_batch(["accuracy"], "multiclass", 3, logits, torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]))
    assert error(M.check_batch, ["accuracy"], "multiclass", 3, logits, torch.tensor([0, 1, 2, 0, 1, 2, 0, 7])) == (
        "train.metrics: accuracy needs class indices in 0..2, got 7")
    assert "f1 does not fit the first batch" in error(
        M.check_batch, ["f1"], "multilabel", 3, logits, torch.full((8, 3), 2.0))


def test_column_form_for_monitors():
    assert M.check_column_form("val_mae", "schedule.monitor") == "val_mae"
    assert M.check_column_form("train_loss", "schedule.monitor") == "train_loss"
    assert error(M.check_column_form, "val_accuracy", "schedule.monitor").startswith(
        "schedule.monitor: expected train_<metric> or val_<metric> with <metric> loss or a metric's column (loss, "
        "acc, f1, ")

"""The public Python API on user-built models, optimizers and DataLoaders (no config)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler, TensorDataset
from typer.testing import CliRunner

import lrtool
from lrtool.cli import app

from .conftest import invoke, write_base_config

ROOT = Path(__file__).resolve().parents[1]


def blobs(n: int = 256, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randn(3, 8, generator=g)[y] + torch.randn(n, 8, generator=g)
    return TensorDataset(x, y)


def mlp(dropout: float = 0.0) -> nn.Module:
    layers = [nn.Flatten(), nn.Linear(8, 16), nn.ReLU()] + ([nn.Dropout(dropout)] if dropout else [])
    return nn.Sequential(*layers, nn.Linear(16, 3))


def params(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.state_dict().values()]


QUICK = dict(start_lr=1e-4, end_lr=10.0, num_iter=30, progress=False)


# --------------------------------------------------------------------------- import and errors


def test_import_lrtool_loads_no_heavy_package():
    code = ("import sys, lrtool; assert lrtool.__version__; "
            "heavy = [m for m in ('torch', 'pandas', 'matplotlib') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_public_names_and_the_callable_compare_package():
    for name in ("find_lr", "RangeTest", "scheduler", "preview", "compare", "load_config", "train",
                 "LrtoolError", "LrtoolScheduler"):
        assert name in dir(lrtool) and getattr(lrtool, name) is not None
    from lrtool import compare as package

    assert callable(lrtool.compare) and package is lrtool.compare and package.load_run  # still the package
    with pytest.raises(AttributeError):
        lrtool.no_such_name  # noqa: B018


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_iter=1), "find_lr(): find_lr.num_iter: expected a value greater than or equal to 2, got 1"),
    (dict(mode="expo"), "find_lr(): find_lr.mode: expected 'exp' or 'linear', got 'expo'"),
    (dict(start_lr=1.0, end_lr=0.1), "find_lr(): find_lr.end_lr: must be greater than start_lr (1), got 0.1"),
    (dict(precision="fp8"), "find_lr(): train.precision: expected 'fp32', 'bf16' or 'fp16', got 'fp8'"),
])
def test_bad_arguments_raise_the_cli_one_line_message(kwargs, message):
    model = mlp()
    with pytest.raises(lrtool.LrtoolError) as e:
        lrtool.find_lr(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(),
                       DataLoader(blobs(), batch_size=32), **{**QUICK, **kwargs})
    assert str(e.value) == message


def test_an_optimizer_of_another_model_is_refused():
    # the notebook mistake: the old model's optimizer with a new model swept nothing and made up a suggestion
    old, new = mlp(), mlp()
    loader = DataLoader(blobs(), batch_size=32)
    with pytest.raises(lrtool.LrtoolError) as e:
        lrtool.find_lr(new, torch.optim.SGD(old.parameters(), lr=0.1), nn.CrossEntropyLoss(), loader, **QUICK)
    assert str(e.value) == ("find_lr: optimizer: holds none of the model's parameters (one made for another "
                            "model?); create it from this model: SGD(model.parameters(), ...)")
    # one that holds part of them (a head being fine-tuned) sweeps that part
    head = new[-1]
    before = params(new)
    r = lrtool.find_lr(new, torch.optim.SGD(head.parameters(), lr=0.1), nn.CrossEntropyLoss(), loader, **QUICK)
    assert r.lr is not None and all(torch.equal(a, b) for a, b in zip(before, params(new)))


def test_bad_loaders_and_batches_are_named():
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(lrtool.LrtoolError, match=r"^find_lr: train_loader: .*an iterator ends after one pass"):
        lrtool.find_lr(model, opt, nn.CrossEntropyLoss(), iter(DataLoader(blobs())), **QUICK)
    with pytest.raises(lrtool.RunFailed, match=r"train_loader: a dict batch needs a target under one of "
                                                r"\(target, targets, label, labels, y\), got keys \(a, b\)"):
        lrtool.find_lr(model, opt, nn.CrossEntropyLoss(), [{"a": 1, "b": 2}], **QUICK)


def test_a_loss_that_does_not_fit_the_targets_is_the_cli_one_line_message():
    """The CLI's loss/target check, run by find_lr too: MSELoss on class indices is refused before the sweep,
    with the CLI's wording, and the model is left untouched."""
    model = mlp()
    before = params(model)
    with pytest.raises(lrtool.LrtoolError) as e:
        lrtool.find_lr(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.MSELoss(),
                       DataLoader(blobs(), batch_size=32), **QUICK)
    assert type(e.value) is lrtool.LrtoolError
    assert str(e.value) == ("find_lr: criterion: MSELoss compares the output (3,) per sample elementwise with float "
                            "targets of the same shape, got int64 targets of shape () per sample; class indices "
                            "need CrossEntropyLoss (or mse_one_hot)")
    assert all(torch.equal(a, b) for a, b in zip(before, params(model)))


# --------------------------------------------------------------------------- same answers as the CLI


class Perm(Sampler):
    """The CLI's order: one torch.randperm of the data per pass from a seeded generator."""

    def __init__(self, n: int, seed: int):
        self.n, self.g = n, torch.Generator().manual_seed(seed)

    def __iter__(self):
        return iter(torch.randperm(self.n, generator=self.g).tolist())

    def __len__(self) -> int:
        return self.n


def test_suggestions_equal_the_cli_on_the_same_data_and_seed(tmp_path):
    cfg = tmp_path / "synth.yaml"
    cfg.write_text("seed: 3\ndevice: cpu\n"
                   "data: {name: synthetic, n_samples: 256, n_features: 8, n_classes: 3, batch_size: 32}\n"
                   "model: {name: mlp, hidden: [16]}\noptimizer: {name: SGD, lr: 0.01, momentum: 0.9}\n"
                   "find_lr: {start_lr: 1.0e-4, end_lr: 100, num_iter: 60, smooth: 0.9}\n")
    res = CliRunner().invoke(app, ["find-lr", str(cfg), "--out", str(tmp_path / "cli")])
    assert res.exit_code == 0, res.output
    cli = json.loads((tmp_path / "cli" / "summary.json").read_text())

    from lrtool.data import build_data

    data = build_data("synthetic", {"n_samples": 256, "n_features": 8, "n_classes": 3}, val_fraction=0.2,
                      seed=3, device=torch.device("cpu"))
    dataset = TensorDataset(data.train.x, data.train.y)
    loader = DataLoader(dataset, batch_size=32, sampler=Perm(len(dataset), seed=3), drop_last=True)
    torch.manual_seed(3)  # the CLI's model weights depend on the seed alone
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    result = lrtool.find_lr(model, opt, nn.CrossEntropyLoss(), loader, start_lr=1e-4, end_lr=100, num_iter=60,
                            smooth=0.9, progress=False)
    assert result.summary.model_dump(exclude_none=True)["suggestions"] == cli["suggestions"]
    assert (result.lr, result.clr.base_lr, result.clr.max_lr, result.onecycle.max_lr) == \
        (cli["lr"], cli["clr"]["base_lr"], cli["clr"]["max_lr"], cli["onecycle"]["max_lr"])
    assert result.stop.reason == cli["stop"]["reason"] and result.stop.steps_run == cli["stop"]["steps_run"]
    assert result.suggestions["valley"].lr == cli["suggestions"]["valley"]["lr"]


# --------------------------------------------------------------------------- state restore


class Noisy(Dataset):
    """Draws from numpy and python RNGs per item, as augmentation does."""

    def __init__(self, base: TensorDataset):
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        x, y = self.base[i]
        return x + 0.01 * float(np.random.randn()) + 0.01 * random.random(), y


def _train(model, opt, loader, epochs: int = 2) -> None:
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()


@pytest.mark.parametrize("loader_kind", ["shuffle", "generator", "numpy_python_rng", "persistent_workers"])
def test_training_after_find_lr_is_bit_identical(loader_kind):
    def setup():
        torch.manual_seed(0)
        np.random.seed(0)
        random.seed(0)
        data = blobs(192)
        if loader_kind == "generator":
            loader = DataLoader(data, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(1))
        elif loader_kind == "numpy_python_rng":
            loader = DataLoader(Noisy(data), batch_size=32, shuffle=True)
        elif loader_kind == "persistent_workers":  # the workers' seeds come from the loader's first iterator
            loader = DataLoader(Noisy(data), batch_size=32, shuffle=True, num_workers=1, persistent_workers=True)
        else:
            loader = DataLoader(data, batch_size=32, shuffle=True)
        model = mlp(dropout=0.3)
        return model, torch.optim.Adam(model.parameters(), lr=1e-3), loader

    model, opt, loader = setup()
    _train(model, opt, loader)
    without = params(model)

    model, opt, loader = setup()
    before = params(model)
    result = lrtool.find_lr(model, opt, nn.CrossEntropyLoss(), loader, val_loader=loader, val_every=5, **QUICK)
    assert result.stop.steps_run > 10
    assert all(torch.equal(a, b) for a, b in zip(before, params(model)))
    assert opt.state_dict()["state"] == {} and "initial_lr" not in opt.param_groups[0]
    _train(model, opt, loader)
    assert all(torch.equal(a, b) for a, b in zip(without, params(model)))


def test_find_lr_measures_the_tasks_metric_next_to_val_loss():
    """With a val_loader the sweep measures the task's default metric (accuracy here) as the CLI does."""
    val = DataLoader(blobs(96, seed=1), batch_size=32)
    result = _sweep(val_loader=val, val_every=5)
    measured = result.curve.dropna(subset=["val_loss"])
    assert len(measured) >= 5
    assert measured["val_acc"].notna().all() and measured["val_acc"].between(0, 1).all()
    assert measured["val_acc"].max() > measured["val_acc"].iloc[0]  # it learns as the LR rises


def test_class_probability_targets_measure_accuracy_as_the_cli_does():
    """Soft targets for CrossEntropyLoss: the fit check passes, and val_acc scores their most probable class."""
    def soft(d: TensorDataset) -> TensorDataset:
        x, y = d.tensors
        return TensorDataset(x, nn.functional.one_hot(y, 3).float() * 0.9 + 0.1 / 3)

    model = mlp()
    result = lrtool.find_lr(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(),
                            DataLoader(soft(blobs()), batch_size=32),
                            val_loader=DataLoader(soft(blobs(96, seed=1)), batch_size=32), val_every=5, **QUICK)
    measured = result.curve.dropna(subset=["val_loss"])
    assert measured["val_acc"].notna().all() and measured["val_acc"].between(0, 1).all()


class Boom(Exception):
    pass


@pytest.mark.parametrize("raise_", [Boom, KeyboardInterrupt])
def test_state_is_restored_however_the_sweep_ends(raise_):
    torch.manual_seed(0)
    model = mlp(dropout=0.2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    _train(model, opt, DataLoader(blobs(64), batch_size=32), epochs=1)  # optimizer state to restore
    g = torch.Generator().manual_seed(5)
    loader = DataLoader(blobs(), batch_size=32, shuffle=True, generator=g)
    calls = {"n": 0}

    def criterion(out, y):
        calls["n"] += 1
        if calls["n"] == 8:  # the 7th step: call 1 is the check of the loss on the first batch
            raise raise_("stop here")
        return nn.functional.cross_entropy(out, y)

    weights, optim_state = params(model), str(opt.state_dict())
    rngs = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate(), g.get_state())
    model.eval()
    if raise_ is Boom:
        with pytest.raises(lrtool.RunFailed, match=r"^range test failed: Boom: stop here$") as e:
            lrtool.find_lr(model, opt, criterion, loader, **QUICK)
        assert isinstance(e.value.__cause__, Boom)
    else:
        result = lrtool.find_lr(model, opt, criterion, loader, **QUICK)
        assert result.stop.reason == "interrupted" and len(result.curve) == 6
    assert all(torch.equal(a, b) for a, b in zip(weights, params(model)))
    assert str(opt.state_dict()) == optim_state and not model.training
    assert torch.equal(rngs[0], torch.get_rng_state()) and (rngs[1] == np.random.get_state()[1]).all()
    assert rngs[2] == random.getstate() and torch.equal(rngs[3], g.get_state())


# --------------------------------------------------------------------------- vs torch-lr-finder


def test_raw_losses_equal_torch_lr_finder_on_the_same_model_loader_and_seed():
    from torch_lr_finder import LRFinder

    def setup():
        torch.manual_seed(0)
        model = mlp(dropout=0.2)
        return model, torch.optim.SGD(model.parameters(), lr=1e-4), DataLoader(blobs(), batch_size=32, shuffle=True)

    model, opt, loader = setup()
    finder = LRFinder(model, opt, nn.CrossEntropyLoss(), device="cpu")
    # smooth_f=0: its history then holds the raw loss (with smoothing it is an EMA without bias correction)
    finder.range_test(loader, start_lr=1e-4, end_lr=10, num_iter=40, step_mode="exp", smooth_f=0, diverge_th=1e9)
    theirs = finder.history

    model, opt, loader = setup()
    curve = lrtool.find_lr(model, opt, nn.CrossEntropyLoss(), loader, start_lr=1e-4, end_lr=10, num_iter=40,
                           diverge_threshold=1e9, progress=False).curve
    assert curve["loss"].tolist() == theirs["loss"]
    assert curve["lr"].tolist() == pytest.approx(theirs["lr"], rel=1e-12)

    # its smoothing: smooth_f = 1 - beta, seeded with the first loss, no bias correction
    model, opt, loader = setup()
    finder = LRFinder(model, opt, nn.CrossEntropyLoss(), device="cpu")
    finder.range_test(loader, start_lr=1e-4, end_lr=10, num_iter=40, step_mode="exp", smooth_f=0.05, diverge_th=1e9)
    ema = [curve["loss"][0]]
    for loss in curve["loss"][1:]:
        ema.append(0.05 * loss + 0.95 * ema[-1])
    assert finder.history["loss"] == pytest.approx(ema, rel=1e-12)


# --------------------------------------------------------------------------- other batch shapes and tasks


class KwModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = mlp()

    def forward(self, features, mask):
        return self.net(features * mask)


def test_dict_batches_go_to_model_kwargs_and_regression_works():
    data = blobs(128)
    batches = [{"features": data.tensors[0][i:i + 32], "mask": torch.ones(32, 8), "labels": data.tensors[1][i:i + 32]}
               for i in range(0, 128, 32)]
    model = KwModel()
    result = lrtool.find_lr(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), batches,
                            val_loader=batches, val_every=10, **QUICK)
    assert result.stop.steps_run > 10 and result.curve["val_loss"].notna().sum() >= 2

    reg = nn.Linear(8, 1)
    xs = data.tensors[0]
    loader = DataLoader(TensorDataset(xs, xs.sum(1, keepdim=True)), batch_size=32)
    result = lrtool.find_lr(reg, torch.optim.SGD(reg.parameters(), lr=0.1), nn.MSELoss(), loader,
                            val_loader=loader, val_every=10, **QUICK)
    assert result.curve["val_loss"].notna().any() and "val_acc" not in result.curve.columns
    assert result.curve["val_mae"].notna().any()  # the regression's metric
    assert len(result.plot().axes) == 2  # loss and val_mae panels


# --------------------------------------------------------------------------- files


def _sweep(out=None, **kw):
    torch.manual_seed(0)
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return lrtool.find_lr(model, opt, nn.CrossEntropyLoss(), DataLoader(blobs(), batch_size=32, shuffle=True),
                          start_lr=1e-4, end_lr=100, num_iter=60, smooth=0.9, out=out, **kw)


def test_nothing_is_written_without_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _sweep(progress=True)
    assert result.path is None and result.lr is not None
    result.plot()
    assert "optimizer:\n  lr:" in result.to_yaml() and "RangeTest(lr=" in repr(result)
    assert list(tmp_path.iterdir()) == []


def test_out_writes_the_find_lr_run_directory_that_train_and_compare_read(tmp_path):
    out = tmp_path / "run"
    result = _sweep(out=out, progress=False)
    assert result.path == out
    assert {p.name for p in out.iterdir()} == {"config.yaml", "summary.json", "lr_find.csv", "lr_find.png"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["command"] == "find-lr" and summary["status"] == "completed" and summary["seed"] is None
    assert summary["suggestions"] == result.summary.model_dump(exclude_none=True)["suggestions"]
    assert summary["sweep"]["batch_size"] == 32 and summary["source"] == "python"
    assert (out / "lr_find.csv").read_text().splitlines()[0] == "step,lr,loss,smoothed_loss"

    taken: dict = {}
    from lrtool.config import load_config

    cfg = load_config(None, ["schedule.name=onecycle"], lr_from=out, taken=taken)
    assert cfg.optimizer.kwargs["lr"] == pytest.approx(result.lr)
    assert taken["schedule.max_lr"] == pytest.approx(result.onecycle.max_lr)
    table = lrtool.compare([str(out)])
    assert table.loc[0, "command"] == "find-lr" and table.loc[0, "valley_lr"] == pytest.approx(
        result.suggestions["valley"].lr)
    res = CliRunner().invoke(app, ["compare", str(out), "--out", str(tmp_path / "cmp")])
    assert res.exit_code == 0, res.output
    with pytest.raises(lrtool.LrtoolError, match="already exists and is not empty"):
        _sweep(out=out, progress=False)


def test_the_example_script_runs(tmp_path, monkeypatch, capsys):
    import runpy

    # in this process, which has torch imported already: the script itself takes a few seconds
    monkeypatch.setattr(sys, "argv", ["python_api.py", str(tmp_path / "lr_find.png")])
    runpy.run_path(str(ROOT / "examples" / "python_api.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "suggested lr" in out and out.count("val_acc") == 5 and (tmp_path / "lr_find.png").stat().st_size > 0


# --------------------------------------------------------------------------- scheduler()

SPE, EPOCHS = 7, 6
FAMILIES = {
    "StepLR": {"step_size": 2}, "MultiStepLR": {"milestones": [1, 4]}, "ExponentialLR": {"gamma": 0.8},
    "CosineAnnealingLR": {}, "CosineAnnealingWarmRestarts": {"T_0": 2, "T_mult": 2},
    "CyclicLR": {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 5}, "OneCycleLR": {"max_lr": 0.3},
    "ReduceLROnPlateau": {}, "LambdaLR": {"lr_lambda": "0.9 ** epoch"}, "MultiplicativeLR": {"lr_lambda": "0.95"},
    "LinearLR": {}, "ConstantLR": {}, "PolynomialLR": {"power": 2.0},
    "constant": {}, "step": {}, "multistep": {}, "exponential": {}, "cosine": {"warmup": "1 epoch"},
    "sgdr": {"t_mult": 1.5, "decay": 0.8, "min_lr": 0.001}, "cyclic": {"mode": "triangular2"}, "onecycle": {},
    "plateau": {"warmup": "1 epoch"}, "poly": {"power": 2.0}, "warmup_cosine": {"hold": "1 epoch"},
}


def two_groups(momentum: float = 0.9) -> torch.optim.Optimizer:
    a, b = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(2))
    return torch.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.05}], lr=0.1, momentum=momentum)


def rows_of(spec: dict) -> list[dict]:
    """`lrtool preview`'s rows for the same schedule, base LRs and momenta."""
    from lrtool.schedules import Plan, resolve_schedule
    from lrtool.schedules import preview as preview_rows

    return preview_rows(resolve_schedule(spec), [0.1, 0.05], Plan(SPE, EPOCHS), [0.9, 0.9])


def test_every_schedule_family_is_covered():
    from lrtool.schedules import SCHEDULES

    assert set(FAMILIES) == set(SCHEDULES.names())


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_scheduler_equals_preview_step_for_step(name):
    spec = {"name": name, **FAMILIES[name]}
    opt = two_groups()
    sched = lrtool.scheduler(opt, spec, steps_per_epoch=SPE, epochs=EPOCHS)
    assert isinstance(sched, torch.optim.lr_scheduler.LRScheduler)
    rows = rows_of(spec)
    for row in rows:
        assert [g["lr"] for g in opt.param_groups] == [row["lr/pg0"], row["lr/pg1"]] == sched.get_last_lr()
        assert opt.param_groups[0]["momentum"] == row.get("momentum", 0.9)
        opt.step()
        sched.step()
    frame = lrtool.preview(spec, steps_per_epoch=SPE, epochs=EPOCHS, lr=[0.1, 0.05], momentum=0.9)
    assert frame.to_dict("records") == rows


def _run(spec: dict, metrics: list[float], split_at: int | None = None, observe: bool = False) -> list[tuple]:
    """LR and momentum of every step; at `split_at` everything is saved, rebuilt and loaded (a resume)."""
    import io

    opt = two_groups()
    sched = lrtool.scheduler(opt, spec, steps_per_epoch=SPE, epochs=EPOCHS)
    seen = []
    for k in range(SPE * EPOCHS):
        if k == split_at:
            buf = io.BytesIO()
            torch.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, buf)
            buf.seek(0)
            state = torch.load(buf, weights_only=True)  # as Lightning and the HF Trainer load it
            opt = two_groups()
            sched = lrtool.scheduler(opt, spec, steps_per_epoch=SPE, epochs=EPOCHS)
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
        seen.append((tuple(sched.get_last_lr()), opt.param_groups[1]["lr"], opt.param_groups[0]["momentum"]))
        opt.step()
        if metrics and (k + 1) % SPE == 0 and not observe:
            sched.step(metrics[k // SPE])  # plateau: the metric where it is measured, at the epoch's end
        else:
            sched.step()
        if metrics and (k + 1) % SPE == 0 and observe:
            sched.observe(torch.tensor(metrics[k // SPE]))  # after the step, where validation runs
    return seen


@pytest.mark.parametrize("spec, metrics", [
    ({"name": "onecycle", "max_lr": 0.5}, []),
    ({"name": "sgdr", "t_mult": 1.5, "warmup": "3 steps"}, []),
    ({"name": "cyclic", "mode": "exp_range"}, []),
    ({"name": "plateau", "patience": 1, "factor": 0.5}, [1.0, 0.9, 0.9, 0.9, 0.8, 0.8]),
])
def test_state_dict_round_trip_mid_run_equals_an_uninterrupted_run(spec, metrics):
    whole = _run(spec, metrics)
    assert len(set(whole)) > 1  # the schedule does change
    for split in (3, SPE * 3 + 2):
        assert _run(spec, metrics, split_at=split) == whole


def test_plateau_reduces_as_torch_reduce_lr_on_plateau():
    metrics = [1.0, 0.9, 0.9, 0.9, 0.95, 0.7]
    ours = _run({"name": "ReduceLROnPlateau", "patience": 1, "factor": 0.5}, metrics)
    opt = two_groups()
    torch_sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.5)
    for epoch, metric in enumerate(metrics):
        assert ours[epoch * SPE][0] == tuple(g["lr"] for g in opt.param_groups)
        torch_sched.step(metric)
    assert ours[-1][0][0] < 0.1
    assert _run({"name": "ReduceLROnPlateau", "patience": 1, "factor": 0.5}, metrics, observe=True) == ours


def test_scheduler_errors_are_one_line_and_name_the_key():
    with pytest.raises(lrtool.LrtoolError, match=r"^schedule.name: unknown schedule 'cosin'.*did you mean"):
        lrtool.scheduler(two_groups(), "cosin", steps_per_epoch=SPE, epochs=EPOCHS)
    with pytest.raises(lrtool.LrtoolError, match=r"^schedule.pct_strat: unknown argument"):
        lrtool.scheduler(two_groups(), "onecycle", steps_per_epoch=SPE, epochs=EPOCHS, pct_strat=0.2)
    with pytest.raises(lrtool.LrtoolError, match=r"^scheduler: warmup given both in the spec and as an argument"):
        lrtool.scheduler(two_groups(), {"name": "cosine", "warmup": 1}, steps_per_epoch=SPE, epochs=EPOCHS, warmup=2)
    with pytest.raises(lrtool.LrtoolError, match=r"^steps_per_epoch: expected a positive whole number, got 0"):
        lrtool.scheduler(two_groups(), "cosine", steps_per_epoch=0, epochs=EPOCHS)
    opt = two_groups()
    sched = lrtool.scheduler(opt, "cosine", steps_per_epoch=SPE, epochs=EPOCHS)
    opt.step()
    with pytest.raises(lrtool.LrtoolError, match=r"^scheduler: cosine does not monitor a metric; call step\(\)"):
        sched.step(0.5)
    other = lrtool.scheduler(two_groups(), "cosine", steps_per_epoch=SPE, epochs=EPOCHS + 1)
    with pytest.raises(lrtool.LrtoolError, match=r"^scheduler.load_state_dict: the state is of schedule cosine"):
        other.load_state_dict(sched.state_dict())


def test_hugging_face_style_use_with_gradient_accumulation():
    """What the HF Trainer does: step() once per optimizer step, get_last_lr()[0] for logging."""
    model = mlp()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    loader = DataLoader(blobs(128), batch_size=16, shuffle=True)
    accumulate = 2
    steps_per_epoch = len(loader) // accumulate
    sched = lrtool.scheduler(opt, "onecycle", steps_per_epoch=steps_per_epoch, epochs=2)
    logged = []
    for _ in range(2):
        for i, (x, y) in enumerate(loader):
            (nn.functional.cross_entropy(model(x), y) / accumulate).backward()
            if (i + 1) % accumulate == 0:
                logged.append((sched.get_last_lr()[0], opt.param_groups[0]["betas"][0]))
                opt.step()
                sched.step()
                opt.zero_grad()
    preview = lrtool.preview("onecycle", steps_per_epoch=steps_per_epoch, epochs=2, lr=3e-3, momentum=0.9)
    assert logged == list(zip(preview["lr"], preview["momentum"]))


def test_lightning_configure_optimizers_with_interval_step():
    import pytorch_lightning as pl  # in the dev extra

    seen: list[float] = []

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = mlp()

        def training_step(self, batch, _index):
            seen.append(self.trainer.optimizers[0].param_groups[0]["lr"])
            x, y = batch
            return nn.functional.cross_entropy(self.net(x), y)

        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)
            sched = lrtool.scheduler(opt, {"name": "cosine", "warmup": "1 epoch"}, steps_per_epoch=4, epochs=3)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    trainer = pl.Trainer(max_epochs=3, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(Module(), DataLoader(blobs(128), batch_size=32))
    expected = lrtool.preview({"name": "cosine", "warmup": "1 epoch"}, steps_per_epoch=4, epochs=3, lr=0.1)
    assert seen == expected["lr"].tolist()


def test_lightning_plateau_observes_the_validation_metric():
    import pytorch_lightning as pl

    seen: list[float] = []
    observed: list[float] = []

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = mlp()

        def training_step(self, batch, _index):
            seen.append(self.trainer.optimizers[0].param_groups[0]["lr"])
            return nn.functional.cross_entropy(self.net(batch[0]), batch[1])

        def validation_step(self, batch, _index):
            self.log("val_loss", nn.functional.cross_entropy(self.net(batch[0]), batch[1]))

        def on_validation_epoch_end(self):
            if not self.trainer.sanity_checking:
                observed.append(float(self.trainer.callback_metrics["val_loss"]))
            self.lr_schedulers().observe(self.trainer.callback_metrics["val_loss"])  # ignored before step 1

        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=5.0)  # too high: the val loss gets worse
            sched = lrtool.scheduler(opt, "plateau", steps_per_epoch=4, epochs=4, patience=0, threshold=10.0)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    trainer = pl.Trainer(max_epochs=4, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    data = DataLoader(blobs(128), batch_size=32)
    trainer.fit(Module(), data, DataLoader(blobs(64, seed=1), batch_size=64))
    # the same metrics replayed through a plain loop give the same LRs, step for step
    opt = torch.optim.SGD(mlp().parameters(), lr=5.0)
    sched = lrtool.scheduler(opt, "plateau", steps_per_epoch=4, epochs=4, patience=0, threshold=10.0)
    replay = []
    for k in range(16):
        replay.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step(observed[k // 4] if (k + 1) % 4 == 0 else None)
    assert seen == replay and seen[-1] < seen[0]


# --------------------------------------------------------------------------- the CLI's other commands


def test_load_config_and_train_are_the_cli_calls(tmp_path):
    cfg = lrtool.load_config(None, {"data.name": "synthetic", "data__batch_size": 32, "train.epochs": 1})
    assert cfg.data.name == "synthetic" and cfg.data.batch_size == 32
    with pytest.raises(lrtool.LrtoolError, match=r"^load_config overrides optimizer.lr: expected a value greater"):
        lrtool.load_config(None, ["optimizer.lr=-1"])
    summary = lrtool.train(None, out=tmp_path / "run", verbose=False, device="cpu", data__name="synthetic",
                           **{"train.epochs": 1, "train.plots": False})
    assert summary["status"] == "completed" and summary["run_dir"] == str(tmp_path / "run")
    table = lrtool.compare(tmp_path / "run")
    assert table.loc[0, "command"] == "train" and table.loc[0, "status"] == "completed"


def test_train_takes_the_cli_options_as_keywords_and_names_them_in_errors(tmp_path):
    summary = lrtool.train(None, out=tmp_path / "run", verbose=False, epochs=1, device="cpu", loggers=[],
                           data__name="synthetic", **{"train.plots": False})
    assert summary["status"] == "completed" and summary["epochs"] == 1
    cfg = lrtool.load_config(None, epochs=3, device="cpu")
    assert cfg.train.epochs == 3 and cfg.device == "cpu"

    def message(**kwargs):
        with pytest.raises(lrtool.LrtoolError) as e:
            lrtool.train(None, out=tmp_path / "never", verbose=False, **kwargs)
        assert "--set" not in str(e.value) and "\n" not in str(e.value)
        return str(e.value)

    assert message(epochs=0) == "train(epochs=...): expected a value greater than 0, got 0"
    assert message(train__epochs=0).startswith("train(train__epochs=...): expected a value greater than 0")
    assert message(**{"train.epochs": 0}).startswith("train(**{'train.epochs': ...}): expected a value")
    # every unknown keyword is named, none hidden behind "(+1 more problem)"
    assert message(epochz=2, scheduel="cyclic").startswith(
        "train: unknown keywords 'epochz' (did you mean 'epochs'?), 'scheduel' (did you mean 'schedule'?); "
        "valid keywords: schedule, lr_from, out, verbose, epochs, device, loggers, or a config key")
    assert message(seeds="0,1").startswith("train(seeds=...): one run per call: pass seed=N")
    assert not (tmp_path / "never").exists()


def test_load_config_refuses_an_unknown_component_argument_as_the_cli_does(tmp_path):
    config = write_base_config(tmp_path)
    cli = invoke("train", config, "--set", "optimizer.lrr=1", "--out", tmp_path / "run")
    assert cli.exit_code == 2 and "optimizer.lrr: unknown argument (did you mean 'lr'?)" in cli.output
    for overrides in (["optimizer.lrr=1"], {"optimizer.lrr": 1}):
        with pytest.raises(lrtool.LrtoolError, match=r"^optimizer.lrr: unknown argument \(did you mean 'lr'\?\)"):
            lrtool.load_config(config, overrides)


@pytest.mark.parametrize("overrides", ["optimizer.lr=1", 5])
def test_load_config_overrides_of_the_wrong_type_are_one_line(tmp_path, overrides):
    """A string would be read letter by letter ("'o': expected KEY=VALUE"); an int raised a raw TypeError."""
    with pytest.raises(lrtool.LrtoolError, match=r"^load_config: overrides: expected a dict .* or a list of "
                                                  r"'KEY=VALUE' strings, got (str|int) "):
        lrtool.load_config(write_base_config(tmp_path), overrides)


@pytest.mark.parametrize("spec", ["onecycle", "cyclic", "sgdr", "warmup_cosine"])
def test_stepping_past_the_plan_holds_the_last_lr(spec):
    """One step too many in a hand-written loop must not start a second cycle (or restart)."""
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = lrtool.scheduler(opt, spec, steps_per_epoch=4, epochs=2)
    lrs = []
    for _ in range(14):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs[7:] == [lrs[6]] * 7


def test_preview_with_an_optimizer_name_instead_of_an_optimizer_is_one_line():
    with pytest.raises(lrtool.LrtoolError, match=r"^preview: optimizer: expected a torch.optim.Optimizer"):
        lrtool.preview("onecycle", steps_per_epoch=4, epochs=2, optimizer="Adam")


def test_find_lr_on_a_regression_measures_val_mae_in_the_curve():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 8, generator=g)
    data = TensorDataset(x, x[:, :1] * 2 + 0.1)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    result = lrtool.find_lr(model, opt, nn.MSELoss(), DataLoader(data, batch_size=16, shuffle=True),
                            val_loader=DataLoader(data, batch_size=64), val_every=5, **QUICK)
    assert "val_acc" not in result.curve.columns
    measured = result.curve.dropna(subset=["val_loss"])
    assert len(measured) >= 3 and measured["val_mae"].notna().all()

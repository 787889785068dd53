"""`lrtool train` and `lrtool preview` end to end on the synthetic set (CPU, seconds)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import torch
import yaml

from lrtool.rundir import RunDir

from .conftest import interrupt_at, invoke, rows, summary, write_base_config

BASE = """\
seed: 0
device: cpu
data: {name: synthetic, n_samples: 200, n_features: 8, n_classes: 3, batch_size: 32, n_test: 60}
model: {name: mlp, hidden: [16], dropout: 0.1}
optimizer: {name: SGD, lr: 0.05, momentum: 0.9}
train: {epochs: 3, plots: false, log_every: 4}
"""

# every schedule name with the arguments it needs for a 3-epoch run of 5 steps an epoch
SCHEDULES = {
    "StepLR": {"step_size": 1, "gamma": 0.5},
    "MultiStepLR": {"milestones": [1, 2]},
    "ExponentialLR": {"gamma": 0.9},
    "CosineAnnealingLR": {"T_max": 3},
    "CosineAnnealingWarmRestarts": {"T_0": 2},
    "CyclicLR": {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 4},
    "OneCycleLR": {"max_lr": 0.1},
    "ReduceLROnPlateau": {"patience": 0},
    "LambdaLR": {"lr_lambda": "0.5 ** (epoch // 1)"},
    "MultiplicativeLR": {"lr_lambda": "0.9"},
    "LinearLR": {"start_factor": 0.5, "total_iters": 2},
    "ConstantLR": {"factor": 0.5, "total_iters": 1},
    "PolynomialLR": {"total_iters": 3},
    "constant": {}, "step": {}, "multistep": {}, "exponential": {}, "cosine": {}, "sgdr": {"t_mult": 1.5},
    "cyclic": {"mode": "triangular2"}, "onecycle": {}, "plateau": {}, "poly": {}, "warmup_cosine": {"hold": 2},
}


@pytest.fixture
def cfg_file(tmp_path: Path) -> Path:
    return write_base_config(tmp_path, text=BASE)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_every_schedule_trains_and_logs_the_lr_preview_predicts(cfg_file, tmp_path, name):
    sets = [f"--set=schedule.{name}.{k}={json.dumps(v)}" for k, v in SCHEDULES[name].items()]
    run, prev = tmp_path / "run", tmp_path / "preview"
    res = invoke("train", cfg_file, "--schedule", name, "--out", run, *sets)
    assert res.exit_code == 0, res.output
    s = summary(run)
    assert s["status"] == "completed" and s["schedule"] == name
    assert s["progress"] == {"epoch": 3, "step": s["total_steps"]} and s["steps_per_epoch"] == 5
    steps = rows(run / "steps.csv")
    assert len(steps) == s["total_steps"] == 15
    assert len(rows(run / "epochs.csv")) == 3
    res = invoke("preview", cfg_file, "--schedule", name, "--out", prev, *sets)
    assert res.exit_code == 0, res.output
    planned = rows(prev / "schedule.csv")
    if name not in ("ReduceLROnPlateau", "plateau"):  # plateau depends on the metrics
        assert [float(r["lr"]) for r in steps] == pytest.approx([float(r["lr"]) for r in planned], rel=1e-12)
    assert [r["epoch"] for r in steps] == [r["epoch"] for r in planned]
    if "momentum" in planned[0]:
        assert [float(r["momentum"]) for r in steps] == pytest.approx([float(r["momentum"]) for r in planned])


def test_files_summary_and_plots(cfg_file, tmp_path):
    run = tmp_path / "run"
    res = invoke("train", cfg_file, "--out", run, "--set", "train.plots=true", "--schedule", "onecycle")
    assert res.exit_code == 0, res.output
    assert {p.name for p in run.iterdir()} >= {"config.yaml", "summary.json", "steps.csv", "epochs.csv",
                                              "lr.png", "loss.png", "metrics.png", "checkpoints"}
    assert {p.name for p in (run / "checkpoints").iterdir()} == {"last.pt", "best.pt"}
    steps = rows(run / "steps.csv")
    assert list(steps[0]) == ["step", "epoch", "lr", "loss", "momentum", "time_s"]
    epochs = rows(run / "epochs.csv")
    assert list(epochs[0]) == ["epoch", "step", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "time_s"]
    assert [e["step"] for e in epochs] == ["5", "10", "15"]
    s = summary(run)
    assert s["final"]["val_acc"] == pytest.approx(float(epochs[-1]["val_acc"]))
    best = max(epochs, key=lambda e: float(e["val_acc"]))
    assert s["best"]["val_acc"]["value"] == pytest.approx(float(best["val_acc"]))
    assert 0 <= s["test"]["test_acc"] <= 1 and s["test"]["test_loss"] > 0
    assert {"python", "torch", "torchvision", "lrtool"} <= set(s["versions"])
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    assert {"model", "optimizer", "scaler", "schedule", "rng", "generator", "progress"} <= set(ckpt)
    assert ckpt["optimizer"]["state"]  # the optimizer state is saved, as users expect
    assert "completed" in res.output and "val_acc" in res.output
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["schedule"]["name"] == "onecycle"


def test_epoch_interval_changes_exactly_at_the_boundary(cfg_file, tmp_path):
    run = tmp_path / "run"
    res = invoke("train", cfg_file, "--out", run, "--set", "schedule={name: StepLR, step_size: 1, gamma: 0.5}",
                 "--set", "optimizer.lr=0.1")
    assert res.exit_code == 0, res.output
    lrs = [float(r["lr"]) for r in rows(run / "steps.csv")]
    assert lrs == pytest.approx([0.1] * 5 + [0.05] * 5 + [0.025] * 5)
    # the same as torch's StepLR stepped once per epoch
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    expected = []
    for _ in range(3):
        expected += sched.get_last_lr() * 5
        opt.step()
        sched.step()
    assert lrs == pytest.approx(expected, rel=1e-12)


def test_schedule_switching_keeps_the_other_blocks(tmp_path):
    p = write_base_config(tmp_path, "multi.yaml",
                          BASE + "schedule:\n  name: step\n  step_size: 1\n  cyclic: {base_lr: 0.01, max_lr: 0.2}\n")
    run = tmp_path / "run"
    assert invoke("train", p, "--schedule", "cyclic", "--out", run).exit_code == 0
    saved = yaml.safe_load((run / "config.yaml").read_text())["schedule"]
    assert saved == {"name": "cyclic", "cyclic": {"base_lr": 0.01, "max_lr": 0.2}, "step": {"step_size": 1}}
    lrs = [float(r["lr"]) for r in rows(run / "steps.csv")]
    assert min(lrs) == pytest.approx(0.01) and max(lrs) <= 0.2
    # the saved config reruns the same run
    again = tmp_path / "again"
    assert invoke("train", run / "config.yaml", "--out", again).exit_code == 0
    assert [r["lr"] for r in rows(again / "steps.csv")] == [r["lr"] for r in rows(run / "steps.csv")]


def test_several_param_groups_are_logged(cfg_file, tmp_path):
    run = tmp_path / "run"
    res = invoke("train", cfg_file, "--out", run, "--schedule", "cosine",
                 "--set", "optimizer.param_groups=[{match: '^head', lr: 0.01}]")
    assert res.exit_code == 0, res.output
    first = rows(run / "steps.csv")[0]
    assert float(first["lr/pg0"]) == pytest.approx(0.05) and float(first["lr/pg1"]) == pytest.approx(0.01)


def test_lr_from_a_find_lr_run(cfg_file, tmp_path):
    find = tmp_path / "find"
    res = invoke("find-lr", cfg_file, "--out", find, "--start-lr", "1e-4", "--end-lr", "100", "--num-iter", "40")
    assert res.exit_code == 0, res.output
    s = summary(find)
    run = tmp_path / "run"
    res = invoke("train", cfg_file, "--schedule", "cyclic", "--lr-from", find, "--out", run)
    assert res.exit_code == 0, res.output
    assert f"--lr-from {find}: optimizer.lr=" in res.output.replace("\n", "")
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["optimizer"]["lr"] == pytest.approx(s["lr"])
    assert saved["schedule"]["base_lr"] == pytest.approx(s["clr"]["base_lr"])
    assert saved["schedule"]["max_lr"] == pytest.approx(s["clr"]["max_lr"])
    lrs = [float(r["lr"]) for r in rows(run / "steps.csv")]
    assert lrs[0] == pytest.approx(s["clr"]["base_lr"])
    one = tmp_path / "one"
    assert invoke("train", cfg_file, "--schedule", "onecycle", "--lr-from", find, "--out", one).exit_code == 0
    peak = max(float(r["lr"]) for r in rows(one / "steps.csv"))
    assert peak == pytest.approx(s["onecycle"]["max_lr"], rel=0.05)
    bad = invoke("train", cfg_file, "--lr-from", run, "--out", tmp_path / "x")
    assert bad.exit_code == 2 and "expected a find-lr run, got a 'train' run" in bad.output


@pytest.mark.parametrize("stop_at, sig, code", [
    (10, signal.SIGINT, 130), (7, signal.SIGTERM, 143),
    pytest.param(8, getattr(signal, "SIGHUP", 1), 129,
                 marks=pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform"))])
def test_interrupt_then_resume_equals_uninterrupted(cfg_file, tmp_path, monkeypatch, stop_at, sig, code):
    sets = ["--schedule", "cyclic", "--set", "schedule.cyclic.step_size=3"]
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert invoke("train", cfg_file, "--out", full, *sets).exit_code == 0
    with monkeypatch.context() as m:
        interrupt_at(m, stop_at, sig)
        res = invoke("train", cfg_file, "--out", cut, *sets)
    assert res.exit_code == code, res.output
    s = summary(cut)
    assert s["status"] == "interrupted" and s["progress"]["step"] == stop_at
    assert f"lrtool train --resume {cut}" in s["stop"]["message"]
    assert len(rows(cut / "steps.csv")) == stop_at
    res = invoke("train", "--resume", cut)
    assert res.exit_code == 0, res.output
    assert summary(cut)["status"] == "completed" and summary(cut)["resumed"] == 1

    def strip(rs):
        return [{k: v for k, v in r.items() if k != "time_s"} for r in rs]

    assert strip(rows(cut / "steps.csv")) == strip(rows(full / "steps.csv"))
    assert strip(rows(cut / "epochs.csv")) == strip(rows(full / "epochs.csv"))
    a = torch.load(full / "checkpoints" / "last.pt", weights_only=False)["model"]
    b = torch.load(cut / "checkpoints" / "last.pt", weights_only=False)["model"]
    assert a and a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("stop_at, done", [(1, "1 step"), (5, "5 steps"), (7, "1 epoch and 2 steps (7 steps)")])
def test_an_interrupted_run_says_how_far_it_got_in_words(cfg_file, tmp_path, monkeypatch, stop_at, done):
    """An epoch counts once validated: a signal right after its last step stops before that."""
    interrupt_at(monkeypatch, stop_at)  # 5 steps an epoch
    res = invoke("train", cfg_file, "--out", tmp_path / "run")
    assert res.exit_code == 130, res.output
    assert summary(tmp_path / "run")["progress"]["step"] == stop_at
    assert f"interrupted after {done} in " in res.output
    res = invoke("train", "--resume", tmp_path / "run")
    assert res.exit_code == 0 and "completed after 3 epochs (15 steps) in " in res.output


@pytest.mark.parametrize("epoch, step, done", [
    (1, 60, "1 epoch (60 steps)"), (2, 120, "2 epochs (120 steps)"), (1, 61, "1 epoch and 1 step (61 steps)"),
    (0, 0, "0 steps")])
def test_the_final_line_words_its_counts_at_an_epoch_boundary(tmp_path, epoch, step, done):
    from lrtool.commands.train import TrainResult

    result = TrainResult({"progress": {"epoch": epoch, "step": step}, "steps_per_epoch": 60}, tmp_path)
    assert result.progress() == done


def test_resume_after_a_kill_drops_rows_past_the_checkpoint(cfg_file, tmp_path):
    full, run = tmp_path / "full", tmp_path / "run"
    assert invoke("train", cfg_file, "--out", full).exit_code == 0
    assert invoke("train", cfg_file, "--out", run, "--epochs", "2").exit_code == 0
    # make it look like a run killed during epoch 3 after its epoch-2 checkpoint: "running", extra rows
    # beyond the checkpoint, a half-written last line
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["train"]["epochs"] = 3
    written = RunDir(run, writes=True)
    written.write_config(yaml.safe_dump(cfg))
    written.update_summary(status="running")
    with open(run / "steps.csv", "a") as f:  # the damage a kill leaves, which the writer never would
        f.write("10,2,0.05,1.0,0.1\n11,2,0.0")
    res = invoke("train", "--resume", run, "--allow-changes")  # the edited train.epochs is wanted here
    assert res.exit_code == 0, res.output
    assert "continuing with the edited config (train.epochs (2 -> 3))" in res.output.replace("\n", "")
    strip = lambda rs: [{k: v for k, v in r.items() if k != "time_s"} for r in rs]  # noqa: E731
    assert strip(rows(run / "steps.csv")) == strip(rows(full / "steps.csv"))
    assert strip(rows(run / "epochs.csv")) == strip(rows(full / "epochs.csv"))


def test_resume_after_a_kill_continues_the_clock_from_the_epoch_checkpoint(cfg_file, tmp_path):
    run = tmp_path / "run"
    assert invoke("train", cfg_file, "--out", run, "--epochs", "2").exit_code == 0
    # a run killed during epoch 3: no stop checkpoint, so the clock comes from the epoch-2 checkpoint
    at_epoch_2 = float(rows(run / "epochs.csv")[-1]["time_s"])
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    assert ckpt["progress"]["elapsed"] >= at_epoch_2 > 0
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["train"]["epochs"] = 3
    written = RunDir(run, writes=True)
    written.write_config(yaml.safe_dump(cfg))
    written.update_summary(status="running")
    res = invoke("train", "--resume", run, "--allow-changes")
    assert res.exit_code == 0, res.output
    for name in ("steps.csv", "epochs.csv"):
        times = [float(r["time_s"]) for r in rows(run / name)]
        assert times == sorted(times), name  # time goes on where the checkpoint left it
    resumed = [float(r["time_s"]) for r in rows(run / "steps.csv") if int(r["epoch"]) == 2]
    assert resumed and min(resumed) >= ckpt["progress"]["elapsed"]
    assert summary(run)["timings"]["total_s"] >= float(rows(run / "epochs.csv")[-1]["time_s"]) > at_epoch_2


def test_nan_loss_stops_as_diverged(cfg_file, tmp_path):
    run = tmp_path / "run"
    res = invoke("train", cfg_file, "--out", run, "--set", "optimizer.lr=1e12", "--set", "optimizer.momentum=0")
    assert res.exit_code == 1, res.output
    s = summary(run)
    assert s["status"] == "diverged" and s["stop"]["reason"] == "non_finite"
    # losses are read every 4 steps: the steps that ran past the non-finite one keep their rows too, so the
    # step count said matches steps.csv
    steps = rows(run / "steps.csv")
    assert [int(r["step"]) for r in steps] == list(range(s["progress"]["step"]))
    assert s["progress"]["step"] > s["stop"]["step"] and steps[s["stop"]["step"]]["loss"] in ("nan", "inf")
    assert all(r["loss"] not in ("nan", "inf") for r in steps[:s["stop"]["step"]])
    assert "diverged" in res.output and f"after {s['progress']['step']} steps" in res.output
    # it diverged in its first epoch: there is no checkpoint to name
    assert not list((run / "checkpoints").iterdir())
    assert "checkpoints/last.pt" not in s["stop"]["message"]
    assert "no checkpoint was written before it: start again with a lower LR" in s["stop"]["message"]


@pytest.mark.parametrize("args, expected", [
    (["--schedule", "OneCycleLR", "--set", "schedule.OneCycleLR={max_lr: 0.1, total_steps: 5}"], "shorter"),
    (["--set", "schedule.warmup={epochs: 5}"], "warmup"),
    (["--schedule", "cyclik"], "unknown schedule 'cyclik' (did you mean 'cyclic'?)"),
    (["--set", "schedule.name=step", "--set", "schedule.stepsize=2"], "did you mean 'step_size'?"),
])
def test_impossible_plans_fail_before_training(cfg_file, tmp_path, args, expected):
    run = tmp_path / "run"
    res = invoke("train", cfg_file, "--out", run, *args)
    assert res.exit_code == 2, res.output
    assert expected in res.output and res.output.startswith("lrtool: error: ")
    assert not run.exists()


def test_resume_refuses_completed_and_non_runs(cfg_file, tmp_path):
    run = tmp_path / "run"
    assert invoke("train", cfg_file, "--out", run, "--epochs", "1").exit_code == 0
    res = invoke("train", "--resume", run)
    assert res.exit_code == 2 and "already completed" in res.output
    res = invoke("train", "--resume", tmp_path)
    assert res.exit_code == 2 and "not a run directory" in res.output
    res = invoke("train", "--resume", run, "--set", "optimizer.lr=1")
    assert res.exit_code == 2 and "its own config.yaml" in res.output


def test_preview_files_and_terminal_curve(cfg_file, tmp_path):
    out = tmp_path / "p"
    res = invoke("preview", cfg_file, "--schedule", "sgdr", "--out", out, "--epochs", "6")
    assert res.exit_code == 0, res.output
    assert {p.name for p in out.iterdir()} == {"schedule.csv", "schedule.png", "config.yaml"}
    planned = rows(out / "schedule.csv")
    assert len(planned) == 30 and list(planned[0]) == ["step", "epoch", "lr"]
    assert "*" in res.output and "schedule sgdr" in res.output
    res = invoke("preview", cfg_file, "--schedule", "plateau", "--out", tmp_path / "q")
    assert res.exit_code == 0 and "depends on the metrics" in res.output.replace("\n", " ")


def test_augmentation_in_train_and_find_lr(tmp_path):
    # what augment_batch does is checked in tests/test_data.py; here: the config reaches it
    cfg = write_base_config(tmp_path, "img.yaml", BASE.replace("n_features: 8", "image_size: 6") +
                            "find_lr: {num_iter: 10}\n")
    run = tmp_path / "run"
    res = invoke("train", cfg, "--out", run, "--set", "data.augment={crop: 1, flip: true}", "--epochs", "1")
    assert res.exit_code == 0, res.output
    res = invoke("find-lr", cfg, "--out", tmp_path / "f", "--set", "data.augment={crop: 1}")
    assert res.exit_code == 0, res.output
    res = invoke("find-lr", cfg, "--out", tmp_path / "g", "--set", "data.augment={crop: -1}")
    assert res.exit_code == 2 and "data.augment.crop" in res.output


@pytest.mark.slow
def test_compiled_model_trains(cfg_file, tmp_path):
    run = tmp_path / "run"
    res = invoke("train", cfg_file, "--out", run, "--set", "train.compile=true", "--epochs", "1")
    assert res.exit_code == 0, res.output
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    assert not any(k.startswith("_orig_mod") for k in ckpt["model"])  # plain weights, loadable anywhere


def test_config_given_with_resume_is_noted_not_read(cfg_file, tmp_path, monkeypatch):
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        interrupt_at(m, 3)
        assert invoke("train", cfg_file, "--out", run).exit_code == 130
    res = invoke("train", cfg_file, "--resume", run)
    assert res.exit_code == 0, res.output
    assert f"note: --resume uses the run's own {run / 'config.yaml'}; {cfg_file} is not read" in \
        res.output.replace("\n", "")


NOISY_DATASET = '''
import torch


class Noisy(torch.utils.data.Dataset):
    """A user Dataset whose __getitem__ draws random numbers (as random augmentation does)."""

    def __init__(self, n=96):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 6, generator=g)
        self.y = (self.x[:, 0] > 0).long().tolist()

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i] + 0.1 * torch.randn(6), self.y[i]


def make():
    return Noisy()
'''


def test_resume_mid_epoch_is_exact_for_a_dataset_that_draws_random_numbers(tmp_path, monkeypatch):
    """The steps already done are cut from the sample order, not read: __getitem__'s draws stay in step."""
    (tmp_path / "noisy_ds.py").write_text(NOISY_DATASET)
    cfg = write_base_config(tmp_path, "noisy.yaml", "seed: 0\ndevice: cpu\n"
                            "data: {name: 'noisy_ds:make', batch_size: 16}\nmodel: {name: mlp, hidden: [8]}\n"
                            "optimizer: {name: SGD, lr: 0.05}\ntrain: {epochs: 2, log_every: 1, plots: false}\n")
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert invoke("train", cfg, "--out", full).exit_code == 0
    with monkeypatch.context() as m:
        interrupt_at(m, 6)  # mid-epoch 2 (5 steps an epoch)
        assert invoke("train", cfg, "--out", cut).exit_code == 130
    assert summary(cut)["progress"] == {"epoch": 1, "step": 6}
    assert invoke("train", "--resume", cut).exit_code == 0

    def strip(rs):
        return [{k: v for k, v in r.items() if k != "time_s"} for r in rs]

    assert strip(rows(cut / "steps.csv")) == strip(rows(full / "steps.csv"))


def test_checkpoints_load_with_a_plain_torch_load(cfg_file, tmp_path):
    """torch.load's default (weights_only) reads them: only tensors and plain types, no numpy objects."""
    out = tmp_path / "run"
    assert invoke("train", cfg_file, "--out", out, "--epochs", "1").exit_code == 0
    for name in ("last.pt", "best.pt"):
        state = torch.load(out / "checkpoints" / name)
        assert state["progress"]["epoch"] == 1 and state["model"]
    model = torch.load(out / "checkpoints" / "best.pt")["model"]
    assert all(isinstance(v, torch.Tensor) for v in model.values())


BLOWS_UP_IN_EVAL = '''
import torch


class Net(torch.nn.Module):
    """Finite while training; from the 2nd validation on its outputs are inf (weights blown up)."""

    def __init__(self, input_shape, num_classes):
        super().__init__()
        self.fc = torch.nn.Linear(input_shape[0], num_classes)
        self.evals = 0

    def train(self, mode=True):
        if not mode:
            self.evals += 1
        return super().train(mode)

    def forward(self, x):
        out = self.fc(x)
        return out if self.training or self.evals < 4 else out * float("inf")
'''


def test_a_non_finite_validation_loss_ends_the_run_diverged(tmp_path):
    """Training losses can stay finite (huge) while the weights blow up between log points."""
    (tmp_path / "blows_up.py").write_text(BLOWS_UP_IN_EVAL)
    cfg = write_base_config(tmp_path, text=BASE.replace("{name: mlp, hidden: [16], dropout: 0.1}",
                                                        "{name: 'blows_up:Net'}"))
    out = tmp_path / "run"
    res = invoke("train", cfg, "--out", out)
    assert res.exit_code != 0, res.output
    s = summary(out)
    assert s["status"] == "diverged" and s["stop"]["reason"] == "non_finite"
    assert "validation loss became non-finite after epoch 2" in s["stop"]["message"]
    assert torch.load(out / "checkpoints" / "last.pt")["progress"]["epoch"] == 1  # the last good one


def test_the_header_words_its_counts(tmp_path):
    """"1 epoch x 4 steps", not "1 epochs x 4 steps" (a new user's report)."""
    from tests.conftest import BASE_CONFIG, invoke, write_base_config

    cfg = write_base_config(tmp_path, text=BASE_CONFIG.replace("epochs: 2", "epochs: 1"))
    res = invoke("train", cfg, "--out", tmp_path / "run")
    assert res.exit_code == 0, res.output
    assert "schedule constant, 1 epoch x 4 steps, seed 0" in " ".join(res.output.split()), res.output

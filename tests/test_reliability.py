"""Reliability: bad input is one line and exit 2; interrupts, divergence, crashes and kill -9 lose nothing.

The bad-input matrix below is the one place that lists every kind of bad input the CLI must answer with
a single `lrtool: error: ...` line (some are also tested, in more depth, next to their feature). The
signal tests start real `python -m lrtool` processes and send real signals.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
import yaml

from lrtool import rundir as runs_module
from lrtool.errors import LrtoolError, RunFailed
from lrtool.rundir import RunDir

from .conftest import invoke, rows, summary, write_base_config, write_run

ROOT = Path(__file__).resolve().parents[1]

GOOD = """\
seed: 0
device: cpu
data: {name: synthetic, n_samples: 200, n_features: 8, n_classes: 3, batch_size: 32}
model: {name: mlp, hidden: [16]}
optimizer: {name: SGD, lr: 0.05, momentum: 0.9}
train: {epochs: 2, plots: false}
find_lr: {num_iter: 20}
"""


def error_line(res) -> str:
    """The single `lrtool: error:` line of a result (and nothing else shown), or a failed assertion."""
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1, res.output
    assert lines[0].startswith("lrtool: error: "), res.output
    assert "Traceback" not in res.output
    return lines[0]


# --------------------------------------------------------------------------- the bad-input matrix


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    """A folder of good and bad inputs for the matrix."""
    d = tmp_path
    (d / "good.yaml").write_text(GOOD)
    (d / "syntax.yaml").write_text("data:\n  name: synthetic\nmodel: {name: mlp\noptimizer: {lr: 1}\n")
    (d / "empty.yaml").write_text("")
    (d / "comments.yaml").write_text("# nothing but a comment\n")
    (d / "list.yaml").write_text("- data\n- model\n")
    (d / "scalar.yaml").write_text("just a string\n")
    (d / "section.yaml").write_text("optimiser: {name: SGD, lr: 0.1}\n")
    (d / "key.yaml").write_text(GOOD.replace("train: {epochs: 2", "train: {epoch: 2"))
    (d / "type.yaml").write_text(GOOD.replace("epochs: 2", "epochs: ten"))
    (d / "section_type.yaml").write_text("optimizer: 0.1\n")
    (d / "mnist.yaml").write_text(GOOD.replace("data: {name: synthetic, n_samples: 200, n_features: 8, "
                                               "n_classes: 3,", f"data: {{name: mnist, root: '{d}/nodata',"))
    (d / "bin.yaml").write_bytes(b"\xff\xfe\x00bad")
    (d / "adir").mkdir()
    (d / "busy").mkdir()
    (d / "busy" / "keep.txt").write_text("mine")
    (d / "afile").write_text("a regular file")
    (d / "notrun").mkdir()
    (d / "notrun" / "notes.txt").write_text("x")
    for name, s in {
        "done": {"command": "train", "status": "completed"},
        "findrun": {"command": "find-lr", "status": "completed", "lr": 0.1,
                    "clr": {"base_lr": 0.01, "max_lr": 0.1}, "onecycle": {"max_lr": 0.1}},
        "nolr": {"command": "find-lr", "status": "completed", "lr": None, "clr": None, "onecycle": None,
                 "suggestions": {"steepest": None, "valley": None, "minimum": None},
                 "notes": ["the loss never fell: no learning rate in this range trains the model"]},
    }.items():
        write_run(d / name, summary=s, config=GOOD)
    # a damaged run: the writer never leaves one like this, so it is written by hand
    write_run(d / "badjson", config=GOOD)
    (d / "badjson" / "summary.json").write_text("{ not json")
    return d


# (id, arguments with {d} for the folder, the text (or texts) the one line must hold)
MATRIX = [
    # the config file itself
    ("missing-config", ["train", "{d}/nope.yaml", "--out", "{d}/out"], "nope.yaml: config file not found"),
    ("config-is-a-directory", ["train", "{d}/adir", "--out", "{d}/out"], "is a directory, expected a YAML"),
    ("yaml-syntax-error", ["train", "{d}/syntax.yaml", "--out", "{d}/out"], "YAML syntax error at line 4"),
    ("empty-file", ["train", "{d}/empty.yaml", "--out", "{d}/out"], "config file is empty"),
    ("only-comments", ["find-lr", "{d}/comments.yaml", "--out", "{d}/out"], "config file is empty"),
    ("top-level-list", ["train", "{d}/list.yaml", "--out", "{d}/out"],
     "expected a mapping of sections at the top level, got list"),
    ("top-level-scalar", ["preview", "{d}/scalar.yaml", "--out", "{d}/out"],
     "expected a mapping of sections at the top level, got str"),
    ("not-utf8", ["train", "{d}/bin.yaml", "--out", "{d}/out"], "bin.yaml: cannot read config file"),
    # the schema
    ("unknown-section", ["train", "{d}/section.yaml", "--out", "{d}/out"],
     "unknown section 'optimiser' (did you mean 'optimizer'?)"),
    ("unknown-section-from-set", ["train", "{d}/good.yaml", "--set", "sheduler.name=step", "--out", "{d}/out"],
     "--set sheduler.name: unknown section 'sheduler'"),
    ("unknown-key", ["train", "{d}/key.yaml", "--out", "{d}/out"],
     "train.epoch: unknown key 'epoch' (did you mean 'epochs'?)"),
    ("wrong-type", ["train", "{d}/type.yaml", "--out", "{d}/out"],
     "type.yaml: train.epochs: expected a valid integer, got 'ten'"),
    ("section-not-a-mapping", ["train", "{d}/section_type.yaml", "--out", "{d}/out"],
     "optimizer: expected a mapping"),
    ("negative-lr", ["train", "{d}/good.yaml", "--set", "optimizer.lr=-0.1", "--out", "{d}/out"],
     "--set optimizer.lr: expected a value greater than 0, got -0.1"),
    ("zero-lr", ["find-lr", "{d}/good.yaml", "--set", "optimizer.lr=0", "--out", "{d}/out"],
     "--set optimizer.lr: expected a value greater than 0, got 0"),
    ("batch-size-0", ["train", "{d}/good.yaml", "--set", "data.batch_size=0", "--out", "{d}/out"],
     "data.batch_size: expected a value greater than 0, got 0"),
    ("zero-epochs", ["train", "{d}/good.yaml", "--epochs", "0", "--out", "{d}/out"],
     "train.epochs: expected a value greater than 0, got 0"),
    ("end-lr-below-start-lr", ["find-lr", "{d}/good.yaml", "--start-lr", "1", "--end-lr", "0.1", "--out", "{d}/out"],
     "find_lr.end_lr: must be greater than start_lr (1), got 0.1"),
    ("end-lr-equals-start-lr", ["find-lr", "{d}/good.yaml", "--start-lr", "0.1", "--end-lr", "0.1",
                                "--out", "{d}/out"], "must be greater than start_lr"),
    ("num-iter-1", ["find-lr", "{d}/good.yaml", "--num-iter", "1", "--out", "{d}/out"],
     "find_lr.num_iter: expected a value greater than or equal to 2, got 1"),
    ("bad-sweep-mode", ["find-lr", "{d}/good.yaml", "--mode", "expo", "--out", "{d}/out"],
     "expected 'exp' or 'linear', got 'expo'"),
    ("bad-precision", ["train", "{d}/good.yaml", "--set", "train.precision=fp8", "--out", "{d}/out"],
     "expected 'fp32', 'bf16' or 'fp16', got 'fp8'"),
    ("bad-monitor", ["train", "{d}/good.yaml", "--set", "train.monitor=acc", "--out", "{d}/out"],
     "--set train.monitor: expected train_<metric> or val_<metric> with <metric> loss or a metric's column "
     "(loss, acc, f1, precision, recall, exact_match, mae, mse, rmse, r2, top<k>), got 'acc'"),
    # registry names, with the valid choices
    ("unknown-dataset", ["train", "{d}/good.yaml", "--set", "data.name=digitz", "--out", "{d}/out"],
     ("unknown dataset 'digitz' (did you mean 'digits'?); valid choices: ", "synthetic", "mnist")),
    ("unknown-model", ["train", "{d}/good.yaml", "--set", "model.name=mlpp", "--out", "{d}/out"],
     ("model.name: unknown model 'mlpp' (did you mean 'mlp'?); valid choices: mlp, convnet", "torchvision",
      "'package.module:callable'")),
    ("unknown-optimizer", ["train", "{d}/good.yaml", "--set", "optimizer.name=SDG", "--out", "{d}/out"],
     ("optimizer.name: unknown optimizer 'SDG' (did you mean 'SGD'?); valid choices: ", "AdamW")),
    ("unknown-schedule", ["train", "{d}/good.yaml", "--schedule", "cosinus", "--out", "{d}/out"],
     ("--schedule: unknown schedule 'cosinus' (did you mean 'cosine'?); valid choices: ", "OneCycleLR")),
    ("unknown-schedule-in-config", ["preview", "{d}/good.yaml", "--set", "schedule.name=stepp", "--out", "{d}/out"],
     ("schedule.name: unknown schedule 'stepp'", "valid choices: ", "StepLR")),
    ("unknown-loss", ["train", "{d}/good.yaml", "--set", "loss.name=cross_entropi", "--out", "{d}/out"],
     ("loss.name: unknown loss 'cross_entropi' (did you mean 'cross_entropy'?); valid choices: ", "mse")),
    ("user-model-not-importable", ["train", "{d}/good.yaml", "--set", "model.name=no_such_module_zz:make",
                                   "--out", "{d}/out"], "cannot import module 'no_such_module_zz'"),
    ("user-model-no-attribute", ["train", "{d}/good.yaml", "--set", "model.name=json:nope", "--out", "{d}/out"],
     "'json' has no attribute 'nope'"),
    # keyword arguments of torch classes: the argument is named
    ("optimizer-unknown-argument", ["train", "{d}/good.yaml", "--set", "optimizer.momentumm=0.9",
                                    "--out", "{d}/out"], "optimizer.momentumm: unknown argument (did you mean "
                                                         "'momentum'?)"),
    ("optimizer-bad-value", ["train", "{d}/good.yaml", "--set", "optimizer.momentum=-1", "--out", "{d}/out"],
     "SGD rejected its arguments: Invalid momentum value"),
    ("schedule-unknown-argument", ["train", "{d}/good.yaml", "--set", "schedule={name: StepLR, step_size: 1, "
                                   "gama: 0.5}", "--out", "{d}/out"], "schedule.gama: unknown argument for StepLR "
                                                                      "(did you mean 'gamma'?)"),
    ("loss-unknown-argument", ["train", "{d}/good.yaml", "--set", "loss.label_smoothin=0.1", "--out", "{d}/out"],
     "loss.label_smoothin: unknown argument (did you mean 'label_smoothing'?)"),
    ("model-unknown-argument", ["train", "{d}/good.yaml", "--set", "model.hiden=[8]", "--out", "{d}/out"],
     "model.hiden: unknown argument (did you mean 'hidden'?)"),
    ("dataset-unknown-argument", ["train", "{d}/good.yaml", "--set", "data.n_featurs=4", "--out", "{d}/out"],
     "data.n_featurs: unknown argument (did you mean 'n_features'?)"),
    # malformed --set
    ("set-without-equals", ["train", "{d}/good.yaml", "--set", "optimizer.lr", "--out", "{d}/out"],
     "--set 'optimizer.lr': expected KEY=VALUE"),
    ("set-without-key", ["train", "{d}/good.yaml", "--set", "=3", "--out", "{d}/out"], "expected a dotted key"),
    ("set-bad-yaml", ["train", "{d}/good.yaml", "--set", "schedule.milestones=[3, 7", "--out", "{d}/out"],
     "--set schedule.milestones: value '[3, 7' is not valid YAML"),
    ("set-into-a-scalar", ["train", "{d}/good.yaml", "--set", "seed.value=3", "--out", "{d}/out"],
     "'seed' holds the value 0, not a section that can hold 'value'"),
    # data on disk
    ("missing-data-root", ["train", "{d}/mnist.yaml", "--out", "{d}/out"],
     ("data.root: no MNIST files under", "(expected ", "train-images-idx3-ubyte", "needs a network")),
    # the run directory
    ("out-not-empty", ["train", "{d}/good.yaml", "--out", "{d}/busy"], "already exists and is not empty"),
    ("out-is-a-file", ["find-lr", "{d}/good.yaml", "--out", "{d}/afile"], "already exists and is not empty"),
    ("out-unwritable", ["train", "{d}/good.yaml", "--out", "{d}/afile/run"],
     "/afile/run: cannot create the run directory"),
    # --resume and --lr-from
    ("resume-not-a-run", ["train", "--resume", "{d}/notrun"], "not a run directory (expected config.yaml and "
                                                               "summary.json)"),
    ("resume-missing", ["train", "--resume", "{d}/nowhere"], "not a run directory"),
    ("resume-completed", ["train", "--resume", "{d}/done"], "the run already completed; nothing to resume"),
    ("resume-find-lr-run", ["train", "--resume", "{d}/findrun"], "expected a train run, got a 'find-lr' run"),
    ("resume-bad-summary", ["train", "--resume", "{d}/badjson"], "summary.json is not valid JSON"),
    ("resume-with-set", ["train", "--resume", "{d}/done", "--set", "optimizer.lr=1"], "its own config.yaml"),
    ("lr-from-without-suggestions", ["train", "{d}/good.yaml", "--lr-from", "{d}/nolr", "--out", "{d}/out"],
     "the run has no suggestions (the loss never fell"),
    ("lr-from-not-a-run", ["train", "{d}/good.yaml", "--lr-from", "{d}/notrun", "--out", "{d}/out"],
     "not a run directory (no summary.json)"),
    ("lr-from-a-train-run", ["train", "{d}/good.yaml", "--lr-from", "{d}/done", "--out", "{d}/out"],
     "expected a find-lr run, got a 'train' run"),
    # devices
    ("cuda-on-a-cpu-machine", ["train", "{d}/good.yaml", "--device", "cuda", "--out", "{d}/out"],
     "device: 'cuda' requested but CUDA is not available on this machine"),
    ("cuda-index-on-a-cpu-machine", ["find-lr", "{d}/good.yaml", "--device", "cuda:1", "--out", "{d}/out"],
     "device: 'cuda:1' requested but CUDA is not available"),
    ("no-such-device-kind", ["train", "{d}/good.yaml", "--device", "tpu", "--out", "{d}/out"],
     "expected one of auto, cpu, cuda, cuda:N, mps, got 'tpu'"),
    ("fp16-without-cuda", ["train", "{d}/good.yaml", "--set", "train.precision=fp16", "--out", "{d}/out"],
     "train.precision: fp16 needs a CUDA device"),
    # the command line itself
    ("option-not-a-number", ["train", "{d}/good.yaml", "--epochs", "ten", "--out", "{d}/out"],
     "Invalid value for '--epochs'"),
    ("unknown-option", ["train", "{d}/good.yaml", "--epoch", "3", "--out", "{d}/out"], "No such option: --epoch"),
    ("unknown-command", ["trian", "{d}/good.yaml"], "No such command 'trian'"),
    # compare
    ("compare-nothing", ["compare"], "Missing argument"),
    ("compare-not-a-run", ["compare", "{d}/notrun", "--out", "{d}/out"], "not a run directory"),
    ("compare-missing-dir", ["compare", "{d}/nowhere", "--out", "{d}/out"], "no such run directory"),
]
NEEDS_NO_CUDA = {"cuda-on-a-cpu-machine", "cuda-index-on-a-cpu-machine", "fp16-without-cuda"}


def test_the_matrix_is_large_enough():
    assert len(MATRIX) >= 30 and len({case[0] for case in MATRIX}) == len(MATRIX)


@pytest.mark.parametrize("args, expected", [case[1:] for case in MATRIX], ids=[case[0] for case in MATRIX])
def test_bad_input_is_one_line_and_exit_2(bad, args, expected, request):
    if request.node.callspec.id in NEEDS_NO_CUDA and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    before = sorted(p.relative_to(bad) for p in bad.rglob("*"))
    res = invoke(*[a.replace("{d}", str(bad)) for a in args])
    assert res.exit_code == 2, res.output
    line = error_line(res)
    for text in (expected,) if isinstance(expected, str) else expected:
        assert text in line
    assert not (bad / "out").exists()  # nothing is created before the input is known to be good
    assert sorted(p.relative_to(bad) for p in bad.rglob("*")) == before  # nor anything else touched


def test_bad_input_through_a_real_process(bad):
    for args, expected in ((["train", bad / "nope.yaml"], "config file not found"),
                           (["find-lr", bad / "good.yaml", "--set", "model.name=mlpp", "--out", bad / "out"],
                            "unknown model 'mlpp'")):
        res = subprocess.run([sys.executable, "-m", "lrtool", *map(str, args)], capture_output=True, text=True,
                             cwd=ROOT, timeout=60)
        assert res.returncode == 2, res.stderr
        assert res.stdout == ""
        assert res.stderr.count("\n") == 1 and res.stderr.startswith("lrtool: error: ") and expected in res.stderr


def test_debug_shows_the_traceback_of_a_bad_input(bad):
    res = invoke("--debug", "train", bad / "good.yaml", "--set", "model.name=mlpp", "--out", bad / "out")
    assert res.exit_code != 0 and isinstance(res.exception, LrtoolError)


# --------------------------------------------------------------------------- crashes and divergence

USER_MODEL = """\
import torch


class Net(torch.nn.Module):
    def __init__(self, input_shape, num_classes, fail_at=4, nan_at=0):
        super().__init__()
        self.fc = torch.nn.Linear(input_shape[0], num_classes)
        self.calls, self.fail_at, self.nan_at = 0, fail_at, nan_at

    def forward(self, x):
        self.calls += 1  # calls 1 and 2 are lrtool's checks before training (model; loss and metrics)
        if self.calls == self.fail_at:
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (32x8 and 5x3)\\n(a second line)")
        out = self.fc(x)
        if self.nan_at and self.calls >= self.nan_at:
            out = out * float("nan")
        return out


def make(input_shape, num_classes, fail_at=4, nan_at=0):
    return Net(input_shape, num_classes, fail_at, nan_at)
"""


@pytest.fixture
def user_model(tmp_path: Path, monkeypatch) -> Path:
    """`crashy_model:make` importable in this process and in subprocesses started in tmp_path."""
    (tmp_path / "crashy_model.py").write_text(USER_MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("crashy_model", None)
    return write_base_config(tmp_path, "user.yaml", GOOD
                             .replace("model: {name: mlp, hidden: [16]}", "model: {name: 'crashy_model:make'}")
                             .replace("train: {epochs: 2, plots: false}",
                                      "train: {epochs: 3, plots: false, log_every: 1}"))


def test_an_exception_inside_training_fails_the_run_and_keeps_the_logs(user_model, tmp_path):
    run = tmp_path / "run"
    res = invoke("train", user_model, "--out", run)
    assert res.exit_code == 1, res.output
    errors = [line for line in res.output.splitlines() if line.startswith("lrtool: error:")]
    assert len(errors) == 1 and "Traceback" not in res.output
    assert "training failed at step 1: RuntimeError: mat1 and mat2 shapes cannot be multiplied" in errors[0]
    assert "(a second line)" in errors[0]  # the message is kept, on one line
    s = summary(run)
    assert s["status"] == "failed" and s["exit_code"] == 1
    assert s["error"].startswith("RuntimeError: mat1 and mat2 shapes cannot be multiplied")
    assert (run / "config.yaml").exists()
    assert [r["step"] for r in rows(run / "steps.csv")] == ["0"]  # the step before the crash is logged
    assert (run / "epochs.csv").read_text().startswith("epoch,step,lr,")


def test_debug_shows_the_full_traceback_of_a_crash(user_model, tmp_path):
    res = invoke("--debug", "train", user_model, "--out", tmp_path / "run")
    assert res.exit_code == 1
    assert isinstance(res.exception, RunFailed) and isinstance(res.exception.__cause__, RuntimeError)
    assert summary(tmp_path / "run")["status"] == "failed"


def test_an_exception_inside_the_range_test_fails_the_run(user_model, tmp_path):
    run = tmp_path / "run"
    res = invoke("find-lr", user_model, "--out", run)
    assert res.exit_code == 1, res.output
    assert "range test failed: RuntimeError: mat1 and mat2" in error_line(res)
    s = summary(run)
    assert s["status"] == "failed" and "mat1 and mat2" in s["error"]
    assert (run / "lr_find.csv").read_text().splitlines()[1].startswith("0,")


def test_nan_mid_run_keeps_the_last_good_checkpoint(user_model, tmp_path):
    run = tmp_path / "run"
    # forward calls: 1-2 the checks (model; loss and metrics), 3-7 the 5 steps of epoch 1, 8 validation,
    # 9-13 epoch 2, 14 validation: the outputs turn NaN at the first step of epoch 3, after two good checkpoints
    res = invoke("train", user_model, "--out", run, "--set", "model.fail_at=0", "--set", "model.nan_at=15")
    assert res.exit_code == 1, res.output
    s = summary(run)
    assert s["status"] == "diverged" and s["stop"]["reason"] == "non_finite" and s["exit_code"] == 1
    assert s["progress"]["epoch"] == 2 and s["stop"]["step"] == 10
    steps = rows(run / "steps.csv")
    assert [int(r["step"]) for r in steps] == list(range(s["stop"]["step"] + 1)) and steps[-1]["loss"] == "nan"
    assert all(r["loss"] != "nan" for r in steps[:-1])
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    assert ckpt["progress"]["epoch"] == s["progress"]["epoch"]
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())
    assert "diverged" in res.output and "loss became non-finite" in res.output
    assert s["stop"]["message"].endswith("the last good checkpoint is checkpoints/last.pt")


def test_find_lr_with_an_absurd_lr_stops_and_lr_from_refuses_it(tmp_path):
    cfg = write_base_config(tmp_path, "c.yaml", GOOD)
    find = tmp_path / "find"
    res = invoke("find-lr", cfg, "--out", find, "--start-lr", "1e6", "--end-lr", "1e9")
    assert res.exit_code == 0, res.output
    s = summary(find)
    assert s["status"] == "completed" and s["stop"]["reason"] in ("diverged", "non_finite")
    assert s["lr"] is None and s["notes"]
    res = invoke("train", cfg, "--lr-from", find, "--out", tmp_path / "run")
    assert res.exit_code == 2 and "has no suggestions" in error_line(res)


def test_a_stop_request_ends_the_sweep_and_restores_the_model(tmp_path):
    from lrtool.config import load_config
    from lrtool.run.build import build
    from lrtool.run.finder import range_test

    setup = build(load_config(write_base_config(tmp_path, "c.yaml", GOOD)))
    before = {k: v.clone() for k, v in setup.model.state_dict().items()}
    asked = []
    result = range_test(setup.model, setup.optimizer, setup.loss_fn, setup.data.train, setup.cfg.find_lr,
                        batch_size=32, precision=setup.precision, generator=setup.generator,
                        should_stop=lambda: asked.append(1) or len(asked) >= 5)
    assert result.stop_reason == "interrupted" and len(result.rows) == 5
    assert all(torch.equal(before[k], v) for k, v in setup.model.state_dict().items())


# --------------------------------------------------------------------------- real signals


LONG = """\
seed: 0
device: cpu
data: {name: synthetic, n_samples: 200, n_features: 8, n_classes: 3, batch_size: 32}
model: {name: mlp, hidden: [16]}
optimizer: {name: SGD, lr: 0.05, momentum: 0.9}
schedule: {name: cosine}
train: {epochs: EPOCHS, plots: false, log_every: 2}
find_lr: {start_lr: 1.0e-6, end_lr: 1.0e-5, num_iter: 100000}
"""


def start(args: list, tmp_path: Path) -> subprocess.Popen:
    """`python -m lrtool ARGS` in its own process, output to files (a full pipe would block it)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    with open(tmp_path / "proc.out", "w") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "lrtool", *map(str, args)], cwd=tmp_path, env=env,
                                stdout=out, stderr=subprocess.STDOUT)


def output(tmp_path: Path) -> str:
    return (tmp_path / "proc.out").read_text()


def wait_for(proc: subprocess.Popen, tmp_path: Path, ready, timeout: float = 60) -> None:
    """Poll until `ready()` holds (the process must still be running)."""
    end = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"exited {proc.returncode} too early:\n{output(tmp_path)}"
        assert time.monotonic() < end, f"timed out:\n{output(tmp_path)}"
        time.sleep(0.02)


def data_lines(path: Path) -> int:
    try:
        return max(0, path.read_bytes().count(b"\n") - 1)
    except FileNotFoundError:
        return 0


def intact_rows(path: Path) -> tuple[list[str], list[dict[str, str]], bool]:
    """(header, rows, ends cleanly): every complete line must parse into the header's columns."""
    text = path.read_text(encoding="utf-8")
    complete, _, partial = text.rpartition("\n")
    lines = complete.split("\n")
    header = next(csv.reader([lines[0]]))
    parsed = []
    for line in lines[1:]:
        cells = next(csv.reader(io.StringIO(line)))
        assert len(cells) == len(header), f"broken row {line!r} in {path}"
        for cell in cells:
            if cell:
                float(cell)  # every value is a number
        parsed.append(dict(zip(header, cells)))
    return header, parsed, partial == ""


def long_config(tmp_path: Path, epochs: int) -> Path:
    return write_base_config(tmp_path, "long.yaml", LONG.replace("EPOCHS", str(epochs)))


def check_finished_run(run: Path) -> None:
    """A resumed run that completed: every step and epoch logged exactly once, in order."""
    s = summary(run)
    assert s["status"] == "completed" and s["resumed"] >= 1
    _, steps, clean = intact_rows(run / "steps.csv")
    assert clean and [int(r["step"]) for r in steps] == list(range(s["total_steps"]))
    _, epochs, clean = intact_rows(run / "epochs.csv")
    assert clean and [int(r["epoch"]) for r in epochs] == list(range(1, s["epochs"] + 1))


@pytest.mark.parametrize("sig, code", [
    (signal.SIGINT, 130), (signal.SIGTERM, 143),
    pytest.param(getattr(signal, "SIGHUP", 1), 129,
                 marks=pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform"))],
    ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_during_train_stops_cleanly_and_resume_completes(tmp_path, sig, code):
    run = tmp_path / "run"
    proc = start(["train", long_config(tmp_path, 20), "--out", run], tmp_path)
    try:
        wait_for(proc, tmp_path, lambda: data_lines(run / "steps.csv") >= 10)
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == code, output(tmp_path)
    finally:
        proc.kill()
    s = summary(run)
    assert s["status"] == "interrupted" and s["exit_code"] == code
    assert s["stop"]["reason"] == "interrupted" and signal.Signals(sig).name in s["stop"]["message"]
    assert f"lrtool train --resume {run}" in s["stop"]["message"]
    assert s["progress"]["step"] < s["total_steps"]
    # the current step was finished and every step up to it logged; the checkpoint is at that step
    header, steps, clean = intact_rows(run / "steps.csv")
    assert clean and header[:4] == ["step", "epoch", "lr", "loss"]
    assert [int(r["step"]) for r in steps] == list(range(s["progress"]["step"]))
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    assert ckpt["progress"]["step"] == s["progress"]["step"]
    assert "Traceback" not in output(tmp_path)
    res = invoke("train", "--resume", run)
    assert res.exit_code == 0, res.output
    check_finished_run(run)


def test_kill_9_loses_at_most_one_row_and_resume_restarts_from_the_checkpoint(tmp_path):
    run = tmp_path / "run"
    proc = start(["train", long_config(tmp_path, 20), "--out", run], tmp_path)
    try:
        # past the first checkpoint, with rows logged after it
        wait_for(proc, tmp_path, lambda: (run / "checkpoints" / "last.pt").exists()
                 and data_lines(run / "epochs.csv") >= 3 and data_lines(run / "steps.csv") >= 22)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        proc.kill()
    s = summary(run)  # still parses: it is only ever replaced whole
    assert s["status"] == "running" and s["command"] == "train"
    header, steps, _ = intact_rows(run / "steps.csv")
    assert header[:4] == ["step", "epoch", "lr", "loss"]
    assert [int(r["step"]) for r in steps] == list(range(len(steps)))
    _, epochs, _ = intact_rows(run / "epochs.csv")
    assert [int(r["epoch"]) for r in epochs] == list(range(1, len(epochs) + 1))
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    assert 1 <= ckpt["progress"]["epoch"] <= len(epochs)
    yaml.safe_load((run / "config.yaml").read_text())
    # compare reads a killed run
    res = invoke("compare", run, "--out", tmp_path / "cmp", "--format", "json")
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.stdout[res.stdout.index("["):])
    assert row["status"] == "running" and row["steps_done"] == len(steps)
    assert re.fullmatch(r"stopped at step \d+ \(killed\?\)", row["status_label"])  # its lock's process is gone
    assert f"continue with: lrtool train --resume {run}" in res.output.replace("\n", "")
    res = invoke("train", "--resume", run)
    assert res.exit_code == 0, res.output
    assert f"resuming {run}" in res.output.replace("\n", "")
    check_finished_run(run)


@pytest.mark.parametrize("closed", ["stdout", "stdout+stderr"])
def test_a_closed_output_pipe_never_changes_how_a_train_run_ends(tmp_path, closed):
    # `lrtool train ... | head -2` (or `2>&1 | head -1`): the reader is gone before lrtool writes (its read
    # end is closed at once), so every write meets a closed pipe
    run = tmp_path / "run"
    cfg = write_base_config(tmp_path, text=GOOD)
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    with open(tmp_path / "err.txt", "w") as err:
        proc = subprocess.run([sys.executable, "-m", "lrtool", "train", cfg, "--out", run], cwd=tmp_path, env=env,
                              stdout=write_end, stderr=write_end if closed == "stdout+stderr" else err, timeout=120)
    os.close(write_end)
    assert proc.returncode == 0, (tmp_path / "err.txt").read_text()
    assert (tmp_path / "err.txt").read_text().strip() == ""  # nothing blamed on user code, no traceback
    s = summary(run)
    assert s["status"] == "completed" and s["exit_code"] == 0
    assert [int(r["epoch"]) for r in rows(run / "epochs.csv")] == [1, 2]
    assert not (run / runs_module.lock.LOCK_NAME).exists()


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_find_lr_keeps_the_partial_curve(tmp_path, sig, code):
    run = tmp_path / "run"
    proc = start(["find-lr", long_config(tmp_path, 2), "--out", run], tmp_path)
    try:
        wait_for(proc, tmp_path, lambda: data_lines(run / "lr_find.csv") >= 10)
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == code, output(tmp_path)
    finally:
        proc.kill()
    s = summary(run)
    assert s["status"] == "interrupted" and s["stop"]["reason"] == "interrupted"
    assert s["stop"]["signal"] == signal.Signals(sig).name
    header, curve, clean = intact_rows(run / "lr_find.csv")
    assert clean and header == ["step", "lr", "loss", "smoothed_loss"]
    assert [int(r["step"]) for r in curve] == list(range(len(curve))) and len(curve) == s["stop"]["steps_run"] >= 10
    assert (run / "lr_find.png").exists()
    assert "Traceback" not in output(tmp_path)


@pytest.mark.slow
def test_repeated_kill_9_then_resume_equals_an_uninterrupted_run(tmp_path):
    full = tmp_path / "full"
    cfg = long_config(tmp_path, 60)
    assert invoke("train", cfg, "--out", full).exit_code == 0
    run = tmp_path / "run"
    for i, at_step in enumerate((25, 90, 160)):
        args = ["train", cfg, "--out", run] if i == 0 else ["train", "--resume", run]
        proc = start(args, tmp_path)
        try:
            wait_for(proc, tmp_path, lambda: (run / "steps.csv").exists() and data_lines(run / "steps.csv") >= at_step)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
        finally:
            proc.kill()
        intact_rows(run / "steps.csv")
        assert summary(run)["status"] == "running"
    res = invoke("train", "--resume", run)
    assert res.exit_code == 0, res.output
    check_finished_run(run)

    def strip(path):
        return [{k: v for k, v in r.items() if k != "time_s"} for r in intact_rows(path)[1]]

    assert strip(run / "steps.csv") == strip(full / "steps.csv")
    assert strip(run / "epochs.csv") == strip(full / "epochs.csv")
    a = torch.load(full / "checkpoints" / "last.pt", weights_only=False)["model"]
    b = torch.load(run / "checkpoints" / "last.pt", weights_only=False)["model"]
    assert a and a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------- run directories and files


def test_runs_started_at_the_same_second_in_threads_get_their_own_directories(tmp_path):
    barrier = threading.Barrier(16)
    made, errors = [], []

    def create():
        try:
            barrier.wait()
            made.append(RunDir.create(None, "cfg", "train", root=tmp_path).path)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=create) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(made)) == 16 and all(p.is_dir() for p in made)


def test_runs_started_at_the_same_second_in_processes_get_their_own_directories(tmp_path):
    code = ("import sys, time; from lrtool.rundir import RunDir\n"
            "t = float(sys.argv[1])\n"
            "while time.time() < t: pass\n"
            "print(RunDir.create(None, 'cfg', 'train', root=sys.argv[2]).path)\n")
    at = time.time() + 1.5
    procs = [subprocess.Popen([sys.executable, "-c", code, str(at), str(tmp_path)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True) for _ in range(8)]
    paths = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(paths)) == 8 and len(list(tmp_path.iterdir())) == 8


def test_summary_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    run = RunDir.create(tmp_path / "run", "cfg", "train")
    run.write_summary({"status": "running", "n": 1})

    def crash(_fd):
        raise KeyboardInterrupt  # as if killed half-way through the write

    monkeypatch.setattr(runs_module.os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        run.write_summary({"status": "completed", "n": 2, "big": "x" * 100_000})
    assert summary(run.path) == {"status": "running", "n": 1}
    assert sorted(p.name for p in run.path.iterdir()) == ["summary.json"]  # no temporary file left


def test_checkpoint_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    from lrtool.config import load_config
    from lrtool.run import checkpoint
    from lrtool.run.build import build
    from lrtool.run.plan import make_schedule

    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(GOOD)
    setup = build(load_config(cfg_path))
    schedule, _plan = make_schedule(setup)
    path = tmp_path / "last.pt"
    checkpoint.save_checkpoint(setup, schedule, checkpoint.Progress(step=5), [path])
    real_save = torch.save

    def half_save(obj, f, *a, **k):
        buf = io.BytesIO()
        real_save(obj, buf, *a, **k)
        Path(f).write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
        raise KeyboardInterrupt  # killed while writing

    monkeypatch.setattr(checkpoint.torch, "save", half_save)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_checkpoint(setup, schedule, checkpoint.Progress(step=9), [path])
    assert torch.load(path, weights_only=False)["progress"]["step"] == 5


def test_an_unexpected_error_says_how_to_see_its_traceback(tmp_path, monkeypatch):
    """The hint names --debug where it goes: before the command (it is the app's option)."""
    from lrtool.commands import find_lr as command

    def broken(*a, **k):
        raise ValueError("something lrtool did not foresee")

    monkeypatch.setattr(command, "find_lr", broken)
    res = invoke("find-lr", "--out", tmp_path / "run")
    assert res.exit_code == 1
    assert ("lrtool: error: ValueError: something lrtool did not foresee "
            "(for the traceback: lrtool --debug <command> ...)") in res.output

"""`lrtool find-lr` and `lrtool list` through the CLI: files written, text shown, exit codes."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import interrupt_at, invoke, rows, summary, write_base_config

ROOT = Path(__file__).resolve().parents[1]

SYNTH = """\
seed: 1
device: cpu
data: {name: synthetic, n_samples: 256, n_features: 8, n_classes: 3, batch_size: 32}
model: {name: mlp, hidden: [16]}
optimizer: {name: SGD, lr: 0.01, momentum: 0.9}
find_lr: {start_lr: 1.0e-4, end_lr: 100, num_iter: 60, smooth: 0.9}
"""


@pytest.fixture
def synth(tmp_path: Path) -> Path:
    return write_base_config(tmp_path, text=SYNTH)


def test_find_lr_writes_every_file(synth, tmp_path):
    out = tmp_path / "run"
    res = invoke("find-lr", synth, "--out", out)
    assert res.exit_code == 0, res.output
    assert {p.name for p in out.iterdir()} == {"config.yaml", "summary.json", "lr_find.csv", "lr_find.png"}
    curve = rows(out / "lr_find.csv")
    assert list(curve[0]) == ["step", "lr", "loss", "smoothed_loss"]
    assert float(curve[0]["lr"]) == pytest.approx(1e-4)
    s = summary(out)
    assert s["status"] == "completed" and s["command"] == "find-lr"
    assert s["stop"]["reason"] in ("diverged", "non_finite", "completed")
    assert s["stop"]["steps_run"] == len(curve)
    assert set(s["suggestions"]) == {"steepest", "valley", "valley_trimmed", "minimum"}
    assert s["lr"] > 0 and s["clr"]["base_lr"] < s["clr"]["max_lr"]
    assert s["onecycle"]["max_lr"] >= s["clr"]["max_lr"]
    assert {"python", "torch", "lrtool"} <= set(s["versions"])
    assert s["device"] == "cpu" and s["seed"] == 1
    assert s["timings"]["sweep_s"] > 0
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["find_lr"]["num_iter"] == 60 and resolved["data"]["n_features"] == 8
    assert (out / "lr_find.png").read_bytes()[:4] == b"\x89PNG"
    # the terminal shows the table and a YAML snippet that parses
    assert "suggested learning rates" in res.output and "valley" in res.output
    text = res.output[res.output.index("optimizer:"):res.output.index("wrote")]
    snippet = yaml.safe_load(text)
    assert snippet["schedule"]["cyclic"]["max_lr"] == pytest.approx(s["clr"]["max_lr"], rel=1e-2)


def test_options_override_the_config_and_validation_is_recorded(synth, tmp_path):
    out = tmp_path / "run"
    res = invoke("find-lr", synth, "--out", out, "--start-lr", "1e-3", "--end-lr", "1",
                 "--num-iter", "12", "--mode", "linear", "--set", "find_lr.val_every=4",
                 "--set", "find_lr.val_samples=40", "--device", "cpu")
    assert res.exit_code == 0, res.output
    curve = rows(out / "lr_find.csv")
    assert list(curve[0]) == ["step", "lr", "loss", "smoothed_loss", "val_loss", "val_acc"]
    assert len(curve) == 12 and float(curve[-1]["lr"]) == 1.0
    assert float(curve[1]["lr"]) == pytest.approx(1e-3 + (1 - 1e-3) / 11)
    assert [r["step"] for r in curve if r["val_acc"]] == ["0", "4", "8", "11"]
    s = summary(out)
    assert s["sweep"]["mode"] == "linear" and s["sweep"]["val_samples"] == 40


def test_same_seed_same_curve(synth, tmp_path):
    for name in ("a", "b"):
        assert invoke("find-lr", synth, "--out", tmp_path / name, "--num-iter", "15").exit_code == 0
    a, b = (rows(tmp_path / n / "lr_find.csv") for n in ("a", "b"))
    assert a and a == b


def test_default_run_directory_under_runs(synth, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = invoke("find-lr", synth, "--num-iter", "10")
    assert res.exit_code == 0, res.output
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("synth-find-lr-")


@pytest.mark.parametrize("args, expected", [
    (["--set", "optimizer.lr=-1"], "--set optimizer.lr: expected a value greater than 0, got -1"),
    (["--end-lr", "1e-9"], "--set find_lr.end_lr: must be greater than start_lr"),
    (["--mode", "expo"], "expected 'exp' or 'linear', got 'expo'"),
    (["--set", "model.name=mlpp"], "model.name: unknown model 'mlpp' (did you mean 'mlp'?)"),
    (["--set", "optimizer.name=adamw2"], "unknown optimizer 'adamw2' (did you mean 'AdamW'?)"),
    (["--set", "data.name=digitz"], "unknown dataset 'digitz' (did you mean 'digits'?)"),
    (["--set", "loss.name=cross_entropi"], "unknown loss 'cross_entropi' (did you mean 'cross_entropy'?)"),
    (["--set", "model.hiden=[3]"], "model.hiden: unknown argument (did you mean 'hidden'?)"),
    (["--set", "optimizer.momentum=-1"], "optimizer: SGD rejected its arguments: Invalid momentum value"),
    (["--set", "data.batch_size=0"], "data.batch_size: expected a value greater than 0, got 0"),
    (["--device", "cuda"], "device: 'cuda' requested but CUDA is not available"),
    (["--set", "optimizer.lr"], "expected KEY=VALUE"),
])
def test_bad_input_is_one_line_and_exit_2(synth, tmp_path, args, expected):
    import torch

    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = tmp_path / "run"
    res = invoke("find-lr", synth, "--out", out, *args)
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("lrtool: error: "), res.output
    assert expected in lines[0]
    assert "Traceback" not in res.output
    assert not out.exists()  # nothing is created before the config is known to be good


def test_missing_config_and_existing_out(synth, tmp_path):
    res = invoke("find-lr", tmp_path / "nope.yaml")
    assert res.exit_code == 2 and "config file not found" in res.output
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x")
    res = invoke("find-lr", synth, "--out", busy)
    assert res.exit_code == 2 and "already exists and is not empty" in res.output
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]


def test_list_shows_every_registry():
    res = invoke("list")
    assert res.exit_code == 0, res.output
    for word in ("datasets", "digits", "synthetic", "mnist", "cifar10", "imagefolder", "models", "mlp",
                 "convnet", "lenet", "resnet18", "optimizers", "SGD", "AdamW", "losses", "cross_entropy",
                 "mse", "schedules"):
        assert word in res.output


def test_python_dash_m_and_help_do_not_import_torch():
    code = ("import sys, runpy; sys.argv = ['lrtool', '--help']\n"
            "try:\n    runpy.run_module('lrtool', run_name='__main__')\nexcept SystemExit as e:\n"
            "    assert e.code == 0, e.code\n"
            "heavy = [m for m in ('torch', 'torchvision', 'pandas', 'matplotlib') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert "find-lr" in res.stdout


def _find_lr_in_a_process(config: Path, out: Path, *sets: str) -> subprocess.CompletedProcess:
    """`lrtool find-lr` through the console entry point in a fresh process; prints the modules it loaded."""
    code = ("import atexit, sys\n"
            "atexit.register(lambda: print('torchmetrics loaded:', 'torchmetrics' in sys.modules))\n"
            f"sys.argv = ['lrtool', 'find-lr', {str(config)!r}, '--out', {str(out)!r}, "
            + "".join(f"'--set', {s!r}, " for s in sets) + "]\n"
            "from lrtool.cli import main\nmain()\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)


def test_a_range_test_without_validation_does_not_load_torchmetrics_but_still_checks_the_metrics(synth, tmp_path):
    """torchmetrics costs ~2.5 s to import; find-lr measures metrics only when it validates."""
    res = _find_lr_in_a_process(synth, tmp_path / "a", "find_lr.val_every=0")
    assert res.returncode == 0, res.stderr
    assert "torchmetrics loaded: False" in res.stdout
    res = _find_lr_in_a_process(synth, tmp_path / "n", "find_lr.val_every=5", "data.val_fraction=0")
    assert res.returncode == 0, res.stderr
    assert "torchmetrics loaded: False" in res.stdout  # no validation split: nothing to measure them on
    res = _find_lr_in_a_process(synth, tmp_path / "b", "find_lr.val_every=5")  # metric-vs-LR needs them
    assert res.returncode == 0, res.stderr
    assert "torchmetrics loaded: True" in res.stdout
    # a metric that cannot fit the task is still refused before the sweep, without torchmetrics
    res = _find_lr_in_a_process(synth, tmp_path / "c", "find_lr.val_every=0", "train.metrics=[mae]")
    assert res.returncode == 2, res.stderr
    assert "train.metrics" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("argv, code", [(["list"], 0), (["find-lr", "missing.yaml"], 2)])
def test_a_signal_during_the_interpreter_shutdown_keeps_the_commands_code_and_prints_no_traceback(argv, code):
    """A second Ctrl-C that lands after the command has finished (while torch's objects are torn down)."""
    script = ("import atexit, gc, os, signal, sys, time\n"
              "def late_signal():\n"
              "    print('frozen:', gc.get_freeze_count() > 0, flush=True)\n"
              "    os.kill(os.getpid(), signal.SIGINT)\n"
              "    os.kill(os.getpid(), signal.SIGTERM)\n"
              "    time.sleep(0.2)\n"
              "    print('ignored', flush=True)\n"
              "atexit.register(late_signal)\n"
              f"sys.argv = ['lrtool', *{argv!r}]\n"
              "from lrtool.cli import main\nmain()\n")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == code, res.stderr
    assert "frozen: True" in res.stdout and "ignored" in res.stdout
    assert "Traceback" not in res.stderr and "KeyboardInterrupt" not in res.stderr


@pytest.mark.parametrize("sig, code", [
    (signal.SIGINT, 130), (signal.SIGTERM, 143),
    pytest.param(getattr(signal, "SIGHUP", 1), 129,
                 marks=pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform"))],
    ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_an_interrupted_range_test_says_where_it_stopped_and_marks_its_suggestions_partial(
        synth, tmp_path, monkeypatch, sig, code):
    """The sweep never reached end_lr: no "raise end_lr", and what is printed is what summary.json holds."""
    interrupt_at(monkeypatch, 30, sig)
    out = tmp_path / "run"
    res = invoke("find-lr", synth, "--out", out)
    assert res.exit_code == code, res.output
    shown = " ".join(res.output.split())  # rich wraps long lines at the test console's width
    s, curve = summary(out), rows(out / "lr_find.csv")
    assert s["status"] == "interrupted" and s["partial"] is True and len(curve) == 30
    where = f"at lr {float(curve[-1]['lr']):.3g} (step 30 of 60); end_lr 100 not reached"
    assert s["stop"]["message"] == f"stopped by {signal.Signals(sig).name}: interrupted {where}"
    assert f"range test stopped by {signal.Signals(sig).name}: interrupted {where}" in shown
    assert "suggested learning rates (partial sweep)" in shown
    assert "end_lr to be sure" not in shown and s["shape"] != "never_rises"
    assert any(n.startswith("partial sweep:") for n in s["notes"])
    for note in s["notes"]:
        assert f"note: {note}" in shown
    assert s["lr"] is not None and f"lr: {s['lr']:.3g}" in shown


def test_an_interrupted_range_test_too_short_to_suggest_says_to_run_it_again(synth, tmp_path, monkeypatch):
    interrupt_at(monkeypatch, 3)
    out = tmp_path / "run"
    res = invoke("find-lr", synth, "--out", out)
    assert res.exit_code == 130, res.output
    s = summary(out)
    assert s["partial"] is True and s["lr"] is None and s["shape"] == "too_short"
    assert s["notes"] == ["only 3 usable steps: too few to suggest anything; run find-lr again and let it finish"]
    assert f"note: {s['notes'][0]}" in " ".join(res.output.split()) and "paste into your config" not in res.output
    assert "raise num_iter" not in res.output

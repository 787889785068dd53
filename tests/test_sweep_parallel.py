"""Sweeps in parallel: --jobs N local processes, --launcher ray, --member K; the same results as in turn."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from lrtool.commands import launch

from .conftest import invoke, rows, summary

ROOT = Path(__file__).resolve().parent.parent

BASE = """\
seed: 0
device: cpu
data: {name: synthetic, n_samples: 160, n_features: 8, n_classes: 3, batch_size: 32}
model: {name: mlp, hidden: [16]}
optimizer: {name: SGD, lr: 0.05, momentum: 0.9}
train: {epochs: 2, plots: false}
"""
# constant and a one-cycle that diverges, two seeds each: seed groups, a failed member and a completed one
SWEEP = ["--schedule", "constant,onecycle", "--seeds", "0,1", "--set", "schedule.onecycle.max_lr=1e12"]
MEMBERS = ["constant-seed0", "constant-seed1", "onecycle-seed0", "onecycle-seed1"]


def untimed(path: Path) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k != "time_s"} for r in rows(path)]


def results(run: Path) -> tuple:
    """What a member computed (not when): its logs without times, status, final and best metrics."""
    s = summary(run)
    return untimed(run / "steps.csv"), untimed(run / "epochs.csv"), s["status"], s["final"], s["best"], s["progress"]


def comparison(folder: Path) -> pd.DataFrame:
    """comparison.csv without wall times and paths (the only columns that depend on when and where it ran)."""
    table = pd.read_csv(folder / "comparison.csv")
    return table[[c for c in table.columns if not c.startswith("wall_") and c != "path"]]


def start(args: list, cwd: Path, **env: str) -> subprocess.Popen:
    """`python -m lrtool ARGS` in its own process, output to a file."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), **env}
    with open(cwd / "proc.out", "w") as out:
        return subprocess.Popen([sys.executable, "-m", "lrtool", *map(str, args)], cwd=cwd, env=full_env,
                                stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    """The same sweep in turn and with --jobs 2."""
    tmp = tmp_path_factory.mktemp("sweeps")
    cfg = tmp / "synth.yaml"
    cfg.write_text(BASE)
    seq = invoke("train", cfg, *SWEEP, "--out", tmp / "seq")
    par = invoke("train", cfg, *SWEEP, "--out", tmp / "par", "--jobs", "2")
    return tmp, cfg, seq, par


def test_jobs_2_gives_the_same_members_and_comparison_as_in_turn(sweeps):
    tmp, _cfg, seq, par = sweeps
    assert seq.exit_code == 1 and par.exit_code == 1, par.output  # the one-cycle members diverge
    for name in MEMBERS:
        assert results(tmp / "par" / name) == results(tmp / "seq" / name), name
    a, b = summary(tmp / "seq"), summary(tmp / "par")
    assert a["runs"] == b["runs"]  # in the sweep's order, whichever member ended first
    assert {r["name"]: r["status"] for r in b["runs"]} == {
        "constant-seed0": "completed", "constant-seed1": "completed",
        "onecycle-seed0": "diverged", "onecycle-seed1": "diverged"}
    assert b["status"] == "failed"
    pd.testing.assert_frame_equal(comparison(tmp / "seq" / "comparison"), comparison(tmp / "par" / "comparison"))
    assert "2 of 4 runs did not complete: onecycle-seed0, onecycle-seed1" in par.output.replace("\n", " ")
    # each member's own output is kept in the sweep directory
    assert {p.name for p in (tmp / "par" / "logs").iterdir()} == {f"{m}.log" for m in MEMBERS}
    assert "training mlp on synthetic" in (tmp / "par" / "logs" / "constant-seed1.log").read_text()
    assert "on CPU, 1 thread" in par.output


def test_member_k_runs_exactly_member_k(sweeps):
    tmp, cfg, _seq, _par = sweeps
    out = tmp / "array"
    res = invoke("train", cfg, *SWEEP, "--out", out, "--member", "1")
    assert res.exit_code == 0, res.output
    assert [p.name for p in out.iterdir()] == ["constant-seed1"]  # no sweep summary, no comparison
    assert results(out / "constant-seed1") == results(tmp / "seq" / "constant-seed1")
    # another task of the same array writes into the same directory
    res = invoke("train", cfg, *SWEEP, "--out", out, "--member", "0")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["constant-seed0", "constant-seed1"]
    res = invoke("train", cfg, *SWEEP, "--out", out, "--member", "4")
    assert res.exit_code == 2
    assert ("--member: expected 0..3 (the sweep's 4 members: constant-seed0, constant-seed1, onecycle-seed0, "
            "onecycle-seed1), got 4") in res.output.replace("\n", " ")


@pytest.mark.parametrize("args, expected", [
    (["--jobs", "0"], "--jobs: expected the number of members to run at once (1 or more), got 0"),
    (["--launcher", "slurm"], "--launcher: expected one of (local, ray), got 'slurm'"),
    (["--member-gpus", "1"], "--member-gpus: only with --launcher ray"),
    (["--member", "0", "--jobs", "2"], "--member runs one member in this process; drop --jobs/--launcher"),
    (["--member", "0"], "--member: give the sweep directory with --out"),
    (["--launcher", "ray", "--member-cpus", "0"], "--member-cpus: expected more than 0 CPUs per member, got 0"),
])
def test_bad_launch_options_are_one_line(tmp_path, args, expected):
    cfg = tmp_path / "synth.yaml"
    cfg.write_text(BASE)
    res = invoke("train", cfg, "--schedule", "constant,cyclic", *args)
    assert res.exit_code == 2 and res.output.startswith("lrtool: error: ") and res.output.count("\n") == 1
    assert expected in res.output


def test_launch_options_need_a_sweep(tmp_path):
    cfg = tmp_path / "synth.yaml"
    cfg.write_text(BASE)
    res = invoke("train", cfg, "--jobs", "2", "--out", tmp_path / "run")
    assert res.exit_code == 2 and "give several --schedule names or --seeds" in res.output
    assert not (tmp_path / "run").exists()


def test_a_missing_ray_is_one_line_naming_the_pip_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    cfg = tmp_path / "synth.yaml"
    cfg.write_text(BASE)
    res = invoke("train", cfg, "--schedule", "constant,cyclic", "--launcher", "ray", "--out", tmp_path / "s")
    assert res.exit_code == 2 and 'pip install "lrtool[ray]"' in res.output
    assert not (tmp_path / "s").exists()


def test_members_get_one_gpu_each_when_there_are_several(monkeypatch):
    from types import SimpleNamespace as NS

    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert launch.gpu_ids([NS(device="auto"), NS(device="cuda")]) == ["0", "1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert launch.gpu_ids([NS(device="auto")]) == ["2", "3"]  # the devices this process may use
    assert launch.gpu_ids([NS(device="cpu")]) == []  # CPU members split the threads instead
    assert launch.gpu_ids([NS(device="cuda:1")]) == []  # a member that names its device keeps it


LONG = """\
seed: 0
device: cpu
data: {name: synthetic, n_samples: 200, n_features: 8, n_classes: 3, batch_size: 32}
model: {name: mlp, hidden: [16]}
optimizer: {name: SGD, lr: 0.05, momentum: 0.9}
train: {epochs: 100000, plots: false, log_every: 2}
"""


def data_lines(path: Path) -> int:
    try:
        return max(0, path.read_bytes().count(b"\n") - 1)
    except FileNotFoundError:
        return 0


@pytest.mark.parametrize("sig, code, launcher", [
    (signal.SIGINT, 130, "local"), pytest.param(signal.SIGTERM, 143, "local", marks=pytest.mark.slow),
    pytest.param(getattr(signal, "SIGHUP", 1), 129, "local", marks=[pytest.mark.slow, pytest.mark.skipif(
        not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")]),
    pytest.param(signal.SIGINT, 130, "ray", marks=pytest.mark.slow)], ids=["SIGINT", "SIGTERM", "SIGHUP", "SIGINT-ray"])
def test_a_signal_stops_every_member_each_marked_interrupted(tmp_path, sig, code, launcher):
    cfg = tmp_path / "long.yaml"
    cfg.write_text(LONG)
    out = tmp_path / "sweep"
    proc = start(["train", cfg, "--schedule", "constant,cosine,cyclic", "--jobs", "2", "--launcher", launcher,
                  "--out", out], tmp_path, RAY_AUTH_MODE="disabled", RAY_ADDRESS="")
    try:
        end = time.monotonic() + 120
        while not all(data_lines(out / m / "steps.csv") >= 4 for m in ("constant-seed0", "cosine-seed0")):
            assert proc.poll() is None, (tmp_path / "proc.out").read_text()
            assert time.monotonic() < end, (tmp_path / "proc.out").read_text()
            time.sleep(0.05)
        proc.send_signal(sig)
        assert proc.wait(timeout=120) == code, (tmp_path / "proc.out").read_text()
    finally:
        proc.kill()
    for m in ("constant-seed0", "cosine-seed0"):
        s = summary(out / m)
        assert s["status"] == "interrupted" and s["exit_code"] == code
        assert f"lrtool train --resume {out / m}" in s["stop"]["message"]
    parent = summary(out)
    assert parent["status"] == "interrupted"
    assert [(r["name"], r["status"]) for r in parent["runs"]] == [
        ("constant-seed0", "interrupted"), ("cosine-seed0", "interrupted"), ("cyclic-seed0", "interrupted")]
    assert parent["runs"][2]["error"] == "not started: the sweep was stopped"
    assert [r["dir"] for r in parent["runs"]] == ["constant-seed0", "cosine-seed0", None]
    assert not (out / "cyclic-seed0").exists()
    assert "Traceback" not in (tmp_path / "proc.out").read_text()


def test_a_ray_sweep_with_two_cpu_members_gives_the_same_results(sweeps, tmp_path):
    tmp, cfg, _seq, _par = sweeps
    out = tmp_path / "ray"
    env = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "RAY_ADDRESS": ""}
    proc = start(["train", cfg, "--schedule", "constant,onecycle", "--seeds", "1", "--set",
                  "schedule.onecycle.max_lr=1e12", "--launcher", "ray", "--member-cpus", "1", "--out", out],
                 tmp_path, **env)
    assert proc.wait(timeout=300) == 1, (tmp_path / "proc.out").read_text()
    for name in ("constant-seed1", "onecycle-seed1"):
        assert results(out / name) == results(tmp / "seq" / name), name
    assert [(r["name"], r["status"]) for r in summary(out)["runs"]] == [
        ("constant-seed1", "completed"), ("onecycle-seed1", "diverged")]
    # the comparison equals one made from the same members of the sweep run in turn
    res = invoke("compare", tmp / "seq" / "constant-seed1", tmp / "seq" / "onecycle-seed1",
                 "--out", tmp_path / "cmp")
    assert res.exit_code == 0, res.output
    pd.testing.assert_frame_equal(comparison(out / "comparison"), comparison(tmp_path / "cmp"))


def test_ray_address_pointing_at_nothing_fails_at_once(tmp_path):
    cfg = tmp_path / "synth.yaml"
    cfg.write_text(BASE)
    proc = start(["train", cfg, "--schedule", "constant,cyclic", "--launcher", "ray", "--out", tmp_path / "s"],
                 tmp_path, RAY_ADDRESS="127.0.0.1:9", RAY_AUTH_MODE="disabled")
    assert proc.wait(timeout=60) == 2
    text = (tmp_path / "proc.out").read_text()
    assert "lrtool: error: RAY_ADDRESS=127.0.0.1:9: no Ray cluster answers there" in text
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("returncode", [130, -signal.SIGINT, 143])
def test_a_member_stopped_while_setting_up_is_interrupted_not_failed(tmp_path, returncode):
    """The sweep's Ctrl-C reaches a member before it has written a summary: it was interrupted, not failed,
    and the entry says how to run it again (it has no directory to resume)."""
    from types import SimpleNamespace as NS

    from rich.console import Console

    from lrtool.errors import ExitCode

    written = {}
    parent = NS(path=tmp_path, write_summary=lambda record: written.update(record))
    members = [launch.Member(0, "cyclic-seed0", None, []), launch.Member(1, "cosine-seed0", None, [])]
    rec = launch.Recorder(members, parent, {}, Console(file=open(os.devnull, "w")), lambda *a: None)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "cosine-seed0.log").write_text("lrtool: interrupted\n")
    rec.ended(members[1], returncode)
    entry = written["runs"][0]
    assert entry["status"] == "interrupted" and entry["dir"] is None, entry
    assert "before it started training" in entry["error"] and "--member 1" in entry["error"]
    assert rec.result() == [ExitCode.SIGTERM if returncode == 143 else ExitCode.SIGINT]
    rec.ended(members[0], 1)  # a plain failure stays one
    assert written["runs"][0]["status"] == "failed"

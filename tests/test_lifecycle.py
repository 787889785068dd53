"""The run lifecycle (issue 14, kinds 1-4): every end leaves a terminal status, one writer per run directory,
no code runs from a file, and --resume continues only what was run.

Full disks are tested twice: on a real small tmpfs (when this process may mount one: root in CI) and with
the same fault injected into the writes, so the logic is tested everywhere. Second signals are sent for
real (os.kill) at deterministic points, and once at a random point to a real `python -m lrtool` process.
"""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lrtool.run import checkpoint, trainer
from lrtool.rundir import RunDir, RunLock
from lrtool.rundir.lock import LOCK_NAME, _proc_start
from tests.conftest import BASE_CONFIG, invoke, rows, summary, write_base_config
from tests.test_reliability import data_lines, long_config, output, start, wait_for

TERMINAL = {"completed", "failed", "interrupted", "diverged"}
# epochs of 5 steps (160 samples less the validation split, batch 32)
THREE_EPOCHS = BASE_CONFIG.replace("epochs: 2", "epochs: 3")


def error_line(res) -> str:
    """The one `lrtool: error:` line of a result (train prints what it starts before it)."""
    errors = [line for line in res.output.splitlines() if line.startswith("lrtool: error: ")]
    assert len(errors) == 1 and "Traceback" not in res.output, res.output
    return errors[0]


def leftovers(run: Path) -> list[str]:
    """Temporary files and the lock: what no ended run may leave behind."""
    return sorted(str(p.relative_to(run)) for p in run.rglob(".*"))


def snapshot(run: Path) -> dict[str, bytes]:
    """Every file of a run directory with its bytes (to show that nothing changed)."""
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def ends_whole(path: Path) -> bool:
    """The CSV ends with a whole row (no half row after a full disk)."""
    data = path.read_bytes()
    return data == b"" or data.endswith(b"\n")


def check_completed(run: Path) -> None:
    """A (resumed) run that completed: every step and epoch logged exactly once."""
    s = summary(run)
    assert s["status"] == "completed", s
    assert [int(r["step"]) for r in rows(run / "steps.csv")] == list(range(s["total_steps"]))
    assert [int(r["epoch"]) for r in rows(run / "epochs.csv")] == list(range(1, s["epochs"] + 1))
    assert leftovers(run) == []


def signals_at_steps(monkeypatch, at: dict[int, int]) -> None:
    """Send `at[n]` to this process during the n-th optimizer step (counted from 1)."""
    real, n = trainer._train_step, [0]

    def step(*a, **k):
        n[0] += 1
        if n[0] in at:
            os.kill(os.getpid(), at[n[0]])
        return real(*a, **k)

    monkeypatch.setattr(trainer, "_train_step", step)


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    return write_base_config(tmp_path, text=THREE_EPOCHS)


@pytest.fixture
def interrupted(cfg: Path, tmp_path: Path, monkeypatch) -> Path:
    """A train run stopped by SIGINT at step 7 (mid-epoch 2), its checkpoint there."""
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        signals_at_steps(m, {7: signal.SIGINT})
        res = invoke("train", cfg, "--out", run)
    assert res.exit_code == 130, res.output
    assert summary(run)["status"] == "interrupted"
    return run


# --------------------------------------------------------------------------- 1. a full disk

@pytest.fixture
def small_tmpfs(tmp_path: Path):
    """Makes a 64 KB tmpfs holding `ballast` KB already (skipped where mounting is not permitted)."""
    where = tmp_path / "disk"
    where.mkdir()

    def make(ballast: int) -> Path:
        try:
            res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)],
                                 capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as e:
            pytest.skip(f"cannot mount a tmpfs here: {e}")
        if res.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
        (where / "ballast").write_bytes(b"x" * ballast * 1024)  # so that the disk fills within a few epochs
        return where

    yield make
    subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def grow(disk: Path, size: str = "16m") -> None:
    """Make the tmpfs larger (space freed: the run can continue)."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(disk)], check=True, timeout=30)


@pytest.mark.parametrize("checkpoints, ballast", [(True, 36), (False, 44)],
                         ids=["checkpoint-fills-it", "steps-csv-fills-it"])
def test_a_full_disk_during_train_fails_the_run_cleanly_and_resume_continues(small_tmpfs, tmp_path, checkpoints,
                                                                             ballast):
    cfg = write_base_config(tmp_path, text=BASE_CONFIG.replace("batch_size: 32", "batch_size: 8").replace(
        "epochs: 2, plots: false", f"epochs: 12, plots: false, log_every: 1, checkpoints: {str(checkpoints).lower()}"))
    disk = small_tmpfs(ballast)
    run = disk / "run"
    res = invoke("train", cfg, "--out", run)
    assert res.exit_code == 1, res.output
    line = error_line(res)
    assert "No space left on device" in line and str(run) in line  # the file is named
    assert f"continue with: lrtool train --resume {run}" in line
    s = summary(run)
    assert s["status"] == "failed" and "No space left on device" in s["error"]
    assert leftovers(run) == []  # no temporary checkpoint or summary, no lock
    assert ends_whole(run / "steps.csv") and ends_whole(run / "epochs.csv")
    grow(disk)
    res = invoke("train", "--resume", run)
    assert res.exit_code == 0, res.output
    check_completed(run)


def test_a_full_disk_during_find_lr_fails_the_run_cleanly(small_tmpfs, tmp_path):
    cfg = write_base_config(tmp_path)
    run = small_tmpfs(44) / "run"
    res = invoke("find-lr", cfg, "--out", run, "--start-lr", "1e-6", "--end-lr", "1e-5", "--num-iter", "5000")
    assert res.exit_code == 1, res.output
    line = error_line(res)
    assert "No space left on device" in line and str(run / "lr_find.csv") in line
    assert summary(run)["status"] == "failed"
    assert leftovers(run) == [] and ends_whole(run / "lr_find.csv")


class FullDisk:
    """A disk with `free` bytes left for the CSV logs; once full, every write there fails like ENOSPC."""

    def __init__(self, monkeypatch, free: int):
        from lrtool.rundir import csvlog

        self.free, self.full = free, False
        disk = self
        real_open = open

        class Raw(io.RawIOBase):
            def __init__(self, path, mode):
                self.f = real_open(path, mode.replace("b", "") + "b", buffering=0)

            def writable(self):
                return True

            def write(self, b):
                n = min(len(b), disk.free)
                if n == 0:
                    disk.full = True
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as the kernel: no file named
                disk.free -= n
                return self.f.write(bytes(b[:n]))

            def close(self):
                self.f.close()
                super().close()

        def fake_open(path, mode="r", newline=None, encoding=None, **kwargs):  # (only the logs that fill it)
            if Path(path).name not in ("steps.csv", "lr_find.csv") or mode not in ("a", "x"):
                return real_open(path, mode, newline=newline, encoding=encoding, **kwargs)
            return io.TextIOWrapper(io.BufferedWriter(Raw(path, mode), 256), encoding=encoding, newline=newline,
                                    write_through=False)

        monkeypatch.setattr(csvlog, "open", fake_open, raising=False)
        import lrtool.rundir as rundir

        real_text = rundir.atomic_write_text

        def atomic_text(path, text):
            if disk.full:  # the temporary file of summary.json cannot be written either
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
            real_text(path, text)

        monkeypatch.setattr(rundir, "atomic_write_text", atomic_text)


def test_a_full_disk_injected_into_the_writes_fails_train_with_its_status_written(cfg, tmp_path, monkeypatch):
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        disk = FullDisk(m, free=300)  # the header and a few rows of steps.csv
        res = invoke("train", cfg, "--out", run, "--set", "train.log_every=1")
    assert disk.full and res.exit_code == 1, res.output
    line = error_line(res)
    assert "No space left on device" in line and str(run / "steps.csv") in line
    assert f"continue with: lrtool train --resume {run}" in line
    s = summary(run)  # written in the old summary's own space: the atomic write could not be
    assert s["status"] == "failed" and str(run / "steps.csv") in s["error"]
    assert leftovers(run) == [] and ends_whole(run / "steps.csv")
    assert invoke("train", "--resume", run).exit_code == 0
    check_completed(run)


def test_a_checkpoint_that_cannot_be_written_names_its_file(cfg, tmp_path, monkeypatch):
    run = tmp_path / "run"

    def full_save(obj, f, *a, **k):
        Path(f).write_bytes(b"\x00" * 100)
        raise RuntimeError("[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing "
                           "file data/3: file write failed")

    with monkeypatch.context() as m:
        m.setattr(checkpoint.torch, "save", full_save)
        res = invoke("train", cfg, "--out", run)
    assert res.exit_code == 1
    line = error_line(res)
    assert "cannot write the checkpoint" in line and "PytorchStreamWriter failed" in line
    assert str(run / "checkpoints" / "last.pt") in line and "--resume" in line
    assert summary(run)["status"] == "failed" and leftovers(run) == []


def test_a_full_disk_injected_during_find_lr_fails_it_with_its_status_written(tmp_path, monkeypatch):
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        disk = FullDisk(m, free=500)
        res = invoke("find-lr", write_base_config(tmp_path), "--out", run)
    assert disk.full and res.exit_code == 1, res.output
    line = error_line(res)
    assert "No space left on device" in line and str(run / "lr_find.csv") in line
    s = summary(run)
    assert s["status"] == "failed" and leftovers(run) == [] and ends_whole(run / "lr_find.csv")


# --------------------------------------------------------------------------- 1. find-lr: the result before the plot

def test_find_lr_writes_its_result_before_drawing_and_a_failing_plot_costs_nothing(tmp_path, monkeypatch):
    from lrtool import plots

    run, seen = tmp_path / "run", {}

    def full_disk_plot(*a, **k):
        seen.update(summary(run))  # what is on disk while the figure is drawn
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(run / "lr_find.png"))

    monkeypatch.setattr(plots, "plot_lr_find", full_disk_plot)
    res = invoke("find-lr", write_base_config(tmp_path), "--out", run)
    assert res.exit_code == 0, res.output
    assert seen["status"] == "completed" and seen["suggestions"] and seen["lr"]
    assert f"warning: could not draw {run / 'lr_find.png'}" in res.output
    assert summary(run) == seen and leftovers(run) == []
    assert invoke("train", write_base_config(tmp_path), "--lr-from", run, "--out", tmp_path / "t").exit_code == 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signals_while_find_lr_draws_keep_the_finished_range_test(tmp_path, monkeypatch, sig):
    from lrtool import plots

    real, run = plots.plot_lr_find, tmp_path / "run"

    def signalled_plot(*a, **k):
        os.kill(os.getpid(), sig)  # the first: noted, the drawing goes on
        os.kill(os.getpid(), sig)  # the second: stops the drawing at once
        time.sleep(5)
        return real(*a, **k)

    monkeypatch.setattr(plots, "plot_lr_find", signalled_plot)
    res = invoke("find-lr", write_base_config(tmp_path), "--out", run)
    s = summary(run)
    assert s["status"] == "completed" and s["lr"] and s["suggestions"]
    assert res.exit_code == 0 and "lr_find.png skipped (interrupted)" in res.output
    assert not (run / "lr_find.png").exists() and leftovers(run) == []


# --------------------------------------------------------------------------- 1. second signals in train

@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_a_second_signal_while_the_stop_checkpoint_is_written_still_ends_interrupted(cfg, tmp_path, monkeypatch,
                                                                                    sig, code):
    run = tmp_path / "run"
    real_save = torch.save

    def slow_save(obj, f, *a, **k):
        if obj["progress"]["epoch_steps"]:  # the stop checkpoint, mid-epoch: a second signal cuts it
            Path(f).write_bytes(b"\x00" * 1000)
            os.kill(os.getpid(), sig)
            time.sleep(5)
        return real_save(obj, f, *a, **k)

    with monkeypatch.context() as m:
        signals_at_steps(m, {7: sig})
        m.setattr(checkpoint.torch, "save", slow_save)
        res = invoke("train", cfg, "--out", run)
    assert res.exit_code == code, res.output
    s = summary(run)
    assert s["status"] == "interrupted" and s["exit_code"] == code
    name = signal.Signals(sig).name
    assert f"a second {name} stopped its checkpoint" in s["stop"]["message"]
    assert f"continue with: lrtool train --resume {run}" in s["stop"]["message"]
    assert leftovers(run) == []  # no half temporary checkpoint, no lock
    ckpt = checkpoint.read_checkpoint(run / "checkpoints" / "last.pt")  # the epoch-1 checkpoint, whole
    assert ckpt["progress"]["epoch"] == 1 and ckpt["progress"]["epoch_steps"] == 0
    assert invoke("train", "--resume", run).exit_code == 0
    check_completed(run)


def test_a_second_signal_mid_step_saves_no_checkpoint_of_the_half_step(cfg, tmp_path, monkeypatch):
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        signals_at_steps(m, {7: signal.SIGINT, 8: signal.SIGINT})  # the second lands inside step 8
        m.setattr(trainer._StepLog, "stop_requested", lambda log: False)  # the loop does not stop before it
        res = invoke("train", cfg, "--out", run)
    assert res.exit_code == 130, res.output
    s = summary(run)
    assert s["status"] == "interrupted" and "a second SIGINT stopped it mid-step" in s["stop"]["message"]
    assert checkpoint.read_checkpoint(run / "checkpoints" / "last.pt")["progress"]["epoch_steps"] == 0
    assert leftovers(run) == []
    assert invoke("train", "--resume", run).exit_code == 0
    check_completed(run)


@pytest.mark.parametrize("how", ["link", "copy"])
def test_a_second_signal_while_best_pt_is_written_leaves_best_pt_as_the_summary_says(cfg, tmp_path, monkeypatch,
                                                                                     how):
    run = tmp_path / "run"
    real_link, real_copy = checkpoint.os.link, checkpoint.shutil.copyfile

    def signalled(real, src, dst, *a, **k):
        if "best.pt" not in str(dst):  # os.link also takes the run's lock
            return real(src, dst, *a, **k)
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)  # the second waits until last.pt, best.pt and the summary agree
        time.sleep(0.5)
        return real(src, dst, *a, **k)

    def no_links(src, dst, *a, **k):  # a file system without hard links: best.pt is a copy
        if "best.pt" not in str(dst):
            return real_link(src, dst, *a, **k)
        raise OSError(errno.EPERM, "no hard links here")

    with monkeypatch.context() as m:
        if how == "link":
            m.setattr(checkpoint.os, "link", lambda *a, **k: signalled(real_link, *a, **k))
        else:
            m.setattr(checkpoint.os, "link", no_links)
            m.setattr(checkpoint.shutil, "copyfile", lambda *a, **k: signalled(real_copy, *a, **k))
        res = invoke("train", cfg, "--out", run)
    assert res.exit_code == 130, res.output
    s = summary(run)
    assert s["status"] == "interrupted" and s["progress"]["epoch"] == 1
    best = checkpoint.read_checkpoint(run / "checkpoints" / "best.pt")
    monitored = s["best"]["val_acc"]
    assert best["progress"]["epoch"] == monitored["epoch"] == 1 and best["progress"]["step"] == monitored["step"]
    assert leftovers(run) == []


@pytest.mark.parametrize("first, second", [(signal.SIGINT, signal.SIGINT), (signal.SIGTERM, signal.SIGINT)],
                         ids=["INT-INT", "TERM-INT"])
def test_two_quick_signals_to_a_real_train_process_leave_a_terminal_status(tmp_path, first, second):
    run = tmp_path / "run"
    proc = start(["train", long_config(tmp_path, 20), "--out", run], tmp_path)
    try:
        wait_for(proc, tmp_path, lambda: data_lines(run / "steps.csv") >= 30)
        proc.send_signal(first)
        time.sleep(0.005)
        proc.send_signal(second)
        code = proc.wait(timeout=60)
    finally:
        proc.kill()
    assert code in (130, 143, -second), output(tmp_path)
    assert summary(run)["status"] == "interrupted", output(tmp_path)
    assert "Traceback" not in output(tmp_path)
    assert [p for p in leftovers(run) if p != LOCK_NAME] == []  # (a signal after the status may beat the unlock)
    res = invoke("train", "--resume", run)  # a lock left by the dead process is stale: recovered
    assert res.exit_code == 0, res.output
    check_completed(run)


# --------------------------------------------------------------------------- 2. one writer per run directory

def test_resume_of_a_live_run_is_refused_and_changes_nothing(tmp_path):
    run = tmp_path / "run"
    proc = start(["train", long_config(tmp_path, 20), "--out", run], tmp_path)
    try:
        wait_for(proc, tmp_path, lambda: (run / "checkpoints" / "last.pt").exists()
                 and data_lines(run / "steps.csv") >= 30)
        lock = json.loads((run / LOCK_NAME).read_text())
        assert lock["pid"] == proc.pid and lock["host"] == socket.gethostname() and lock["command"] == "train"
        before = data_lines(run / "steps.csv")
        res = invoke("train", "--resume", run)
        assert res.exit_code == 2
        line = error_line(res)
        assert f"another lrtool process is writing this run (pid {proc.pid} on {socket.gethostname()}" in line
        assert summary(run)["status"] == "running"
        wait_for(proc, tmp_path, lambda: data_lines(run / "steps.csv") >= before + 20)  # its logs go on, whole
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130, output(tmp_path)
    finally:
        proc.kill()
    assert summary(run)["status"] == "interrupted" and leftovers(run) == []  # the lock went with the run
    res = invoke("train", "--resume", run)
    assert res.exit_code == 0, res.output
    check_completed(run)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("lock", [
    {"pid": "DEAD", "host": "HERE"},  # the process is gone (kill -9, a crash)
    {"pid": "ME", "host": "HERE", "proc_start": "1"},  # the pid is alive but was reused by another process
    "not json",  # an unreadable lock
], ids=["dead-pid", "reused-pid", "garbage"])
def test_a_stale_lock_is_recovered(interrupted, lock):
    if isinstance(lock, dict):
        lock = dict(lock, pid=_dead_pid() if lock["pid"] == "DEAD" else os.getpid(), host=socket.gethostname(),
                    started="2026-01-01T00:00:00+00:00", command="train")
    (interrupted / LOCK_NAME).write_text(json.dumps(lock) if isinstance(lock, dict) else lock)
    res = invoke("train", "--resume", interrupted)
    assert res.exit_code == 0, res.output
    check_completed(interrupted)


@pytest.mark.parametrize("holder", ["this-process", "other-host"])
def test_a_live_or_unknown_holder_is_respected(interrupted, holder):
    info = {"pid": os.getpid(), "host": socket.gethostname(), "proc_start": _proc_start(os.getpid()),
            "started": "2026-01-01T00:00:00+00:00", "command": "train"}
    if holder == "other-host":
        info.update(host="elsewhere.example", pid=1)
    (interrupted / LOCK_NAME).write_text(json.dumps(info))
    before = snapshot(interrupted)
    res = invoke("train", "--resume", interrupted)
    assert res.exit_code == 2 and "another lrtool process is writing this run" in error_line(res)
    assert f"delete {interrupted / LOCK_NAME}" in error_line(res)
    assert snapshot(interrupted) == before


def test_the_lock_is_held_while_writing_and_released_however_the_run_ends(cfg, tmp_path, monkeypatch):
    held = []
    real_write = RunDir.write_summary

    def spy(self, s):
        lock = self.path / LOCK_NAME
        held.append((s.get("status"), lock.exists() and json.loads(lock.read_text())["pid"] == os.getpid()))
        return real_write(self, s)

    monkeypatch.setattr(RunDir, "write_summary", spy)
    assert invoke("find-lr", cfg, "--out", tmp_path / "find").exit_code == 0
    assert invoke("train", cfg, "--out", tmp_path / "done").exit_code == 0
    assert invoke("train", cfg, "--out", tmp_path / "bad", "--set", "optimizer.lr=1e12",
                  "--set", "optimizer.momentum=0").exit_code == 1  # diverged
    assert held and all(ok for _status, ok in held)
    assert {status for status, _ in held} >= {"running", "completed", "diverged"}
    for run in ("find", "done", "bad"):
        assert leftovers(tmp_path / run) == []


def test_two_locks_on_one_directory_in_one_process(tmp_path):
    with RunLock(tmp_path, "train"):
        with pytest.raises(Exception, match="another lrtool process is writing this run"):
            RunLock(tmp_path, "find-lr").acquire()
    assert not (tmp_path / LOCK_NAME).exists()
    with RunLock(tmp_path, "train"):  # released: taken again
        pass


# --------------------------------------------------------------------------- 3. no code from files

class _RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_checkpoint_executes_nothing(interrupted, tmp_path):
    marker = tmp_path / "pwned"
    ckpt = interrupted / "checkpoints" / "last.pt"
    state = checkpoint.read_checkpoint(ckpt)
    state["model"] = _RunsCode(marker)
    torch.save(state, ckpt)
    before = snapshot(interrupted)
    res = invoke("train", "--resume", interrupted)
    assert res.exit_code == 2
    line = error_line(res)
    assert f"{ckpt}: refused to load: the file holds objects lrtool never saves" in line and "nothing" in line
    assert not marker.exists() and snapshot(interrupted) == before
    torch.load(ckpt, weights_only=False)  # what the old loader did: the file really runs code
    assert marker.exists()


@pytest.mark.parametrize("damage, expected", [
    (lambda s: {"weights": s["model"]}, "not a checkpoint of an lrtool train run: missing 'model'"),
    (lambda s: [s["model"]], "expected a dict of parts, got list"),
    (lambda s: dict(s, progress=dict(s["progress"], step="7")), "'progress.step' should be an integer, got str"),
    (lambda s: dict(s, model={"fc.weight": [1.0]}), "'model' should map parameter names to tensors"),
    (lambda s: dict(s, generator=None), "'generator' should be a tensor, got NoneType"),
    (lambda s: b"not a checkpoint at all", "cannot read the checkpoint"),
], ids=["missing-part", "not-a-dict", "wrong-counter-type", "wrong-weights", "wrong-type", "not-a-torch-file"])
def test_a_checkpoint_of_the_wrong_structure_is_one_line_and_changes_nothing(interrupted, damage, expected):
    ckpt = interrupted / "checkpoints" / "last.pt"
    changed = damage(checkpoint.read_checkpoint(ckpt))
    if isinstance(changed, bytes):
        ckpt.write_bytes(changed)
    else:
        torch.save(changed, ckpt)
    before = snapshot(interrupted)
    res = invoke("train", "--resume", interrupted)
    assert res.exit_code == 2
    line = error_line(res)
    assert str(ckpt) in line and expected in line
    assert snapshot(interrupted) == before


def test_configs_and_lr_lambda_strings_run_no_code(tmp_path):
    marker = tmp_path / "pwned"
    tag = write_base_config(tmp_path, "tag.yaml",
                            BASE_CONFIG + f"extra: !!python/object/apply:os.system ['touch {marker}']\n")
    res = invoke("train", tag, "--out", tmp_path / "a")
    assert res.exit_code == 2 and "tag.yaml" in error_line(res)
    res = invoke("train", write_base_config(tmp_path), "--out", tmp_path / "b", "--set",
                 f"schedule={{name: LambdaLR, lr_lambda: \"__import__('os').system('touch {marker}')\"}}")
    assert res.exit_code == 2 and "schedule.lr_lambda" in error_line(res)
    assert not marker.exists() and not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# --------------------------------------------------------------------------- 4. resume only what was run

def edit_config(run: Path, old: str, new: str) -> None:
    text = (run / "config.yaml").read_text()
    assert old in text, text
    (run / "config.yaml").write_text(text.replace(old, new, 1))


def test_an_edited_lr_is_refused_with_the_key_then_allowed_with_allow_changes(interrupted):
    edit_config(interrupted, "lr: 0.05", "lr: 0.1")
    before = snapshot(interrupted)
    res = invoke("train", "--resume", interrupted)
    assert res.exit_code == 2
    line = error_line(res)
    assert f"--resume {interrupted}: config.yaml differs from the config" in line
    assert "optimizer.lr (0.05 -> 0.1)" in line and "--allow-changes" in line
    assert snapshot(interrupted) == before
    res = invoke("train", "--resume", interrupted, "--allow-changes")
    assert res.exit_code == 0, res.output
    assert "continuing with the edited config (optimizer.lr (0.05 -> 0.1))" in res.output.replace("\n", "")
    s = summary(interrupted)
    assert s["config_changes"] == ["optimizer.lr (0.05 -> 0.1)"]
    lrs = [float(r["lr"]) for r in rows(interrupted / "steps.csv")]
    assert lrs[:7] == [0.05] * 7 and set(lrs[7:]) == {0.1}  # the switch is explicit, at the resume point
    check_completed(interrupted)


def test_allow_changes_needs_resume(cfg, tmp_path):
    res = invoke("train", cfg, "--out", tmp_path / "run", "--allow-changes")
    assert res.exit_code == 2 and "--allow-changes: only applies with --resume" in error_line(res)


def test_a_changed_batch_size_gets_the_config_message(interrupted):
    edit_config(interrupted, "batch_size: 32", "batch_size: 16")
    res = invoke("train", "--resume", interrupted)
    assert res.exit_code == 2
    line = error_line(res)
    assert "data.batch_size (32 -> 16)" in line and "processes" not in line
    # allowed, it still cannot continue: its steps per epoch changed (the world size did not)
    before = snapshot(interrupted)
    res = invoke("train", "--resume", interrupted, "--allow-changes")
    assert res.exit_code == 2
    line = error_line(res)
    assert f"{interrupted / 'checkpoints' / 'last.pt'}: the run took 4 steps per epoch, its config now gives 8" in line
    assert "data.batch_size" in line and "processes" not in line
    assert snapshot(interrupted) == before


def test_a_changed_model_is_one_line(interrupted):
    edit_config(interrupted, "hidden: [16]", "hidden: [32]")
    res = invoke("train", "--resume", interrupted)
    assert res.exit_code == 2 and "model.hidden ([16] -> [32])" in error_line(res)
    before = snapshot(interrupted)
    res = invoke("train", "--resume", interrupted, "--allow-changes")
    assert res.exit_code == 2
    line = error_line(res)
    assert f"{interrupted / 'checkpoints' / 'last.pt'}: cannot restore the checkpoint's model: the config's model " \
           "(mlp) does not fit the saved weights" in line
    assert "state_dict" not in line.split("(", 2)[-1][:20]  # not torch's raw message first
    assert snapshot(interrupted) == before


def test_a_malformed_row_in_steps_csv_is_skipped_and_the_resume_completes(interrupted):
    lines = (interrupted / "steps.csv").read_text().splitlines(keepends=True)
    lines[3:3] = ["abc,0,0.05,1.0,0.1\n", '2,0,"0.05,1.0\n']  # a step that is no number, a stray quote
    (interrupted / "steps.csv").write_text("".join(lines))
    res = invoke("train", "--resume", interrupted)
    assert res.exit_code == 0, res.output
    out = res.output.replace("\n", "")
    assert "skipped 1 malformed line in steps.csv" in out
    assert "skipped 1 row of steps.csv whose step is not a whole number" in out
    check_completed(interrupted)


def test_a_refused_resume_of_a_run_with_a_malformed_row_keeps_its_status(interrupted):
    with open(interrupted / "steps.csv", "a") as f:
        f.write('7,1,"0.05,1.0\n')
    edit_config(interrupted, "seed: 0", "seed: 1")
    before = snapshot(interrupted)
    res = invoke("train", "--resume", interrupted)
    assert res.exit_code == 2 and "seed (0 -> 1)" in error_line(res)
    assert snapshot(interrupted) == before and summary(interrupted)["status"] == "interrupted"


def test_an_unwritable_run_directory_is_found_before_anything_is_built(interrupted, monkeypatch):
    from lrtool.run import build as build_module
    from lrtool.rundir import lock as lock_module

    def no_build(*a, **k):
        raise AssertionError("built before the directory was checked")

    def read_only(*a, **k):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(build_module, "build", no_build)
    monkeypatch.setattr(lock_module.tempfile, "mkstemp", read_only)
    before = snapshot(interrupted)
    res = invoke("train", "--resume", interrupted)
    assert res.exit_code == 2
    assert f"{interrupted}: cannot write in the run directory (Permission denied)" in error_line(res)
    assert snapshot(interrupted) == before


def test_a_read_only_run_directory_is_found_before_anything_is_built(interrupted, tmp_path, monkeypatch):
    from lrtool.run import build as build_module

    def no_build(*a, **k):
        raise AssertionError("built before the directory was checked")

    monkeypatch.setattr(build_module, "build", no_build)
    ro = tmp_path / "ro"
    ro.mkdir()
    res = subprocess.run(["mount", "--bind", "-o", "ro", str(interrupted), str(ro)], capture_output=True, text=True)
    if res.returncode != 0:  # not root: a directory without write permission does the same
        os.chmod(interrupted, 0o555)
        ro = interrupted
    try:
        res = invoke("train", "--resume", ro)
        assert res.exit_code == 2
        assert f"{ro}: cannot write in the run directory" in error_line(res)
    finally:
        if ro != interrupted:
            subprocess.run(["umount", "-l", str(ro)], capture_output=True)
        os.chmod(interrupted, 0o755)
    assert summary(interrupted)["status"] == "interrupted"


@pytest.mark.parametrize("links", [True, False], ids=["hard-link", "copy"])
def test_best_pt_keeps_its_content_when_last_pt_is_rewritten(tmp_path, monkeypatch, links):
    """best.pt is a hard link to last.pt's file (or a copy); the next last.pt is a new file, best.pt stays."""
    from lrtool.rundir import atomic_write_bytes

    last, best = tmp_path / "last.pt", tmp_path / "best.pt"
    atomic_write_bytes(last, b"epoch 1")
    if not links:
        monkeypatch.setattr(checkpoint.os, "link", lambda *a, **k: (_ for _ in ()).throw(OSError(errno.EPERM, "no")))
    checkpoint._duplicate(last, best)
    assert (os.stat(best).st_ino == os.stat(last).st_ino) is links
    atomic_write_bytes(last, b"epoch 2")
    assert best.read_bytes() == b"epoch 1" and last.read_bytes() == b"epoch 2"
    checkpoint._duplicate(last, best)  # an existing best.pt is replaced
    assert best.read_bytes() == b"epoch 2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]


def test_a_signal_while_the_run_is_being_set_up_ends_it_interrupted_not_running(cfg, tmp_path, monkeypatch):
    """Between the summary saying `running` and the first step (loggers, metrics, CSVs opened)."""
    real = trainer.open_loggers

    def signalled(*a, **k):
        os.kill(os.getpid(), signal.SIGINT)
        return real(*a, **k)

    run = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(trainer, "open_loggers", signalled)
        res = invoke("train", cfg, "--out", run)
    assert res.exit_code == 130, res.output
    s = summary(run)
    assert s["status"] == "interrupted" and s["exit_code"] == 130
    assert invoke("train", "--resume", run).exit_code == 0
    assert summary(run)["status"] == "completed"

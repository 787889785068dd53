"""Run directories, CSV logs and summary.json."""

from __future__ import annotations

import csv
import json
import math
import os

import pytest
from pydantic import ValidationError

from lrtool.errors import LrtoolError
from lrtool.rundir import (
    CsvLog,
    RunDir,
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
    columns,
    higher_is_better,
    load_summary,
    read_csv_frame,
    read_csv_rows,
    read_run_summary,
)


def test_default_names_never_collide(tmp_path):
    a = RunDir.create(None, "quick", "find-lr", root=tmp_path)
    b = RunDir.create(None, "quick", "find-lr", root=tmp_path)
    c = RunDir.create(None, "quick", "find-lr", root=tmp_path)
    assert len({a.path, b.path, c.path}) == 3
    assert a.path.name.startswith("quick-find-lr-")
    if a.path.name[-9:] == b.path.name[-11:-2]:  # same second
        assert b.path.name.endswith("-2")


def test_out_must_be_new_or_empty(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert RunDir.create(empty, "x", "y").path == empty
    (empty / "f").write_text("keep me")
    with pytest.raises(LrtoolError, match="already exists and is not empty"):
        RunDir.create(empty, "x", "y")
    assert (empty / "f").read_text() == "keep me"
    assert RunDir.create(tmp_path / "a" / "b", "x", "y").path.is_dir()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_out(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(LrtoolError, match="cannot create the run directory"):
        RunDir.create(ro / "run", "x", "y")


def test_out_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(LrtoolError, match="already exists and is not empty"):
        RunDir.create(f, "x", "y")


def test_csv_rows_are_flushed_as_written_and_header_fixed(tmp_path):
    log = CsvLog(tmp_path / "a.csv", ["step", "lr", "loss"])
    log.write({"step": 0, "lr": 0.1, "loss": 2.5})
    # readable before close: every row is flushed
    rows = list(csv.DictReader(open(tmp_path / "a.csv")))
    assert rows == [{"step": "0", "lr": "0.1", "loss": "2.5"}]
    log.write({"step": 1, "lr": 1 / 3, "loss": None})
    log.close()
    rows = list(csv.DictReader(open(tmp_path / "a.csv")))
    assert float(rows[1]["lr"]) == 1 / 3 and rows[1]["loss"] == ""
    with pytest.raises(ValueError):
        CsvLog(tmp_path / "b.csv", ["a"]).write({"zzz": 1})
    with pytest.raises(FileExistsError):  # never clobbers an existing log
        CsvLog(tmp_path / "a.csv", ["step"])
    again = CsvLog(tmp_path / "a.csv", ["step", "lr", "loss"], append=True)
    again.write({"step": 2, "lr": 0.3, "loss": 1.0})
    again.close()
    assert [r["step"] for r in csv.DictReader(open(tmp_path / "a.csv"))] == ["0", "1", "2"]


def test_summary_is_json_with_non_finite_values(tmp_path):
    run = RunDir.create(tmp_path / "r", "x", "y")
    run.write_summary({"status": "running", "loss": float("nan"), "nested": {"v": float("inf")}})
    run.update_summary(status="completed")
    data = json.loads((run.path / "summary.json").read_text())
    assert data == {"status": "completed", "loss": "nan", "nested": {"v": "inf"}}
    assert not [p for p in run.path.iterdir() if p.name.endswith(".tmp")]


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    p = tmp_path / "s.json"
    atomic_write_text(p, "old")

    with pytest.raises(TypeError):
        atomic_write_text(p, 123)  # type: ignore[arg-type]
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["s.json"]


def test_atomic_write_removes_the_temp_file_when_the_writer_fails(tmp_path):
    p = tmp_path / "ckpt.pt"
    atomic_write_bytes(p, b"old")

    def half_then_crash(tmp):
        tmp.write_bytes(b"half a checkpoint")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(p, half_then_crash)
    assert p.read_bytes() == b"old"
    assert [x.name for x in tmp_path.iterdir()] == ["ckpt.pt"]
    atomic_write(tmp_path / "new.txt", lambda tmp: tmp.write_text("new"))
    assert sorted(x.name for x in tmp_path.iterdir()) == ["ckpt.pt", "new.txt"]


def _interrupt_at_line(func, n):
    """A tracer that raises KeyboardInterrupt at the n-th line `func` runs (as a signal handler would
    between two bytecodes), and the number of lines it saw.

    `try:` lines are not counted: they are a no-op where the interpreter never runs a signal handler,
    and an exception a tracer raises there escapes the `try` it opens (a tracer artifact)."""
    import linecache

    seen = [0]

    def local(frame, event, _arg):
        if event == "line" and linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip() != "try:":
            seen[0] += 1
            if seen[0] == n:
                raise KeyboardInterrupt
        return local

    def tracer(frame, event, _arg):
        return local if frame.f_code is func.__code__ else None

    return tracer, seen


@pytest.mark.parametrize("target", ["atomic_write", "_duplicate"])
def test_a_keyboard_interrupt_at_any_line_of_a_write_leaves_no_temporary_file(tmp_path, target):
    """A second Ctrl-C may land between any two lines (CI once found a temporary checkpoint left when it
    landed right after mkstemp created the file). Whatever the line, the target holds the old content or
    the new, and nothing else is in the directory."""
    import sys

    from lrtool.run.checkpoint import _duplicate

    func = atomic_write if target == "atomic_write" else _duplicate
    n, finished = 0, False
    while not finished:
        n += 1
        d = tmp_path / str(n)
        d.mkdir()
        atomic_write_bytes(d / "out.pt", b"old")
        (d / "src.pt").write_bytes(b"new")
        tracer, seen = _interrupt_at_line(func, n)
        sys.settrace(tracer)
        try:
            if target == "atomic_write":
                atomic_write(d / "out.pt", lambda t: t.write_bytes(b"new"))
            else:
                _duplicate(d / "src.pt", d / "out.pt")
            finished = True  # n passed the last line: the write ran whole
        except KeyboardInterrupt:
            pass
        finally:
            sys.settrace(None)
        assert sorted(x.name for x in d.iterdir()) == ["out.pt", "src.pt"], (target, n)
        assert (d / "out.pt").read_bytes() in (b"old", b"new")
        assert seen[0] >= n - 1
    assert n > 5  # the tracer really stepped through the function
    assert (d / "out.pt").read_bytes() == b"new"


def test_reader_skips_exactly_the_bad_lines(tmp_path):
    p = tmp_path / "steps.csv"
    # a stray quote on line 3 must not swallow the rows after it; line 5 has a cell too many;
    # the blank line is no damage; the last line was cut by a kill
    p.write_text('step,lr,loss\n0,0.1,2.0\n1,0.1,"1.9\n2,0.1,1.8\n3,0.1,1.7,9\n\n4,0.1,1.6\n5,0.1,1.')
    read = read_csv_rows(p)
    assert [r["step"] for r in read.rows] == ["0", "2", "4"]
    assert (read.malformed, read.torn, read.skipped) == (2, True, 3)
    assert read.lines[0] == "step,lr,loss\n" and read.lines[1:] == ["0,0.1,2.0\n", "2,0.1,1.8\n", "4,0.1,1.6\n"]
    notes = []
    df = read_csv_frame(p, notes)
    assert df["loss"].tolist() == [2.0, 1.8, 1.6]
    assert notes == ["skipped a truncated last line in steps.csv (killed mid-write?)",
                     "skipped 2 malformed lines in steps.csv"]
    (tmp_path / "empty.csv").write_text("")
    assert read_csv_rows(tmp_path / "empty.csv") is None and read_csv_rows(tmp_path / "none.csv") is None
    notes = []
    assert read_csv_frame(tmp_path / "empty.csv", notes) is None and "is empty" in notes[0]


def test_reader_reads_back_what_the_writer_wrote(tmp_path):
    with CsvLog(tmp_path / "epochs.csv", columns.EPOCH_COLUMNS) as log:
        log.write({"epoch": 1, "step": 10, "lr": 0.1, "train_loss": 1 / 3, "train_acc": 0.5,
                   "val_loss": float("nan"), "val_acc": None, "time_s": 1.5})
    df = read_csv_frame(tmp_path / "epochs.csv")
    assert list(df.columns) == list(columns.EPOCH_COLUMNS)
    assert df["train_loss"][0] == 1 / 3 and math.isnan(df["val_loss"][0]) and math.isnan(df["val_acc"][0])


def test_step_columns_order_on_disk():
    assert columns.step_columns(False, 1) == ("step", "epoch", "lr", "loss", "time_s")
    assert columns.step_columns(True, 2) == ("step", "epoch", "lr", "loss", "momentum", "lr/pg0", "lr/pg1",
                                             "time_s")


@pytest.mark.parametrize("metric,up", [("val_acc", True), ("train_acc", True), ("test_acc", True),
                                       ("val_loss", False), ("train_loss", False), ("test_loss", False)])
def test_one_direction_rule(metric, up):
    assert higher_is_better(metric) is up


def test_summary_schema_checks_what_is_written(tmp_path):
    run = RunDir.create(tmp_path / "r", "x", "y")
    with pytest.raises(ValidationError):
        run.write_summary({"status": "finished"})  # not one of the statuses
    assert not (run.path / "summary.json").exists()
    run.write_summary({"status": "completed", "command": "train", "progress": {"epoch": 2, "step": 20},
                       "best": {"val_acc": {"value": 0.9, "epoch": 2, "step": 20}}, "final": None})
    s = load_summary(run.path / "summary.json", [])
    assert s.progress.step == 20 and s.best["val_acc"].value == 0.9 and s.final is None


def test_summary_reader_drops_what_does_not_fit_with_a_note(tmp_path):
    p = tmp_path / "summary.json"
    p.write_text(json.dumps({"status": "completed", "command": "train", "progress": "half",
                             "timings": {"total_s": "inf"}, "seed": "zero",
                             "stop": {"step": "x", "signal": 15}}))
    notes = []
    s = load_summary(p, notes)
    assert s.status == "completed" and s.progress is None and s.seed is None
    assert math.isinf(s.timings.total_s)
    assert sorted(n.split(" (")[0] for n in notes) == ["summary.json: ignored progress",
                                                       "summary.json: ignored seed", "summary.json: ignored stop"]
    p.write_text("{not json")
    notes = []
    assert load_summary(p, notes) is None and "unreadable" in notes[0]


def test_read_run_summary_names_the_key_that_does_not_fit(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"command": "find-lr", "clr": {"max_lr": "big"}}))
    with pytest.raises(LrtoolError, match=r"--lr-from .*r: summary.json: clr.max_lr: "):
        read_run_summary(run, "--lr-from", "find-lr")

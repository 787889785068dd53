"""Run directories, CSV logs and summary.json."""

from __future__ import annotations

import csv
import json
import os

import pytest

from lrtool.errors import LrtoolError
from lrtool.rundir import CsvLog, RunDir, atomic_write_text


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

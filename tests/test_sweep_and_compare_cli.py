"""`lrtool train` sweeps (several schedules x seeds) and `lrtool compare` on real short runs."""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest

from .conftest import interrupt_at, invoke, rows, summary, write_base_config


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep")
    cfg = write_base_config(tmp)
    out = tmp / "sweep"
    res = invoke("train", cfg, "--schedule", "fixed,cyclic", "--seeds", "0,1", "--out", out)
    return tmp, cfg, out, res


def test_sweep_runs_every_combination_and_compares(sweep):
    _tmp, _cfg, out, res = sweep
    assert res.exit_code == 0, res.output
    names = {"constant-seed0", "constant-seed1", "cyclic-seed0", "cyclic-seed1"}
    assert names <= {p.name for p in out.iterdir()}
    for name in names:
        s = summary(out / name)
        assert s["status"] == "completed"
    parent = summary(out)
    assert parent["command"] == "sweep" and parent["status"] == "completed" and len(parent["runs"]) == 4
    assert {p.name for p in (out / "comparison").iterdir()} >= {"comparison.csv", "comparison.md"}
    assert "2 seed groups" in res.output and "±" in res.output
    table = pd.read_csv(out / "comparison" / "comparison.csv")
    assert len(table) == 2  # two seed groups of two


def test_failed_member_does_not_stop_the_sweep(tmp_path):
    cfg = write_base_config(tmp_path)
    out = tmp_path / "sweep"
    res = invoke("train", cfg, "--schedule", "onecycle,constant", "--seeds", "0", "--out", out,
                 "--set", "schedule.onecycle.max_lr=1e12")
    assert res.exit_code == 1, res.output
    parent = summary(out)
    statuses = {r["name"]: r["status"] for r in parent["runs"]}
    assert statuses == {"onecycle-seed0": "diverged", "constant-seed0": "completed"}
    assert "1 of 2 runs did not complete: onecycle-seed0" in res.output.replace("\n", " ")


def test_an_interrupted_sequential_sweep_records_the_members_it_never_started(tmp_path, monkeypatch):
    interrupt_at(monkeypatch, 3)  # a Ctrl-C during the first member's third step
    cfg = write_base_config(tmp_path)
    out = tmp_path / "sweep"
    res = invoke("train", cfg, "--schedule", "constant,cosine,cyclic", "--out", out)
    assert res.exit_code == 130, res.output
    parent = summary(out)
    assert parent["status"] == "interrupted"
    assert [(r["name"], r["status"]) for r in parent["runs"]] == [
        ("constant-seed0", "interrupted"), ("cosine-seed0", "interrupted"), ("cyclic-seed0", "interrupted")]
    assert [r.get("error") for r in parent["runs"][1:]] == ["not started: the sweep was stopped"] * 2
    # a member never started has no directory, and its entry names none
    assert [r["dir"] for r in parent["runs"]] == ["constant-seed0", None, None]
    assert sorted(p.name for p in out.iterdir()) == ["comparison", "constant-seed0", "summary.json"]
    assert "3 of 3 runs did not complete" in res.output.replace("\n", " ")
    # the sweep's comparison holds the member that ran; compare reads the sweep's members alike
    assert [r["run"] for r in rows(out / "comparison" / "comparison.csv")] == ["constant-seed0"]
    res = invoke("compare", str(out / "*-seed0"), "--format", "csv")
    assert res.exit_code == 0 and "constant-seed0" in res.stdout and "cosine" not in res.output


def test_sweep_validates_every_member_first(tmp_path):
    cfg = write_base_config(tmp_path)
    res = invoke("train", cfg, "--schedule", "constant,cyclik", "--out", tmp_path / "s")
    assert res.exit_code == 2 and "did you mean 'cyclic'" in res.output
    assert not (tmp_path / "s").exists()
    res = invoke("train", cfg, "--seeds", "0,x")
    assert res.exit_code == 2 and "--seeds: expected comma-separated integers" in res.output


def test_compare_cli_table_formats_and_target(sweep, tmp_path):
    _tmp, _cfg, out, _res = sweep
    res = invoke("compare", str(out / "*-seed0"), "--out", tmp_path / "c", "--target", "val_acc=0.3")
    assert res.exit_code == 0, res.output
    assert "schedule.name: constant" in res.output and "cyclic" in res.output
    assert (tmp_path / "c" / "comparison.md").exists()
    res = invoke("compare", out / "constant-seed0", out / "cyclic-seed0", "--format", "csv",
                 "--out", tmp_path / "d")
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.stdout[res.stdout.index("run"):])))
    assert {r["run"] for r in rows} == {"constant-seed0", "cyclic-seed0"}
    res = invoke("compare", out / "constant-seed0", "--format", "json", "--out", tmp_path / "e")
    assert res.exit_code == 0
    json.loads(res.stdout[res.stdout.index("["):] if res.stdout.lstrip().startswith("[") else res.stdout)


def test_compare_find_lr_runs_and_bad_input(sweep, tmp_path):
    tmp, cfg, out, _res = sweep
    for name in ("f1", "f2"):
        assert invoke("find-lr", cfg, "--out", tmp_path / name).exit_code == 0
    res = invoke("compare", tmp_path / "f1", tmp_path / "f2", "--out", tmp_path / "c")
    assert res.exit_code == 0, res.output
    assert "valley" in res.output or "suggest" in res.output
    res = invoke("compare", str(tmp_path / "nothing-*"))
    assert res.exit_code == 2 and res.output.startswith("lrtool: error: ")
    res = invoke("compare", tmp_path / "c", "--out", tmp_path / "c2")
    assert res.exit_code == 2
    res = invoke("compare", out / "constant-seed0", "--format", "xml")
    assert res.exit_code == 2 and "xml" in res.output

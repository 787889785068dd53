"""`lrtool compare` as a library: reading runs, the table, seed groups, targets, formats, files."""

from __future__ import annotations

import copy
import io
import json
import math
import os
import socket
import time

import pandas as pd
import pytest
import yaml
from rich.console import Console

from lrtool import compare as C
from lrtool.errors import LrtoolError
from lrtool.rundir import RunLock, read_csv_frame
from lrtool.rundir import columns as cols
from lrtool.schedules import choose_schedule

from .conftest import write_run

SPE = 10  # steps per epoch in every fixture

BASE_CONFIG = {
    "seed": 0,
    "device": "cpu",
    "data": {"name": "digits", "batch_size": 64, "val_fraction": 0.2},
    "model": {"name": "mlp"},
    "optimizer": {"name": "SGD", "lr": 0.1, "momentum": 0.9},
    "loss": {"name": "cross_entropy"},
    "schedule": {"name": "constant"},
    "train": {"epochs": 4, "precision": "fp32"},
    "find_lr": {"start_lr": 1.0e-6, "end_lr": 10.0, "num_iter": 20, "mode": "exp"},
}


def config_text(**changes):
    """BASE_CONFIG with dotted-key changes, as YAML."""
    cfg = copy.deepcopy(BASE_CONFIG)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = cfg
        for p in parents:
            node = node[p]
        node[last] = value
    return yaml.safe_dump(cfg, sort_keys=False)


def make_train(root, name, val_acc, val_loss, *, config=None, status="completed", schedule="constant",
               test=None, truncate=False, epoch_time=2.0, summary=True, **summary_extra):
    """A train run whose epoch k (1-based) has val_acc[k-1] and val_loss[k-1]."""
    n_epochs = len(val_acc)
    steps = [{"step": step, "epoch": step // SPE,
              "lr": 0.1 if schedule == "constant" else 0.01 + 0.09 * (step % 10) / 9,
              "loss": 2.0 / (1 + step / 5), "time_s": (step + 1) * epoch_time / SPE}
             for step in range(n_epochs * SPE)]
    epochs = [{"epoch": k, "step": k * SPE, "lr": 0.1, "train_loss": loss + 0.1, "train_acc": acc - 0.02,
               "val_loss": loss, "val_acc": acc, "time_s": k * epoch_time}
              for k, (acc, loss) in enumerate(zip(val_acc, val_loss), start=1)]
    s = {"status": status, "command": "train", "schedule": schedule, "epochs": 4,
         "steps_per_epoch": SPE, "progress": {"epoch": n_epochs, "step": n_epochs * SPE},
         "test": test, "timings": {"total_s": n_epochs * epoch_time + 0.5}, **summary_extra}
    run = write_run(root / name, summary=s if summary else None,
                    config=config_text(**{"schedule.name": schedule, **(config or {})}),
                    csvs={"steps.csv": (cols.step_columns(False, 1), steps),
                          "epochs.csv": (cols.EPOCH_COLUMNS, epochs)}).path
    if truncate:  # killed mid-write: half a row, no newline
        with open(run / "steps.csv", "a") as f:
            f.write(f"{n_epochs * SPE},{n_epochs},0.1,0.0")
        with open(run / "epochs.csv", "a") as f:
            f.write(f"{n_epochs + 1},{(n_epochs + 1) * SPE},0.1,0.3")
    return run


def make_find_lr(root, name, *, steepest=1e-2, valley=3e-3, num=20, finished=True, seed=0, config=None):
    rows = []
    for i in range(num):
        lr = 1e-6 * (1e7 ** (i / (num - 1)))
        loss = 2.0 - math.log10(lr / 1e-6) * 0.2 if lr < 0.1 else 2.0 + (lr - 0.1) * 10
        rows.append({"step": i, "lr": lr, "loss": loss, "smoothed_loss": loss})
    s = {"status": "completed" if finished else "running", "command": "find-lr", "seed": seed}
    if finished:
        s["suggestions"] = {"steepest": {"lr": steepest, "step": 12, "loss": 1.2},
                            "valley": {"lr": valley, "step": 10, "loss": 1.4}, "minimum": None}
        s["clr"] = {"base_lr": valley / 4, "max_lr": valley}
        s["onecycle"] = {"max_lr": valley}
        s["stop"] = {"reason": "diverged", "step": num - 1, "message": "loss exploded", "steps_run": num}
    return write_run(root / name, summary=s, config=config_text(seed=seed, **(config or {})),
                     csvs={"lr_find.csv": (cols.FIND_COLUMNS, rows)}).path


@pytest.fixture
def runs(tmp_path):
    """fixed and cyclic runs, a 3-run seed group, an interrupted (killed) run, a diverged run."""
    r = tmp_path / "runs"
    make_train(r, "fixed", [0.80, 0.90, 0.93, 0.92], [0.6, 0.4, 0.30, 0.35],
               test={"test_loss": 0.33, "test_acc": 0.91})
    make_train(r, "cyclic", [0.85, 0.94, 0.96, 0.97], [0.5, 0.3, 0.25, 0.26], schedule="triangular",
               config={"optimizer.lr": 0.05}, test={"test_loss": 0.27, "test_acc": 0.95})
    for seed, accs in zip((0, 1, 2), ([0.70, 0.80, 0.90, 0.91], [0.72, 0.82, 0.88, 0.93],
                                      [0.74, 0.84, 0.92, 0.95])):
        make_train(r, f"seeds-s{seed}", accs, [0.9, 0.7, 0.5, 0.45], schedule="cosine",
                   config={"seed": seed})
    make_train(r, "killed", [0.5, 0.6], [1.0, 0.8], status="running", truncate=True,
               config={"optimizer.lr": 0.2})
    make_train(r, "blowup", [0.4, float("nan")], [1.5, float("inf")], status="diverged",
               config={"optimizer.lr": 5.0}, stop={"reason": "non_finite", "step": 17, "message": "nan"})
    return r


@pytest.fixture
def no_plots(monkeypatch):
    """Skip drawing where a test checks only text: matplotlib is most of compare's time."""
    monkeypatch.setattr(C, "write_plots", lambda *a, **k: [])


def consoles():
    out, err = io.StringIO(), io.StringIO()
    return out, err, Console(file=out, width=250, highlight=False), Console(file=err, width=250)


# --------------------------------------------------------------------------- reading runs


def test_final_best_and_epoch_of_best(runs):
    run = C.load_run(runs / "fixed")
    rec = C.run_record(run)
    assert rec["final_val_acc"] == pytest.approx(0.92)
    assert rec["best_val_acc"] == pytest.approx(0.93)
    assert (rec["best_val_acc_epoch"], rec["best_val_acc_step"]) == (3, 30)
    assert rec["best_val_loss"] == pytest.approx(0.30) and rec["best_val_loss_epoch"] == 3
    assert rec["final_val_loss"] == pytest.approx(0.35)
    assert rec["test_acc"] == pytest.approx(0.91)
    assert rec["wall_s"] == pytest.approx(8.5)
    assert rec["status_label"] == "completed"


def test_best_from_summary_when_no_epochs_csv(tmp_path):
    run = make_train(tmp_path, "r", [0.5], [1.0], best={"val_acc": {"value": 0.77, "epoch": 9, "step": 90}},
                     final={"val_acc": 0.7})
    (run / "epochs.csv").unlink()
    rec = C.run_record(C.load_run(run))
    assert (rec["best_val_acc"], rec["best_val_acc_epoch"], rec["final_val_acc"]) == (0.77, 9, 0.7)


def test_truncated_last_line_is_skipped_with_a_note(runs):
    run = C.load_run(runs / "killed")
    assert len(run.steps) == 2 * SPE and len(run.epochs) == 2
    assert any("truncated last line in steps.csv" in n for n in run.notes)
    assert any("truncated last line in epochs.csv" in n for n in run.notes)


def test_malformed_middle_line_is_skipped(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n3\n4,5\n")
    notes = []
    df = read_csv_frame(p, notes)
    assert df["a"].tolist() == [1, 4] and "malformed" in notes[0]


def test_status_labels(runs):
    assert C.status_label(C.load_run(runs / "blowup")) == "diverged at step 17"
    stopped = make_train(runs, "stopped", [0.5], [1.0], status="interrupted")
    assert C.status_label(C.load_run(stopped)) == "interrupted at step 10"
    lock = RunLock(runs / "killed", "train").acquire()  # this live process writes the run
    try:
        assert C.status_label(C.load_run(runs / "killed")) == "running at step 20"
        old = time.time() - 3 * 3600
        for f in (runs / "killed").iterdir():
            os.utime(f, (old, old))
        assert C.status_label(C.load_run(runs / "killed")) == "running at step 20 (no writes for 3 h: killed?)"
    finally:
        lock.release()


def test_a_running_run_whose_process_is_gone_is_stopped_and_left_as_it_is(runs):
    killed = runs / "killed"
    # the lock of a process that no longer exists (kill -9): the pid is free, or taken by a later process
    dead = {"pid": 2 ** 22 + 1, "host": socket.gethostname(), "command": "train", "started": "x", "proc_start": "1"}
    (killed / ".lrtool.lock").write_text(json.dumps(dead) + "\n")
    before = {f.name: (f.stat().st_mtime_ns, f.read_bytes()) for f in killed.iterdir() if f.is_file()}
    run = C.load_run(killed)
    assert C.status_label(run) == "stopped at step 20 (killed?)"
    assert f"summary.json says running, but its process is gone (killed?); continue with: lrtool train --resume " \
           f"{killed}" in run.notes
    C.compare_runs([str(killed)], fmt="csv", console=consoles()[2], err_console=consoles()[3])
    after = {f.name: (f.stat().st_mtime_ns, f.read_bytes()) for f in killed.iterdir() if f.is_file()}
    assert after == before  # compare only reads: the run's files, its lock included, stay as they were
    (killed / ".lrtool.lock").unlink()  # no lock at all: nobody writes the run either
    assert C.status_label(C.load_run(killed)) == "stopped at step 20 (killed?)"


def test_diverged_run_keeps_finite_best(runs):
    rec = C.run_record(C.load_run(runs / "blowup"))
    assert rec["best_val_loss"] == 1.5 and rec["final_val_loss"] == math.inf
    assert math.isnan(rec["final_val_acc"]) and rec["best_val_acc"] == 0.4


def test_not_a_run_and_empty_run(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("hi")
    with pytest.raises(LrtoolError, match=r"notes: not a run directory"):
        C.load_run(tmp_path / "notes")
    empty = write_run(tmp_path / "empty", summary={"status": "running", "command": "train"},
                      config=config_text(), csvs={"steps.csv": (cols.step_columns(False, 1), [])}).path
    with pytest.raises(LrtoolError, match=r"empty: run has no metrics"):
        C.load_run(empty)


# --------------------------------------------------------------------------- targets


def test_steps_to_target(runs):
    epochs = C.load_run(runs / "cyclic").epochs
    hit = C.steps_to_target(epochs, C.parse_target("val_acc=0.95"))
    assert hit == {"step": 30, "epoch": 3, "time_s": 6.0}
    assert C.steps_to_target(epochs, C.parse_target("val_acc=0.94"))["epoch"] == 2  # >= counts
    assert C.steps_to_target(epochs, C.parse_target("val_loss=0.3"))["step"] == 20  # <= for losses
    assert C.steps_to_target(epochs, C.parse_target("val_acc=0.99")) is None


def test_target_columns_and_not_reached(runs):
    cmp = C.build_comparison([C.load_run(runs / n) for n in ("fixed", "cyclic")],
                             target=C.parse_target("val_acc=0.95"))
    t = cmp.table.set_index("run")
    assert t.loc["cyclic", "target_step"] == 30 and t.loc["cyclic", "target_s"] == 6.0
    assert math.isnan(t.loc["fixed", "target_step"])
    _, cells, _ = C.render_rows(cmp)
    assert "not reached" in next(r for r in cells if r[0] == "fixed")
    assert "step 30, ep 3, 6.0s" in next(r for r in cells if r[0] == "cyclic")


def test_test_metric_target_takes_the_whole_run(runs):
    loaded = [C.load_run(runs / n) for n in ("fixed", "cyclic")]
    t = C.comparison_table(loaded, target=C.parse_target("test_acc=0.93")).set_index("run")
    assert (t.loc["cyclic", "target_step"], t.loc["cyclic", "target_s"]) == (40, 8.5)
    assert t.loc["fixed", "target_reached"] == 0


def test_run_without_summary_and_failed_run(tmp_path):
    bare = make_train(tmp_path, "bare", [0.5, 0.7], [1.0, 0.9], summary=False)
    run = C.load_run(bare)
    assert run.command == "train" and "no summary.json" in run.notes[0]
    rec = C.run_record(run)
    assert rec["status_label"] == "unknown at step 20" and rec["wall_s"] == 4.0
    failed = make_train(tmp_path, "failed", [0.5], [1.0], status="failed", error="CUDA out of memory")
    run = C.load_run(failed)
    assert C.status_label(run) == "failed" and "failed: CUDA out of memory" in run.notes


@pytest.mark.parametrize("bad, message", [
    ("val_acc", "expected METRIC=VALUE"),
    ("accuracy=0.9", "expected one of (val_acc"),
    ("val_acc=high", "expected a number after '=', got 'high'"),
])
def test_bad_target(bad, message):
    with pytest.raises(LrtoolError, match=message.replace("(", r"\(")):
        C.parse_target(bad)


def test_bad_format_and_x(runs):
    with pytest.raises(LrtoolError, match=r"--format: expected one of \(table, csv, md, json\), got 'xml'"):
        C.compare_runs([str(runs / "fixed")], fmt="xml")
    with pytest.raises(LrtoolError, match=r"--x: expected one of \(step, epoch, time\), got 'epochs'"):
        C.compare_runs([str(runs / "fixed")], x="epochs")


# --------------------------------------------------------------------------- config diff and seed groups


def test_only_changed_config_keys(runs):
    loaded = [C.load_run(runs / n) for n in ("fixed", "cyclic", "seeds-s0", "seeds-s1")]
    diff = C.config_diff(loaded)
    assert set(diff) == {"seed", "optimizer.lr", "schedule.name"}
    assert diff["optimizer.lr"] == {"fixed": 0.1, "cyclic": 0.05, "seeds-s0": 0.1, "seeds-s1": 0.1}
    assert C.config_diff(loaded[:1]) == {}


def test_a_key_unset_in_every_run_is_no_difference(tmp_path):
    """Missing in one config and null in another (or null in both) is the same: unset."""
    make_train(tmp_path, "a", [0.8], [0.5], config={"train.grad_clip": None, "train.note": None})
    make_train(tmp_path, "b", [0.8], [0.5], config={"optimizer.lr": 0.05})
    make_train(tmp_path, "c", [0.8], [0.5], config={"train.note": None, "train.grad_clip": 1.0})
    ab = [C.load_run(tmp_path / n) for n in ("a", "b")]
    assert C.config_diff(ab) == {"optimizer.lr": {"a": 0.1, "b": 0.05}}
    diff = C.config_diff(ab + [C.load_run(tmp_path / "c")])
    assert set(diff) == {"optimizer.lr", "train.grad_clip"}  # set in c: a real difference
    assert diff["train.grad_clip"] == {"a": None, "b": None, "c": 1.0}


def test_schedule_arguments_moved_by_schedule_are_one_setting_not_a_difference(tmp_path):
    """--schedule moves the old schedule's flat arguments into its block: the same setting under two keys."""
    section = {"name": "sgdr", "cycle": "2 epochs", "t_mult": 1.5, "cyclic": {"base_lr": 0.01, "max_lr": 0.2},
               "warmup": "1 epoch"}
    for name in ("sgdr", "cyclic", "clr"):  # clr: an alias of cyclic, saved as given
        chosen = choose_schedule(copy.deepcopy(section), name) if name != "sgdr" else section
        make_train(tmp_path, name, [0.8], [0.5], schedule=name, config={"schedule": chosen})
    assert yaml.safe_load((tmp_path / "cyclic" / "config.yaml").read_text())["schedule"]["sgdr"]["cycle"] \
        == "2 epochs"  # where --schedule put it
    loaded = [C.load_run(tmp_path / n) for n in ("sgdr", "cyclic", "clr")]
    assert C.config_diff(loaded) == {"schedule.name": {"sgdr": "sgdr", "cyclic": "cyclic", "clr": "cyclic"}}
    assert loaded[0].config["schedule.sgdr.cycle"] == "2 epochs" and loaded[0].config["schedule.warmup"] == "1 epoch"
    # a setting that really differs still shows, under the one key
    make_train(tmp_path, "other", [0.8], [0.5], schedule="cyclic", config={"schedule": {
        "name": "cyclic", "sgdr": {"cycle": "3 epochs", "t_mult": 1.5}, "cyclic": {"base_lr": 0.01, "max_lr": 0.2},
        "warmup": "1 epoch"}})
    diff = C.config_diff([loaded[0], C.load_run(tmp_path / "other")])
    assert diff["schedule.sgdr.cycle"] == {"sgdr": "2 epochs", "other": "3 epochs"} and "schedule.cycle" not in diff


def test_seed_groups_mean_std(runs):
    loaded = [C.load_run(runs / f"seeds-s{s}") for s in range(3)] + [C.load_run(runs / "fixed")]
    groups = C.seed_groups(loaded)
    assert [len(g) for g in groups] == [3, 1]
    assert C.group_label(groups[0]) == "seeds (seeds 0, 1, 2)"
    cmp = C.build_comparison(loaded)
    row = cmp.table.set_index("run").loc["seeds (seeds 0, 1, 2)"]
    finals = pd.Series([0.91, 0.93, 0.95])
    assert row["n_runs"] == 3
    assert row["final_val_acc"] == pytest.approx(finals.mean())
    assert row["final_val_acc_std"] == pytest.approx(finals.std(ddof=1))
    assert row["final_val_acc_n"] == 3
    _, cells, _ = C.render_rows(cmp)
    group_cells = next(r for r in cells if r[0].startswith("seeds"))
    assert "0.9300 ± 0.0200 (3)" in group_cells
    assert len(cells) == 2  # members hidden unless asked for


def test_seed_group_labels_stay_unique(tmp_path):
    # default run names share <config>-<schedule>-<date> across groups
    names = ["q-constant-20261121-100000", "q-constant-20261121-100005",
             "q-constant-20261121-100010", "q-constant-20261121-100015"]
    for name, (seed, lr) in zip(names, [(0, 0.1), (1, 0.1), (0, 0.2), (1, 0.2)]):
        make_train(tmp_path, name, [0.8], [0.5], config={"seed": seed, "optimizer.lr": lr})
    t = C.comparison_table([C.load_run(tmp_path / n) for n in names])
    assert len(t) == 2 and t["run"].is_unique
    assert t["run"][0] == "q-constant-20261121-100000, q-constant-20261121-100005 (seeds 0, 1)"


def test_individual_runs_on_request(runs):
    loaded = [C.load_run(runs / f"seeds-s{s}") for s in range(3)]
    cmp = C.build_comparison(loaded, individual=True)
    assert list(cmp.table["n_runs"]) == [3, 1, 1, 1]
    assert list(cmp.table["final_val_acc"][1:]) == pytest.approx([0.91, 0.93, 0.95])
    _, cells, _ = C.render_rows(cmp)
    assert [r[0] for r in cells] == ["seeds (seeds 0, 1, 2)", "  · seeds-s0", "  · seeds-s1", "  · seeds-s2"]


def test_rows_ranked_by_metric_with_delta(runs):
    loaded = [C.load_run(runs / n) for n in ("fixed", "cyclic")]
    t = C.comparison_table(loaded)
    assert list(t["run"]) == ["cyclic", "fixed"]
    assert t["delta_best_val_acc"].tolist() == pytest.approx([0.0, -0.04])
    t = C.comparison_table(loaded, metric="test_loss")
    assert list(t["run"]) == ["cyclic", "fixed"]


# --------------------------------------------------------------------------- the command


def test_formats_parse(runs, no_plots):
    pattern = str(runs / "*")
    out, err, con, econ = consoles()
    assert C.compare_runs([pattern], fmt="csv", out=runs.parent / "c1", console=con, err_console=econ) == 0
    df = pd.read_csv(io.StringIO(out.getvalue()))
    assert {"fixed", "cyclic", "killed", "blowup"} <= set(df["run"])
    assert "optimizer.lr" in df.columns and "final_val_acc" in df.columns

    out, err, con, econ = consoles()
    C.compare_runs([pattern], fmt="json", out=runs.parent / "c2", console=con, err_console=econ)
    records = json.loads(out.getvalue())
    assert {r["run"] for r in records} >= {"fixed", "cyclic"}

    out, err, con, econ = consoles()
    C.compare_runs([pattern], fmt="md", out=runs.parent / "c3", console=con, err_console=econ)
    md = out.getvalue().splitlines()
    header = next(i for i, line in enumerate(md) if line.startswith("| run |"))
    assert md[header + 1].startswith("|---")
    assert "**Config differences**" in md[0]
    assert "wrote" in err.getvalue() and "wrote" not in out.getvalue()


def test_table_output_and_files(runs, tmp_path, monkeypatch):
    out, err, con, econ = consoles()
    dest = tmp_path / "cmp"
    C.compare_runs([str(runs / "*")], out=dest, target="val_acc=0.95", console=con, err_console=econ)
    text = out.getvalue()
    assert "config differences:" in text and "schedule.name: constant (blowup, fixed, killed)" in text
    assert "stopped at step 20 (killed?)" in text and "diverged at step 17" in text
    assert "seeds (seeds 0, 1, 2)" in text and "not reached" in text
    assert "best by best val_acc: cyclic (0.9700)" in text
    assert "note: killed: skipped a truncated last line in steps.csv" in err.getvalue()
    names = {p.name for p in dest.iterdir()}
    assert {"comparison.csv", "comparison.md", "summary.json", "lr.png", "train_loss.png",
            "val_acc.png", "val_loss.png"} <= names
    assert "lr_find.png" not in names  # no find-lr run given: nothing to plot
    for png in dest.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(pd.read_csv(dest / "comparison.csv")) == 5
    # a later glob over runs/ skips the compare output by name
    monkeypatch.setattr(C, "write_plots", lambda *a, **k: [])
    out, err, con, econ = consoles()
    C.compare_runs([str(runs / "fixed"), str(dest)], fmt="csv", out=tmp_path / "c2", x="time",
                   console=con, err_console=econ)
    assert "a compare output, not a run" in err.getvalue()


def test_default_out_dir(runs, tmp_path, monkeypatch, no_plots):
    monkeypatch.chdir(tmp_path)
    out, err, con, econ = consoles()
    C.compare_runs([str(runs / "fixed")], x="epoch", console=con, err_console=econ)
    made = list((tmp_path / "runs").glob("compare-*"))
    assert len(made) == 1 and (made[0] / "comparison.md").is_file()
    assert f"wrote runs/{made[0].name}/" in out.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "md", "json"])
def test_a_machine_format_without_out_prints_and_creates_nothing(runs, tmp_path, monkeypatch, no_plots, fmt):
    monkeypatch.chdir(tmp_path)
    out, err, con, econ = consoles()
    assert C.compare_runs([str(runs / "fixed"), str(runs / "cyclic")], fmt=fmt, console=con, err_console=econ) == 0
    assert "cyclic" in out.getvalue() and "wrote" not in out.getvalue() + err.getvalue()
    assert not list((tmp_path / "runs").glob("compare-*"))  # (runs/ holds the fixture runs)
    C.compare_runs([str(runs / "fixed")], fmt=fmt, out=tmp_path / "c", console=con, err_console=econ)
    assert (tmp_path / "c" / "comparison.md").is_file() and f"wrote {tmp_path / 'c'}/" in err.getvalue()


def test_invalid_dir_skipped_when_others_valid(runs, tmp_path, no_plots):
    (tmp_path / "junk").mkdir()
    out, err, con, econ = consoles()
    C.compare_runs([str(runs / "fixed"), str(tmp_path / "junk")], fmt="csv", out=tmp_path / "o",
                   console=con, err_console=econ)
    assert "warning: skipped" in err.getvalue() and "junk: not a run directory" in err.getvalue()
    assert list(pd.read_csv(io.StringIO(out.getvalue()))["run"]) == ["fixed"]


def test_invalid_dir_alone_is_an_error(tmp_path):
    (tmp_path / "junk").mkdir()
    with pytest.raises(LrtoolError, match=r"junk: not a run directory") as e:
        C.compare_runs([str(tmp_path / "junk")], out=tmp_path / "o")
    assert e.value.exit_code == 2 and "\n" not in str(e.value)
    assert not (tmp_path / "o").exists()  # nothing written for bad input


def test_empty_glob_is_an_error(tmp_path):
    with pytest.raises(LrtoolError, match="no run directories to compare"):
        C.compare_runs([str(tmp_path / "nothing-*")])
    with pytest.raises(LrtoolError, match="no run directories to compare"):
        C.compare_runs([])


def test_find_lr_runs_compared_by_suggestions(tmp_path, monkeypatch):
    r = tmp_path / "runs"
    make_find_lr(r, "lrf-sgd", steepest=1e-2, valley=3e-3)
    make_find_lr(r, "lrf-adam", steepest=2e-3, valley=1e-3, config={"optimizer.name": "Adam"})
    make_find_lr(r, "lrf-killed", finished=False, seed=7)
    make_train(r, "train", [0.8, 0.9], [0.5, 0.4])
    out, err, con, econ = consoles()
    dest = tmp_path / "cmp"
    C.compare_runs([str(r / "*")], out=dest, fmt="json", individual=True, console=con, err_console=econ)
    rows = {row["run"]: row for row in json.loads(out.getvalue())}
    assert rows["lrf-adam"]["steepest_lr"] == 2e-3 and rows["lrf-adam"]["clr_max_lr"] == 1e-3
    # lrf-sgd and lrf-killed differ only in seed: a group, with its runs listed on request
    assert rows["lrf-sgd"]["steepest_lr"] == 1e-2 and rows["lrf-sgd"]["valley_lr"] == 3e-3
    assert rows["lrf-killed"]["steepest_lr"] is None and rows["lrf-killed"]["min_loss_lr"] > 0
    assert rows["lrf (seeds 7, 0)"]["n_runs"] == 2 and rows["lrf (seeds 7, 0)"]["steepest_lr_n"] == 1
    assert rows["train"]["command"] == "train" and rows["train"]["steepest_lr"] is None
    assert "lrf-killed: no suggestions" in err.getvalue()
    assert (dest / "lr_find.png").read_bytes()[:4] == b"\x89PNG"
    monkeypatch.setattr(C, "write_plots", lambda *a, **k: [])
    out, err, con, econ = consoles()
    C.compare_runs([str(r / "lrf-sgd"), str(r / "lrf-adam")], out=tmp_path / "c2", console=con,
                   err_console=econ)
    text = out.getvalue()
    assert "LR range tests: 2 runs" in text and "training runs" not in text
    assert "steepest" in text and "0.01" in text and "0.002" in text and "0.00075..0.003" in text
    assert "optimizer.name: SGD (lrf-sgd), Adam (lrf-adam)" in text


def test_overlay_smoothing_is_the_range_tests_ema():
    from lrtool.compare.series import smooth_loss
    from lrtool.run.finder import smooth

    loss = pd.Series([2.0, 1.5, float("nan"), 1.2, float("inf"), 1.0] * 20)
    got = smooth_loss(loss)  # 120 points: a span of 4
    finite = loss.map(math.isfinite)
    clean = loss.where(finite)
    assert got[finite].tolist() == pytest.approx(clean.ewm(span=4, adjust=True, ignore_na=True).mean()[finite].tolist())
    assert got[~finite].isna().all()
    assert got[finite].tolist() == pytest.approx(smooth(loss[finite].tolist(), 0.6))

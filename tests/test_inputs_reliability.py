"""Issue 14, kinds 5-8: compare never reports wrong numbers, bad input is found before training,
sizes that come from users are bounded, and the exit code is lrtool's (plus the smaller cases:
the honest `wrote` line, file modes that follow the umask, compare's memory on a long steps.csv)."""

from __future__ import annotations

import csv
import io
import json
import os
import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lrtool import checks
from lrtool.commands.preview import MAX_PREVIEW_STEPS, _Envelope
from lrtool.compare import load_run
from lrtool.compare.load import STEP_USE
from lrtool.compare.series import thin
from lrtool.config import load_config, parse_yaml
from lrtool.config.load import MAX_YAML_DEPTH, YamlLimit
from lrtool.errors import LrtoolError
from lrtool.rundir import columns as C
from lrtool.rundir import read_csv_frame
from lrtool.schedules import Plan, build_schedule, resolve_schedule
from lrtool.schedules.context import MAX_MARKS

from .conftest import BASE_CONFIG, invoke, summary, write_base_config, write_run

ROOT = Path(__file__).resolve().parent.parent
EPOCHS = 6
SPE = 4


def train_run(path: Path, **summary_changes) -> Path:
    """A completed 6-epoch train run whose val_acc rises 0.5, 0.6, ... 1.0 (the last epoch's is the best)."""
    steps = [{"step": s, "epoch": s // SPE, "lr": 0.1, "loss": 1.0 / (s + 1), "time_s": s * 0.1}
             for s in range(EPOCHS * SPE)]
    epochs = [{"epoch": e, "step": e * SPE, "lr": 0.1, "train_loss": 1.0 / e, "train_acc": 0.4 + e / 10,
               "val_loss": 1.0 / e, "val_acc": 0.4 + e / 10, "time_s": e * 0.4} for e in range(1, EPOCHS + 1)]
    s = {"status": "completed", "command": "train", "schedule": "constant", "epochs": EPOCHS,
         "steps_per_epoch": SPE, "total_steps": EPOCHS * SPE,
         "progress": {"epoch": EPOCHS, "step": EPOCHS * SPE}, "timings": {"total_s": 2.4}}
    s.update(summary_changes)
    write_run(path, summary=s, config=BASE_CONFIG, csvs={
        "steps.csv": (C.step_columns(False, 1), steps), "epochs.csv": (C.EPOCH_COLUMNS, epochs)})
    return path


def compare_csv(*args) -> tuple[list[dict[str, str]], str, int]:
    """`lrtool compare ARGS --format csv`: (table rows, stderr, exit code)."""
    res = invoke("compare", *args, "--format", "csv")
    table = list(csv.DictReader(io.StringIO(res.stdout))) if res.exit_code == 0 else []
    return table, res.stderr, res.exit_code


# --------------------------------------------------------------------------- 5. compare's numbers


def test_a_stray_quote_in_epochs_csv_costs_exactly_its_line(tmp_path):
    run = train_run(tmp_path / "quoted")
    lines = (run / "epochs.csv").read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace(",0.1,", ',0.1,"', 1)  # epoch 2's row: an unclosed quote mid-line
    (run / "epochs.csv").write_text("".join(lines))
    table, err, code = compare_csv(run, "--out", tmp_path / "cmp")
    assert code == 0
    row = table[0]
    # the 5 other epochs are all read: the final and best val_acc are epoch 6's, not epoch 1's
    assert float(row["epochs_done"]) == EPOCHS and float(row["final_val_acc"]) == pytest.approx(1.0)
    assert float(row["best_val_acc_epoch"]) == EPOCHS
    assert "quoted: skipped 1 malformed line in epochs.csv" in err
    assert "truncated" not in err


def test_a_summary_field_of_the_wrong_type_is_left_out_with_a_note(tmp_path):
    good = train_run(tmp_path / "good")
    bad = tmp_path / "bad"
    train_run(bad)
    raw = summary(bad)
    raw.update(progress="x", best=5, final={"val_acc": "abc"}, timings={"total_s": True})
    (bad / "summary.json").write_text(json.dumps(raw))
    table, err, code = compare_csv(good, bad, "--out", tmp_path / "cmp")
    assert code == 0 and len(table) == 1  # one seed group of the two
    row = table[0]
    assert row["n_runs"] == "2" and float(row["final_val_acc"]) == pytest.approx(1.0)
    assert float(row["epochs_done"]) == EPOCHS  # progress came from the CSVs instead
    for key in ("progress", "best", "final", "timings"):
        assert f"bad: summary.json: ignored {key}" in err


def test_a_directory_whose_name_is_not_utf8_is_comparable(tmp_path):
    name = os.fsdecode(b"run-\xff\xfe")  # bytes no UTF-8 decoder accepts: Python keeps them as surrogates
    run = train_run(tmp_path / name)
    out = tmp_path / "cmp"
    table, err, code = compare_csv(run, "--out", out)
    assert code == 0, err
    assert table[0]["run"] == "run-\\xff\\xfe" and table[0]["path"].endswith("run-\\xff\\xfe")
    # every output file is valid UTF-8 and names the run the same way
    assert "run-\\xff\\xfe" in (out / "comparison.md").read_text(encoding="utf-8")
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["runs"][0].endswith("run-\\xff\\xfe")
    res = invoke("compare", run, "--out", tmp_path / "cmp2")  # the rich table too
    assert res.exit_code == 0 and "run-\\xff\\xfe" in res.stdout


def test_a_missing_directory_with_an_undecodable_name_is_one_line(tmp_path):
    res = invoke("compare", tmp_path / os.fsdecode(b"gone-\xff"))
    assert res.exit_code == 2 and "gone-\\xff: no such run directory" in res.stderr


def test_compare_reads_only_the_steps_columns_it_uses(tmp_path):
    run = tmp_path / "run"
    steps = [{"step": s, "epoch": 0, "lr": 0.1, "loss": 1.0, "momentum": 0.9, "lr/pg0": 0.1, "lr/pg1": 0.2,
              "time_s": s} for s in range(5)]
    write_run(run, summary={"status": "completed", "command": "train"},
              csvs={"steps.csv": (C.step_columns(True, 2), steps)})
    loaded = load_run(run)
    assert list(loaded.steps.columns) == list(STEP_USE)
    assert all(str(t) == "float64" for t in loaded.steps.dtypes)


def test_the_frame_reader_streams_and_counts_what_it_skips(tmp_path):
    p = tmp_path / "steps.csv"
    p.write_text('step,epoch,lr,loss,time_s\n0,0,0.1,2.0,0\n1,0,"0.1,1.9,0\n2,0,0.1,1.8,0,extra\n'
                 '3,0,0.1,word,0\n\n4,0,0.1,1.6,0\n5,0,0.1,1.')
    notes: list[str] = []
    df = read_csv_frame(p, notes, columns=("step", "loss", "absent"))
    assert list(df.columns) == ["step", "loss"]
    assert df["step"].tolist() == [0, 3, 4] and df["loss"].tolist()[::2] == [2.0, 1.6]
    assert df["loss"].isna().tolist() == [False, True, False]  # a stray word is a gap, not a number
    assert notes == ["skipped a truncated last line in steps.csv (killed mid-write?)",
                     "skipped 2 malformed lines in steps.csv"]


def test_overlay_curves_keep_their_envelope_when_thinned():
    y = [(i % 7) / 6 for i in range(100_000)]  # a saw tooth far faster than the thinning step
    keep = thin(y, limit=1000)
    assert len(keep) <= 1002 and keep[0] == 0 and keep[-1] == len(y) - 1
    assert min(y[i] for i in keep) == 0.0 and max(y[i] for i in keep) == 1.0
    assert thin([1.0, 2.0], limit=10).tolist() == [0, 1]


@pytest.mark.slow
def test_compare_of_a_3_million_row_steps_csv_stays_small(tmp_path):
    n = 3_000_000
    run = tmp_path / "long"
    write_run(run, summary={"status": "completed", "command": "train", "steps_per_epoch": 1000})
    with open(run / "steps.csv", "w") as f:
        f.write("step,epoch,lr,loss,momentum,time_s\n")
        for start in range(0, n, 100_000):
            f.writelines(f"{i},{i // 1000},{0.1 - i * 1e-8!r},{2.0 / (1 + i / 1000)!r},0.9,{i * 1e-3:.4f}\n"
                         for i in range(start, start + 100_000))
    assert (run / "steps.csv").stat().st_size > 150e6
    code = ("import resource, sys\nfrom lrtool.cli import main\nsys.argv = ['lrtool', 'compare', sys.argv[1], "
            "'--out', sys.argv[2], '--format', 'csv']\ntry:\n    main()\nfinally:\n    print('maxrss_kb', "
            "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)")
    res = subprocess.run([sys.executable, "-c", code, str(run), str(tmp_path / "cmp")], capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
    assert res.returncode == 0, res.stderr
    row = next(csv.DictReader(io.StringIO(res.stdout)))
    assert float(row["steps_done"]) == n
    peak_mb = int(res.stderr.split("maxrss_kb")[1].split()[0]) / 1024
    # the 200 MB of text was once held four times over (3.4 GB); now 8 bytes per value kept
    assert peak_mb < 1000, f"compare peaked at {peak_mb:.0f} MB"


# --------------------------------------------------------------------------- 6. bad input before training


def _no_run(out: Path) -> bool:
    """Nothing was written: the run never started."""
    return not out.exists()


def test_a_plateau_on_a_val_metric_without_a_val_split_is_refused_before_training(tmp_path):
    cfg = write_base_config(tmp_path)
    out = tmp_path / "run"
    for command in ("train", "preview"):
        res = invoke(command, cfg, "--set", "data.val_fraction=0", "--set", "schedule.name=plateau", "--out", out)
        assert res.exit_code == 2 and _no_run(out)
        assert res.stderr.count("\n") == 1
        assert "schedule.monitor: plateau monitors val_loss, which this run does not measure" in res.stderr
        assert "set data.val_fraction > 0 or monitor a train_ metric" in res.stderr
    res = invoke("preview", cfg, "--set", "data.val_fraction=0", "--set", "schedule={name: plateau, "
                 "monitor: train_loss}", "--out", out)
    assert res.exit_code == 0, res.output


def _images(folder: Path, names: dict[str, int]) -> None:
    from PIL import Image

    for cls, count in names.items():
        (folder / cls).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.new("RGB", (6, 6), (40 * i, 80, 120)).save(folder / cls / f"{i}.png")


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_image_under_val_is_found_when_the_data_loads(tmp_path, damage):
    root = tmp_path / "imgs"
    _images(root / "train", {"a": 4, "b": 4})
    _images(root / "val", {"a": 2, "b": 2})
    bad = root / "val" / "b" / "1.png"
    bad.write_bytes(b"not an image" if damage == "garbage" else bad.read_bytes()[:40])
    cfg = write_base_config(tmp_path, text=BASE_CONFIG.replace(
        "data: {name: synthetic, n_samples: 160, n_features: 8, n_classes: 3, batch_size: 32}",
        f"data: {{name: imagefolder, root: '{root}', image_size: 6, batch_size: 4}}"))
    out = tmp_path / "run"
    res = invoke("train", cfg, "--out", out)
    assert res.exit_code == 2 and _no_run(out), res.output
    assert res.stderr.startswith("lrtool: error: data.root: cannot read the image") and str(bad) in res.stderr
    assert res.stderr.count("\n") == 1


def test_duplicate_yaml_keys_are_refused_with_file_line_and_key(tmp_path):
    cfg = write_base_config(tmp_path, text=BASE_CONFIG + "optimizer:\n  name: SGD\n  lr: 0.1\n")
    res = invoke("train", cfg, "--out", tmp_path / "run")
    assert res.exit_code == 2 and _no_run(tmp_path / "run")
    line = BASE_CONFIG.count("\n") + 1
    assert res.stderr == (f"lrtool: error: {cfg}: YAML config refused at line {line}, column 1: duplicate key "
                          "'optimizer' (first given at line 5); each key may appear once in a mapping\n")
    nested = write_base_config(tmp_path, "nested.yaml", BASE_CONFIG.replace("lr: 0.05,", "lr: 0.05, lr: 0.5,"))
    with pytest.raises(LrtoolError, match=r"nested.yaml: YAML config refused at line 5, .*duplicate key 'lr'"):
        load_config(nested)
    with pytest.raises(LrtoolError, match=r"^--set model: value .* refused \(duplicate key 'hidden'"):
        load_config(write_base_config(tmp_path), ["model={name: mlp, hidden: [4], hidden: [8]}"])


def test_merge_keys_may_still_be_overridden():
    doc = parse_yaml("base: &b {name: SGD, lr: 0.1, momentum: 0.9}\noptimizer:\n  <<: *b\n  lr: 0.2\n")
    assert doc["optimizer"] == {"name": "SGD", "lr": 0.2, "momentum": 0.9}


def _find_lr_run(path: Path, **changes) -> Path:
    s = {"status": "completed", "command": "find-lr", "lr": 0.01, "clr": {"base_lr": 0.001, "max_lr": 0.1},
         "onecycle": {"max_lr": 0.1}}
    s.update(changes)
    path.mkdir()
    (path / "summary.json").write_text(json.dumps(s))  # as an editor would leave it: not through the schema
    return path


@pytest.mark.parametrize("changes,expected", [
    ({"lr": -1}, "summary.json: lr: expected a positive learning rate, got -1"),
    ({"lr": True}, "summary.json: lr: expected a number, not a boolean, got True"),
    ({"lr": "nan"}, "summary.json: lr: expected a positive learning rate, got 'nan'"),
    ({"clr": {"base_lr": 0.001, "max_lr": 0}}, "summary.json: clr.max_lr: expected a positive learning rate, got 0"),
    ({"onecycle": {}}, "summary.json: onecycle.max_lr: expected a positive learning rate, got None"),
])
def test_lr_from_a_summary_with_a_bad_lr_blames_that_summary(tmp_path, changes, expected):
    cfg = write_base_config(tmp_path)
    found = _find_lr_run(tmp_path / "found", **changes)
    res = invoke("train", cfg, "--lr-from", found, "--out", tmp_path / "run")
    assert res.exit_code == 2 and _no_run(tmp_path / "run")
    assert res.stderr.startswith(f"lrtool: error: --lr-from {found}: ") and expected in res.stderr
    assert str(cfg) not in res.stderr and res.stderr.count("\n") == 1


# --------------------------------------------------------------------------- 7. bounded resources

BOMB = "\n".join(["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] + [
    f"{k}: &{k} [{', '.join([f'*{p}'] * 9)}]" for p, k in zip("abcdefgh", "bcdefghi")]) + \
    "\nmodel: {name: mlp, hidden: *i}\n"


def test_a_yaml_alias_bomb_is_refused_without_expanding_it(tmp_path):
    assert len(BOMB) < 800  # billions of values in a few hundred bytes
    cfg = write_base_config(tmp_path, "bomb.yaml", BOMB)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for command in ("train", "preview", "find-lr"):
        res = invoke(command, cfg, "--out", tmp_path / "run")
        assert res.exit_code == 2 and _no_run(tmp_path / "run")
        assert res.stderr.startswith(f"lrtool: error: {cfg}: YAML config refused at line 6, column 4: expands to "
                                     "more than 100,000 values")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KB: nothing was expanded
    with pytest.raises(LrtoolError, match=r"^--set model.hidden: value .* refused \(expands to more than"):
        load_config(write_base_config(tmp_path), ["model.hidden=" + BOMB.replace("\n", ", ").join("{}")])


@pytest.mark.parametrize("text,problem", [
    ("a: &x [1, *x]\n", "a node that contains it"),
    ("a: " + "[" * (MAX_YAML_DEPTH + 1) + "]" * (MAX_YAML_DEPTH + 1) + "\n", f"deeper than {MAX_YAML_DEPTH}"),
    ("a: " + "[" * 5000 + "]" * 5000 + "\n", f"deeper than {MAX_YAML_DEPTH}"),  # past Python's recursion limit
])
def test_recursive_and_deep_yaml_is_refused(text, problem):
    with pytest.raises(YamlLimit, match=problem):
        parse_yaml(text)


def test_preview_of_a_billion_epochs_is_refused_before_any_work(tmp_path):
    cfg = write_base_config(tmp_path)
    res = invoke("preview", cfg, "--epochs", "1000000000", "--out", tmp_path / "p")
    assert res.exit_code == 2 and _no_run(tmp_path / "p")
    assert res.stderr == (f"lrtool: error: train.epochs: preview computes every step, and 1000000000 epochs x 4 "
                          f"steps = 4,000,000,000 steps; expected at most {MAX_PREVIEW_STEPS:,} (preview fewer "
                          "epochs with --epochs)\n")


def test_a_long_preview_writes_every_row_and_keeps_its_envelope(tmp_path):
    shown = _Envelope(total=10_000, limit=100)
    for step in range(10_000):
        shown.add({"step": step, "lr": 0.1 * (step % 13)})
    kept = shown.rows()
    assert len(kept) <= 102 and kept[0]["step"] == 0 and kept[-1]["step"] == 9_999
    assert [r["step"] for r in kept] == sorted({r["step"] for r in kept})
    assert min(r["lr"] for r in kept) == 0.0 and max(r["lr"] for r in kept) == pytest.approx(1.2)
    short = _Envelope(total=5, limit=100)
    for step in range(5):
        short.add({"step": step, "lr": 1.0})
    assert [r["step"] for r in short.rows()] == list(range(5))


def test_schedule_marks_of_a_billion_epochs_are_bounded():
    for name in ("step", "sgdr", "cyclic"):
        schedule = build_schedule(resolve_schedule({"name": name}), [0.1], Plan(4, 10**9))
        assert len(schedule.boundaries()) <= 2 * MAX_MARKS + 1  # cyclic: peaks and cycle starts
        assert schedule.lr(4 * 10**9 - 1)[0] >= 0


def test_layer_lists_have_limits():
    with pytest.raises(LrtoolError, match=r"^model.hidden: expected at most 1000 layers, got a list of 3000000$"):
        checks.widths("model.hidden", [16] * 3_000_000)
    with pytest.raises(LrtoolError, match=r"^model.hidden: expected widths of at most 65536, got 1000000$"):
        checks.widths("model.hidden", [16, 10**6])
    assert checks.widths("model.hidden", [checks.MAX_WIDTH] * checks.MAX_LAYERS)[0] == checks.MAX_WIDTH


def test_a_huge_hidden_list_is_refused_before_building(tmp_path):
    cfg = write_base_config(tmp_path)
    res = invoke("train", cfg, "--set", "model.hidden=[" + ", ".join(["16"] * 5000) + "]", "--out", tmp_path / "r")
    assert res.exit_code == 2 and _no_run(tmp_path / "r")
    assert res.stderr == "lrtool: error: model.hidden: expected at most 1000 layers, got a list of 5000\n"


def test_errors_quote_a_huge_value_abridged(tmp_path):
    cfg = write_base_config(tmp_path)
    res = invoke("train", cfg, "--set", "train.epochs=[" + ", ".join(["7"] * 50_000) + "]")
    assert res.exit_code == 2 and len(res.stderr) < 400 and "[7, 7, 7, 7, 7, 7, 7, 7, ...]" in res.stderr


# --------------------------------------------------------------------------- 8. the exit code is lrtool's

USER_MODELS = {
    "exit_on_import": "import sys\nsys.exit(0)\n",
    "exit_in_constructor": "import sys\ndef make(**kw):\n    sys.exit(0)\n",
    "raise_in_constructor": "def make(**kw):\n    raise RuntimeError('no GPU kernel for this')\n",
    "exit_in_forward": ("import sys, torch\nclass Net(torch.nn.Module):\n    def __init__(self):\n"
                        "        super().__init__()\n        self.fc = torch.nn.Linear(8, 3)\n        self.calls = 0\n"
                        "    def forward(self, x):\n        self.calls += 1\n        if self.calls > 3:\n"
                        "            sys.exit(0)\n        return self.fc(x)\ndef make(**kw):\n    return Net()\n"),
}


@pytest.fixture
def user_models(tmp_path, monkeypatch) -> Path:
    for name, text in USER_MODELS.items():
        (tmp_path / f"{name}.py").write_text(text)
        sys.modules.pop(name, None)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("module,code,expected", [
    ("exit_on_import", 2, "model.name: importing module 'exit_on_import' for 'exit_on_import:make' called "
                          "sys.exit(0); a module named in the config must not exit"),
    ("exit_in_constructor", 2, "model.name: exit_in_constructor:make called sys.exit(0) while building the model"),
    ("raise_in_constructor", 2, "model.name: building the model with raise_in_constructor:make failed: "
                                "RuntimeError: no GPU kernel for this"),
    ("exit_in_forward", 1, "RuntimeError: the model's code called sys.exit(0); logs kept in"),
])
def test_user_model_code_cannot_take_the_exit_code(user_models, module, code, expected):
    cfg = write_base_config(user_models, text=BASE_CONFIG.replace("{name: mlp, hidden: [16]}",
                                                                  f"{{name: '{module}:make'}}"))
    out = user_models / "run"
    res = invoke("train", cfg, "--out", out)
    assert res.exit_code == code, res.output
    assert expected in res.stderr and res.stderr.strip().count("\n") == 0  # one line (after the progress bar)
    assert _no_run(out) == (code == 2)  # usage errors come before the run directory
    if code == 1:  # the run had started: it ends as failed, not silently "running"
        assert summary(out)["status"] == "failed" and "sys.exit(0)" in summary(out)["error"]


def test_an_ascii_only_stdout_still_exits_0_after_a_completed_run(tmp_path):
    cfg = write_base_config(tmp_path, text=BASE_CONFIG.replace("epochs: 2", "epochs: 1"))
    out = tmp_path / "rün"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "ascii", "LANG": "C", "LC_ALL": "C"}
    res = subprocess.run([sys.executable, "-m", "lrtool", "train", str(cfg), "--out", str(out)],
                         capture_output=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr.decode("ascii", "replace")
    assert summary(out)["status"] == "completed"
    assert b"r\\xfcn" in res.stdout  # the path, escaped rather than a UnicodeEncodeError


# --------------------------------------------------------------------------- smaller


@pytest.mark.parametrize("plots", ["off", "on", "failing"])
def test_the_wrote_line_names_only_files_really_written(tmp_path, monkeypatch, plots):
    cfg = write_base_config(tmp_path, text=BASE_CONFIG.replace("epochs: 2, plots: false",
                                                               f"epochs: 1, plots: {str(plots != 'off').lower()}"))
    if plots == "failing":
        from lrtool import plots as plotting

        def broken(run_dir, written=None):
            raise RuntimeError("no display")

        monkeypatch.setattr(plotting, "plot_training", broken)
    out = tmp_path / "run"
    res = invoke("train", cfg, "--out", out)
    assert res.exit_code == 0, res.output
    line = next(s for s in res.stdout.splitlines() if s.startswith("wrote"))
    figures = {"lr.png", "loss.png", "metrics.png"}
    drawn = {p.name for p in out.glob("*.png")}
    if plots == "on":
        assert drawn == figures
        assert line == (f"wrote {out}/ (steps.csv, epochs.csv, lr.png, loss.png, metrics.png, summary.json, "
                        "config.yaml, checkpoints/)")
    else:
        assert drawn == set() and not any(f in line for f in figures)
        why = "train.plots is false" if plots == "off" else "drawing them failed, see the warning above"
        files = "steps.csv, epochs.csv, summary.json, config.yaml, checkpoints/"
        assert line == f"wrote {out}/ ({files}); no plots ({why})"


@pytest.mark.parametrize("cut_at, kind", [("loss.png", "signal"), ("metrics.png", "signal"), ("lr.png", "signal"),
                                          ("metrics.png", "error")])
def test_the_wrote_line_keeps_the_figures_drawn_before_a_second_signal_or_an_error(tmp_path, monkeypatch,
                                                                                   cut_at, kind):
    """A second Ctrl-C while a finished run draws: the figures already saved are listed, the rest skipped."""
    from lrtool import plots as plotting

    real = plotting._save

    def save(fig, path):
        if path.name == cut_at:
            if kind == "error":
                raise RuntimeError("no display")
            os.kill(os.getpid(), signal.SIGINT)  # the first: noted (the run has finished)
            os.kill(os.getpid(), signal.SIGINT)  # the second: stops the drawing at once
        real(fig, path)

    monkeypatch.setattr(plotting, "_save", save)
    cfg = write_base_config(tmp_path, text=BASE_CONFIG.replace("epochs: 2, plots: false", "epochs: 1, plots: true"))
    out = tmp_path / "run"
    res = invoke("train", cfg, "--out", out)
    assert res.exit_code == 0 and summary(out)["status"] == "completed", res.output
    figures = ["lr.png", "loss.png", "metrics.png"]
    drawn = figures[:figures.index(cut_at)]
    assert sorted(p.name for p in out.glob("*.png")) == sorted(drawn)
    line = next(s for s in res.stdout.splitlines() if s.startswith("wrote"))
    files = ", ".join(["steps.csv", "epochs.csv", *drawn, "summary.json", "config.yaml", "checkpoints/"])
    if kind == "error":
        assert line == f"wrote {out}/ ({files}); the other plots failed, see the warning above"
    elif drawn:
        assert line == f"wrote {out}/ ({files}); the other plots skipped (interrupted)"
    else:
        assert line == f"wrote {out}/ ({files}); no plots (skipped: interrupted)"


def test_every_file_of_a_run_follows_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        run = train_run(tmp_path / "run")
        res = invoke("preview", write_base_config(tmp_path), "--out", tmp_path / "p")
        assert res.exit_code == 0, res.output
    finally:
        os.umask(old)
    files = [run / n for n in ("config.yaml", "summary.json", "steps.csv", "epochs.csv")] + \
        [tmp_path / "p" / n for n in ("config.yaml", "schedule.csv", "schedule.png")]
    assert {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in files} == \
        {f.name: oct(0o640) for f in files}

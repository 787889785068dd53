"""TensorBoard and MLflow loggers, read back with each tool's own reader, against the run's CSVs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from lrtool.loggers import flatten

from .conftest import interrupt_at, invoke, rows, summary

BASE = """\
seed: 0
device: cpu
data: {name: synthetic, n_samples: 200, n_features: 8, n_classes: 3, batch_size: 32}
model: {name: mlp, hidden: [16]}
optimizer: {name: SGD, lr: 0.05, momentum: 0.9}
schedule: {name: onecycle, max_lr: 0.1}
train: {epochs: 3, plots: false, log_every: 3}
find_lr: {start_lr: 1.0e-4, end_lr: 100, num_iter: 30, smooth: 0.9}
"""


@pytest.fixture
def cfg_file(tmp_path: Path) -> Path:
    p = tmp_path / "synth.yaml"
    p.write_text(BASE)
    return p


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """One SQLite MLflow store for the module (a new database takes seconds to create)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def events(logdir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "tensors": 0, "images": 0})
    ea.Reload()
    return ea


def scalars(ea, tag: str) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in ea.Scalars(tag)]


def client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def history(c, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in c.get_metric_history(run_id, key))


# --------------------------------------------------------------------------- TensorBoard


def test_tensorboard_events_equal_the_csvs_and_hold_config_and_hparams(cfg_file, tmp_path):
    run = tmp_path / "run"
    res = invoke("train", cfg_file, "--out", run, "--logger", "tensorboard")
    assert res.exit_code == 0, res.output
    ea = events(run / "tb")
    steps = rows(run / "steps.csv")
    for key in ("lr", "loss", "momentum"):  # onecycle cycles the momentum too
        got = scalars(ea, f"step/{key}")
        assert [s for s, _ in got] == [int(r["step"]) for r in steps]
        assert [v for _, v in got] == pytest.approx([float(r[key]) for r in steps], rel=1e-6)  # float32
    epochs = rows(run / "epochs.csv")
    got = scalars(ea, "epoch/val_acc")
    assert [s for s, _ in got] == [int(r["step"]) for r in epochs]
    assert [v for _, v in got] == pytest.approx([float(r["val_acc"]) for r in epochs], rel=1e-6)
    text = ea.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "max_lr: 0.1" in text
    from tensorboard.plugins.hparams import plugin_data_pb2

    hparams, metric_tags = {}, []
    for blob in ea.PluginTagToContent("hparams").values():
        data = plugin_data_pb2.HParamsPluginData.FromString(blob)
        if data.HasField("session_start_info"):
            hparams = {k: getattr(v, v.WhichOneof("kind")) for k, v in data.session_start_info.hparams.items()}
        if data.HasField("experiment"):
            metric_tags = [m.name.tag for m in data.experiment.metric_infos]
    assert hparams["optimizer.lr"] == 0.05 and hparams["schedule.name"] == "onecycle"
    assert hparams["status"] == "completed"
    assert "hparam/best_val_acc" in metric_tags
    # the HParams live in the run's own folder: TensorBoard shows one run, not one per call
    assert [p for p in (run / "tb").iterdir() if p.is_dir()] == []


def test_tensorboard_resume_after_a_kill_shows_each_step_once(cfg_file, tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    full, run = tmp_path / "full", tmp_path / "run"
    assert invoke("train", cfg_file, "--out", full, "--schedule", "constant").exit_code == 0
    res = invoke("train", cfg_file, "--out", run, "--schedule", "constant", "--epochs", "2", "--logger", "tensorboard")
    assert res.exit_code == 0, res.output
    # as if killed in epoch 3 after its epoch-2 checkpoint (step 10): rows and events past it
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["train"]["epochs"] = 3
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    s = summary(run)
    s["status"] = "running"
    (run / "summary.json").write_text(json.dumps(s))
    with SummaryWriter(log_dir=str(run / "tb")) as w:
        for step in (10, 11):
            w.add_scalar("step/loss", 99.0, step)
    res = invoke("train", "--resume", run, "--allow-changes")  # the edited epochs are the point here
    assert res.exit_code == 0, res.output
    ea = events(run / "tb")
    want = [(int(r["step"]), float(r["loss"])) for r in rows(full / "steps.csv")]
    got = scalars(ea, "step/loss")
    assert [s for s, _ in got] == [s for s, _ in want]
    assert [v for _, v in got] == pytest.approx([v for _, v in want], rel=1e-6)
    # epoch 2 ended at the checkpoint's step, which the purge drops: it is logged again
    assert [s for s, _ in scalars(ea, "epoch/epoch")] == [int(r["step"]) for r in rows(full / "epochs.csv")]


def test_find_lr_curve_and_suggestions_in_tensorboard(cfg_file, tmp_path):
    run = tmp_path / "find"
    res = invoke("find-lr", cfg_file, "--out", run, "--logger", "tensorboard")
    assert res.exit_code == 0, res.output
    ea = events(run / "tb")
    curve = rows(run / "lr_find.csv")
    got = scalars(ea, "find_lr/lr")
    assert [s for s, _ in got] == [int(r["step"]) for r in curve]
    assert [v for _, v in got] == pytest.approx([float(r["lr"]) for r in curve], rel=1e-6)
    assert len(scalars(ea, "find_lr/smoothed_loss")) == len(curve)
    assert "steepest" in ea.Tensors("suggestions/text_summary")[0].tensor_proto.string_val[0].decode()
    assert ea.Images("find_lr/curve")  # lr_find.png: the curve with the LR as its x axis


# --------------------------------------------------------------------------- MLflow


def test_mlflow_run_holds_config_metrics_artifacts_and_status(cfg_file, tmp_path, store):
    run = tmp_path / "run"
    res = invoke("train", cfg_file, "--out", run, "--logger", "mlflow", "--set", f"train.mlflow.tracking_uri={store}",
                 "--set", "train.plots=true")
    assert res.exit_code == 0, res.output
    info = summary(run)["mlflow"]
    assert info["tracking_uri"] == store
    c = client(store)
    r = c.get_run(info["run_id"])
    assert r.info.status == "FINISHED" and r.info.run_name == "run"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert r.data.params == {k: str(v) for k, v in flatten(config).items()}
    assert r.data.params["optimizer.lr"] == "0.05" and r.data.params["train.epochs"] == "3"
    assert r.data.tags["lrtool.command"] == "train" and r.data.tags["lrtool.seed"] == "0"
    assert r.data.tags["lrtool.run_dir"] == str(run.resolve())
    steps = rows(run / "steps.csv")
    for key in ("lr", "loss", "momentum"):
        assert history(c, info["run_id"], f"step/{key}") == [(int(x["step"]), float(x[key])) for x in steps]
    epochs = rows(run / "epochs.csv")
    for key in ("train_loss", "val_loss", "val_acc"):
        assert history(c, info["run_id"], f"epoch/{key}") == [(int(x["step"]), float(x[key])) for x in epochs]
    artifacts = {a.path for a in c.list_artifacts(info["run_id"])}
    assert artifacts == {"config.yaml", "summary.json", "lr.png", "loss.png", "metrics.png"}
    # next to the database, not in the current folder's mlruns/
    assert r.info.artifact_uri.startswith(Path(store[len("sqlite:///"):]).parent.as_uri())


def test_mlflow_status_mirrors_diverged_and_interrupted_and_resume_continues_the_run(
        cfg_file, tmp_path, store, monkeypatch):
    bad = tmp_path / "bad"
    res = invoke("train", cfg_file, "--out", bad, "--logger", "mlflow", "--set", f"train.mlflow.tracking_uri={store}",
                 "--set", "optimizer.lr=1e12", "--schedule", "constant", "--set", "optimizer.momentum=0")
    assert res.exit_code == 1 and summary(bad)["status"] == "diverged"
    c = client(store)
    assert c.get_run(summary(bad)["mlflow"]["run_id"]).info.status == "FAILED"

    cut = tmp_path / "cut"
    with monkeypatch.context() as m:
        interrupt_at(m, 7)
        res = invoke("train", cfg_file, "--out", cut, "--logger", "mlflow",
                     "--set", f"train.mlflow.tracking_uri={store}")
    assert res.exit_code == 130, res.output
    run_id = summary(cut)["mlflow"]["run_id"]
    assert c.get_run(run_id).info.status == "KILLED"
    assert [s for s, _ in history(c, run_id, "step/loss")] == list(range(7))
    res = invoke("train", "--resume", cut)
    assert res.exit_code == 0, res.output
    assert summary(cut)["mlflow"]["run_id"] == run_id
    r = c.get_run(run_id)
    assert r.info.status == "FINISHED"
    assert len(c.search_runs([r.info.experiment_id], "attributes.run_name = 'cut'")) == 1
    steps = rows(cut / "steps.csv")
    assert history(c, run_id, "step/loss") == [(int(x["step"]), float(x["loss"])) for x in steps]
    assert [s for s, _ in history(c, run_id, "epoch/val_acc")] == [int(x["step"]) for x in rows(cut / "epochs.csv")]


def test_find_lr_in_mlflow_default_store_under_runs(cfg_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    res = invoke("find-lr", cfg_file, "--out", "find", "--logger", "mlflow")
    assert res.exit_code == 0, res.output
    s = summary(tmp_path / "find")
    assert s["mlflow"]["tracking_uri"] == f"sqlite:///{tmp_path.resolve() / 'runs' / 'mlflow.db'}"
    c = client(s["mlflow"]["tracking_uri"])
    r = c.get_run(s["mlflow"]["run_id"])
    assert r.info.status == "FINISHED" and r.data.tags["lrtool.command"] == "find-lr"
    curve = rows(tmp_path / "find" / "lr_find.csv")
    assert history(c, r.info.run_id, "find_lr/loss") == [(int(x["step"]), float(x["loss"])) for x in curve]
    assert r.data.metrics["suggested_lr"] == s["lr"]
    assert r.data.metrics["clr/max_lr"] == s["clr"]["max_lr"]
    assert {a.path for a in c.list_artifacts(r.info.run_id)} == {"config.yaml", "summary.json", "lr_find.png"}
    assert not (tmp_path / "mlruns").exists()


def test_mlflow_tracking_uri_from_the_environment(cfg_file, tmp_path, monkeypatch, store):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    run = tmp_path / "run"
    res = invoke("train", cfg_file, "--out", run, "--epochs", "1", "--set", "train.loggers=[mlflow]")
    assert res.exit_code == 0, res.output
    assert summary(run)["mlflow"]["tracking_uri"] == store
    assert client(store).get_run(summary(run)["mlflow"]["run_id"]).info.status == "FINISHED"


# --------------------------------------------------------------------------- a logger never costs the run


def test_an_unwritable_store_warns_once_and_the_run_completes(cfg_file, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    run = tmp_path / "run"
    res = invoke("train", cfg_file, "--out", run, "--logger", "mlflow",
                 "--set", f"train.mlflow.tracking_uri=sqlite:///{blocker}/mlflow.db")
    assert res.exit_code == 0, res.output
    warnings = [line for line in res.output.splitlines() if line.startswith("lrtool: warning:")]
    assert len(warnings) == 1 and "mlflow logging is off" in warnings[0], res.output
    s = summary(run)
    assert s["status"] == "completed" and "mlflow" not in s
    assert len(rows(run / "steps.csv")) == s["total_steps"]


def test_a_logger_failing_mid_run_warns_once_and_the_others_go_on(cfg_file, tmp_path, monkeypatch):
    from lrtool.loggers.tensorboard import TensorBoardLogger

    def broken(self, rows):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(TensorBoardLogger, "log_epoch", broken)
    run = tmp_path / "run"
    res = invoke("train", cfg_file, "--out", run, "--logger", "tensorboard")
    assert res.exit_code == 0, res.output
    warnings = [line for line in res.output.splitlines() if line.startswith("lrtool: warning:")]
    assert warnings == ["lrtool: warning: tensorboard logging is off for the rest of this run: OSError: "
                        "[Errno 28] No space left on device"]
    assert summary(run)["status"] == "completed"
    assert len(rows(run / "epochs.csv")) == 3
    # what it logged before the failure is kept
    assert len(scalars(events(run / "tb"), "step/loss")) >= 3


@pytest.mark.parametrize("module, args", [
    ("tensorboard", ["train", "--logger", "tensorboard"]),
    ("mlflow", ["train", "--set", "train.loggers=[mlflow]"]),
    ("mlflow", ["find-lr", "--logger", "mlflow"]),
    ("tensorboard", ["train", "--schedule", "constant,cyclic", "--logger", "tensorboard"]),
])
def test_a_missing_extra_is_one_line_naming_the_pip_command(cfg_file, tmp_path, monkeypatch, module, args):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    out = tmp_path / "run"
    res = invoke(args[0], cfg_file, *args[1:], "--out", out)
    assert res.exit_code == 2, res.output
    assert res.output.count("\n") == 1 and res.output.startswith("lrtool: error: train.loggers: ")
    assert f'pip install "lrtool[{module}]"' in res.output
    assert not out.exists()


def test_unknown_logger_names_the_choices(cfg_file, tmp_path):
    res = invoke("train", cfg_file, "--logger", "wandb", "--out", tmp_path / "run")
    assert res.exit_code == 2
    assert "train.loggers.0: expected 'tensorboard' or 'mlflow', got 'wandb'" in res.output

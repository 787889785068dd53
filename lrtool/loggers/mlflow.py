"""The mlflow logger: one MLflow run per lrtool run, in a local SQLite store unless told otherwise."""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any

from ..rundir.summary import flatten

# lrtool status -> MLflow's terminal run status
STATUS = {"completed": "FINISHED", "failed": "FAILED", "diverged": "FAILED", "interrupted": "KILLED"}


def resolve_uri(setting: str | None) -> str:
    """train.mlflow.tracking_uri, else $MLFLOW_TRACKING_URI, else runs/mlflow.db; SQLite paths made absolute."""
    uri = setting or os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///runs/mlflow.db"
    if uri.startswith("sqlite:///"):
        # absolute, so a --resume from another folder finds the same database
        return f"sqlite:///{Path(uri[len('sqlite:///'):]).resolve()}"
    return uri


def _client(uri: str) -> Any:
    import mlflow  # noqa: F401 - configures mlflow's loggers, which are quieted next
    from mlflow.tracking import MlflowClient

    for name in ("mlflow", "alembic"):  # "Creating initial MLflow database tables..." on every new store
        logging.getLogger(name).setLevel(logging.WARNING)
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=uri)


def _experiment(client: Any, uri: str, name: str) -> str:
    """The id of experiment `name`, created with its artifacts next to a SQLite database."""
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = None
    if uri.startswith("sqlite:///"):
        # without it MLflow puts artifacts under the current folder's mlruns/
        location = (Path(uri[len("sqlite:///"):]).parent / "mlflow-artifacts").as_uri()
    try:
        return client.create_experiment(name, artifact_location=location)
    except Exception:  # noqa: BLE001 - another sweep member created it first
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def prepare_store(tracking_uri: str | None, experiment: str) -> None:
    """Create the database and the experiment once, before sweep members start logging in parallel."""
    uri = resolve_uri(tracking_uri)
    _experiment(_client(uri), uri, experiment)


def _metrics(rows: list[dict[str, Any]], prefix: str, after: int, skip: tuple[str, ...]) -> list[Any]:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    out = []
    for row in rows:
        if row["step"] <= after:
            continue
        for key, value in row.items():
            if key in skip or value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            out.append(Metric(f"{prefix}/{key}", float(value), now, int(row["step"])))
    return out


class MlflowLogger:
    """Params = the flattened config, metrics per step and epoch, plots/summary/config as artifacts."""

    name = "mlflow"

    def __init__(self, tracking_uri: str | None, experiment: str):
        self.setting = tracking_uri
        self.experiment = experiment
        self.run_id: str | None = None

    def start(self, run: Any, config: dict[str, Any], *, command: str, resume_step: int | None,
              tags: dict[str, str]) -> None:
        from mlflow.entities import Param, RunTag

        self.run = run
        previous = run.read_summary().get("mlflow") if resume_step is not None else None
        # steps a killed run logged past its checkpoint are not logged twice on resume (same values:
        # the resume is exact)
        self.after_step = self.after_epoch = -1
        if previous:
            self.uri = previous["tracking_uri"]
            self.client = _client(self.uri)
            self.run_id = previous["run_id"]
            self.client.update_run(self.run_id, status="RUNNING")
            self.after_step = self._last_step("step/loss")
            self.after_epoch = self._last_step("epoch/train_loss")
            return
        self.uri = resolve_uri(self.setting)
        self.client = _client(self.uri)
        exp_id = _experiment(self.client, self.uri, self.experiment)
        self.run_id = self.client.create_run(exp_id, run_name=run.path.name).info.run_id
        run.update_summary(mlflow={"tracking_uri": self.uri, "experiment_id": exp_id, "run_id": self.run_id})
        params = [Param(k, str(v)) for k, v in flatten(config).items()]
        self.client.log_batch(self.run_id, params=params, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def _last_step(self, key: str) -> int:
        history = self.client.get_metric_history(self.run_id, key)
        return max((m.step for m in history), default=-1)

    def log_step(self, rows: list[dict[str, Any]]) -> None:
        metrics = _metrics(rows, "step", self.after_step, ("step", "epoch", "time_s"))
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def log_epoch(self, row: dict[str, Any]) -> None:
        # at the global step, like the per-step metrics; epoch/epoch says which epoch it was
        metrics = _metrics([row], "epoch", self.after_epoch, ("step", "time_s"))
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def log_find_lr(self, curve: list[dict[str, Any]], suggestions: dict[str, Any]) -> None:
        from mlflow.entities import Metric

        metrics = _metrics(curve, "find_lr", -1, ("step",))
        now = int(time.time() * 1000)
        named = {f"suggested_lr/{name}": sug["lr"] for name, sug in (suggestions.get("suggestions") or {}).items()
                 if sug}
        if isinstance(suggestions.get("lr"), (int, float)):
            named["suggested_lr"] = suggestions["lr"]
        if suggestions.get("clr"):
            named.update({f"clr/{k}": v for k, v in suggestions["clr"].items()})
        if suggestions.get("onecycle"):
            named.update({f"onecycle/{k}": v for k, v in suggestions["onecycle"].items()})
        metrics += [Metric(k, float(v), now, 0) for k, v in named.items()
                    if isinstance(v, (int, float)) and math.isfinite(v)]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, status: str, summary: dict[str, Any]) -> None:
        path = self.run.path
        for name in ["config.yaml", "summary.json", *sorted(p.name for p in path.glob("*.png"))]:
            if (path / name).is_file():
                self.client.log_artifact(self.run_id, str(path / name))
        self.client.set_terminated(self.run_id, status=STATUS.get(status, "FAILED"))

"""Views of a run in TensorBoard and MLflow, fed at the run's own log points.

Each backend is an optional extra. The run directory stays the source of truth: a backend that
fails prints one warning line and is switched off for the rest of the run, which goes on.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from typing import Any, Iterable, Protocol

from ..errors import LrtoolError, one_line
from ..rundir.summary import flatten

# logger name -> (the module it needs, the pip extra that installs it)
EXTRAS = {"tensorboard": ("tensorboard", "tensorboard"), "mlflow": ("mlflow", "mlflow")}


class Logger(Protocol):
    """What a backend implements; `Loggers` calls it and turns its failures into one warning."""

    name: str

    def start(self, run: Any, config: dict[str, Any], *, command: str, resume_step: int | None,
              tags: dict[str, str]) -> None:
        """Open the backend for `run` (a RunDir); `resume_step` is the first step of a resumed run."""

    def log_step(self, rows: list[dict[str, Any]]) -> None:
        """steps.csv rows, as they are flushed."""

    def log_epoch(self, row: dict[str, Any]) -> None:
        """One epochs.csv row."""

    def log_find_lr(self, curve: list[dict[str, Any]], suggestions: dict[str, Any]) -> None:
        """The range test's lr_find.csv rows and what it suggests."""

    def finish(self, status: str, summary: dict[str, Any]) -> None:
        """The run ended with `status`; summary.json, plots and config.yaml are final."""


def check_loggers(names: Iterable[str], key: str = "train.loggers") -> None:
    """Raise a one-line LrtoolError (exit 2) naming the pip command when a logger's extra is missing."""
    for name in names:
        module, extra = EXTRAS[name]
        if importlib.util.find_spec(module) is None:
            raise LrtoolError(f"{key}: {name} is an optional extra that is not installed; install it with "
                              f"pip install \"lrtool[{extra}]\" (in a checkout: pip install -e \".[{extra}]\")")


def warn(message: str) -> None:
    """One warning line on stderr."""
    print(f"lrtool: warning: {' '.join(message.split())}", file=sys.stderr, flush=True)




def seed_group(config: dict[str, Any]) -> str:
    """A short id shared by runs whose configs differ only in the seed (and in where they log)."""
    keep = {k: v for k, v in flatten(config).items()
            if k != "seed" and k != "train.loggers" and not k.startswith("train.mlflow.")}
    return hashlib.sha1(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:10]


class Loggers:
    """The run's loggers: every call goes to each backend; a failing one warns once and is dropped."""

    def __init__(self, loggers: Iterable[Logger] = ()):
        self._active = list(loggers)

    def __bool__(self) -> bool:
        return bool(self._active)

    def _call(self, method: str, *args: Any, **kwargs: Any) -> None:
        for logger in list(self._active):
            try:
                getattr(logger, method)(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - a view of the run never costs the run
                self._active.remove(logger)
                warn(f"{logger.name} logging is off for the rest of this run: {one_line(e, with_type=True)}")
                close = getattr(logger, "close", None)
                if close is not None:
                    try:
                        close()
                    except Exception:  # noqa: BLE001 - already reported
                        pass

    def start(self, run: Any, config: dict[str, Any], *, command: str, resume_step: int | None = None,
              tags: dict[str, str] | None = None) -> None:
        self._call("start", run, config, command=command, resume_step=resume_step, tags=tags or {})

    def log_step(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self._call("log_step", rows)

    def log_epoch(self, row: dict[str, Any]) -> None:
        self._call("log_epoch", row)

    def log_find_lr(self, curve: list[dict[str, Any]], suggestions: dict[str, Any]) -> None:
        self._call("log_find_lr", curve, suggestions)

    def finish(self, status: str, summary: dict[str, Any]) -> None:
        self._call("finish", status, summary)
        self._active.clear()


def _make(name: str, cfg: Any) -> Logger:
    if name == "tensorboard":
        from .tensorboard import TensorBoardLogger

        return TensorBoardLogger()
    from .mlflow import MlflowLogger

    return MlflowLogger(cfg.train.mlflow.tracking_uri, cfg.train.mlflow.experiment)


def open_loggers(cfg: Any, run: Any, *, command: str, resume_step: int | None = None,
                 tags: dict[str, str] | None = None) -> Loggers:
    """Start the loggers `cfg.train.loggers` names for `run`.

    Args:
        cfg: the validated Config.
        run: the RunDir (only the process that writes it logs; under torchrun, rank 0).
        command: "train" or "find-lr".
        resume_step: the step a resumed run continues from, or None for a new run.
        tags: extra tags (the sweep's name, ...); the seed group and command are added here.

    Returns:
        The started Loggers (empty when none are configured).
    """
    names = list(dict.fromkeys(cfg.train.loggers))
    if not names or not run.writes:
        return Loggers()
    check_loggers(names)
    config = cfg.to_dict()
    all_tags = {"lrtool.command": command, "lrtool.run_dir": str(run.path.resolve()),
                "lrtool.seed": str(cfg.seed), "lrtool.seed_group": seed_group(config), **(tags or {})}
    loggers = Loggers(_make(name, cfg) for name in names)
    loggers.start(run, config, command=command, resume_step=resume_step, tags=all_tags)
    return loggers


def prepare_loggers(cfg: Any) -> None:
    """Set up shared stores once before members of a sweep start at the same time (MLflow's database)."""
    if "mlflow" in cfg.train.loggers:
        from .mlflow import prepare_store

        try:
            prepare_store(cfg.train.mlflow.tracking_uri, cfg.train.mlflow.experiment)
        except Exception as e:  # noqa: BLE001 - each member warns again and runs on
            warn(f"mlflow: cannot prepare the tracking store: {one_line(e, with_type=True)}")

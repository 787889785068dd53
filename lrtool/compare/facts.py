"""Per-run facts for the comparison: status, progress, best and final metrics, steps to a target."""

from __future__ import annotations

import datetime as _dt
import math
import time
from dataclasses import dataclass
from typing import Any, Sequence

import pandas as pd

from .. import metrics
from ..errors import LrtoolError
from ..registry import did_you_mean
from ..rundir import columns as C
from ..rundir import higher_is_better
from .load import RUN_FILES, Run, _num, _rows

FORMATS = ("table", "csv", "md", "json")
X_AXES = ("step", "epoch", "time")
# a classifier's columns: epochs.csv carries these per epoch, summary.json["test"] the test ones once.
# A comparison uses the columns its runs have (run_metrics): mae/rmse for regression, f1, top5, ...
EPOCH_METRICS = (C.VAL_ACC, C.VAL_LOSS, C.TRAIN_LOSS, C.TRAIN_ACC)
TEST_METRICS = ("test_acc", "test_loss")
METRICS = EPOCH_METRICS + TEST_METRICS
SUGGESTIONS = ("steepest", "valley", "minimum")
# a "running" run whose files have not changed for this long was probably killed
STALE_S = 15 * 60


# --------------------------------------------------------------------------- argument checks


def _choice(option: str, given: str, choices: Sequence[str]) -> str:
    """`given` if it is one of `choices`, else a one-line LrtoolError."""
    if given in choices:
        return given
    raise LrtoolError(f"{option}: expected one of ({', '.join(choices)}), got '{given}'"
                      f"{did_you_mean(str(given), choices)}")


@dataclass(frozen=True)
class Target:
    """A `--target METRIC=VALUE`: reached when the metric is >= VALUE (accuracy) or <= VALUE (loss)."""

    metric: str
    value: float

    def reached(self, v: float) -> bool:
        """Whether the value `v` meets the target (NaN and inf never do)."""
        if v is None or not math.isfinite(v):
            return False
        return v >= self.value if higher_is_better(self.metric) else v <= self.value

    def __str__(self) -> str:
        return f"{self.metric}{'>=' if higher_is_better(self.metric) else '<='}{self.value:g}"


def check_metric(option: str, metric: str, known: Sequence[str] | None = None) -> str:
    """`metric` if the runs measure it (`known`), or, before they are read, if it has a column's form."""
    if known is not None:
        return _choice(option, metric, known)
    if metric in METRICS or metrics.is_metric_column(metric):
        return metric
    raise LrtoolError(f"{option}: expected one of ({', '.join(METRICS)}) or another <train|val|test>_<metric> "
                      f"column, got '{metric}'{did_you_mean(str(metric), METRICS)}")


def _by_role(columns: Sequence[str], split: str) -> list[str]:
    """A split's columns in the order the table shows them: the metrics, then the loss."""
    mine = [c for c in columns if c.startswith(split + "_")]
    loss = [c for c in mine if c == f"{split}_loss"]
    return [c for c in mine if c not in loss] + loss


def run_metrics(runs: Sequence[Run]) -> tuple[list[str], list[str]]:
    """(epoch metrics, test metrics) the runs have, in the order the table shows them.

    Epoch metrics come from each train run's epochs.csv header (else its summary), test metrics from
    its summary's "test"; a classifier has (val_acc, val_loss, train_loss, train_acc) and
    (test_acc, test_loss), a regression (val_mae, val_rmse, val_loss, train_loss, train_mae, ...).
    """
    seen: list[str] = []
    tests: list[str] = []
    for run in runs:
        if run.command != "train":
            continue
        cols = list(run.epochs.columns) if run.epochs is not None else []
        cols += list(run.summary.final or {}) + list(run.summary.best or {})
        seen += [c for c in dict.fromkeys(cols) if metrics.split_column(c)[0] in ("train", "val") and c not in seen]
        tests += [c for c in (run.summary.test or {}) if c not in tests]
    val = _by_role(seen, "val")
    train = _by_role(seen, "train")
    train = [c for c in train if c.endswith("_loss")] + [c for c in train if not c.endswith("_loss")]
    return val + train, _by_role(tests, "test")


def default_metric(runs: Sequence[Run], known: Sequence[str]) -> str:
    """What ranks the runs when --metric is not given: the runs' own monitor, else their first val metric."""
    for run in runs:
        if run.command != "train":
            continue
        monitor = run.summary.monitor or run.config.get("train.monitor")
        if monitor in known:
            return monitor
    for candidate in [c for c in known if c.startswith("val_") and c != C.VAL_LOSS] + [C.VAL_LOSS, C.TRAIN_LOSS]:
        if candidate in known:
            return candidate
    return C.VAL_ACC


def parse_target(text: str, known: Sequence[str] | None = None) -> Target:
    """Parse `--target METRIC=VALUE`.

    Args:
        text: e.g. "val_acc=0.95", "val_loss=0.2" or "val_mae=3.5".
        known: the metrics the runs have; None checks the metric's form only.

    Returns:
        The Target; raises LrtoolError saying what was expected and what was given.
    """
    metric, sep, value = str(text).partition("=")
    metric, value = metric.strip(), value.strip()
    if not sep or not metric or not value:
        raise LrtoolError(f"--target: expected METRIC=VALUE (e.g. val_acc=0.95), got '{text}'")
    check_metric("--target metric", metric, known)
    try:
        number = float(value)
    except ValueError:
        raise LrtoolError(f"--target {metric}: expected a number after '=', got '{value}'") from None
    if not math.isfinite(number):
        raise LrtoolError(f"--target {metric}: expected a finite number, got '{value}'")
    return Target(metric, number)


# --------------------------------------------------------------------------- per-run facts


def _steps_done(run: Run) -> float:
    """Optimizer steps done, from the freshest source the files offer."""
    progress = run.summary.progress
    candidates = [_num(progress.step if progress else None)]
    if _rows(run.steps) and C.STEP in run.steps:
        candidates.append(float(run.steps[C.STEP].max()) + 1)  # 0-based index -> count
    if _rows(run.epochs) and C.STEP in run.epochs:
        candidates.append(float(run.epochs[C.STEP].max()))
    if _rows(run.lr_find) and C.STEP in run.lr_find:
        candidates.append(float(run.lr_find[C.STEP].max()) + 1)
    found = [c for c in candidates if math.isfinite(c)]
    return max(found) if found else math.nan


def _epochs_done(run: Run) -> float:
    """Finished epochs: the last epochs.csv row, else summary progress."""
    if _rows(run.epochs) and C.EPOCH in run.epochs:
        return float(run.epochs[C.EPOCH].max())
    return _num(run.summary.progress.epoch if run.summary.progress else None)


def _last_write(run: Run) -> float:
    """Newest modification time of the run's files (seconds since the epoch)."""
    times = [(run.path / f).stat().st_mtime for f in RUN_FILES if (run.path / f).is_file()]
    return max(times) if times else time.time()


def _ago(seconds: float) -> str:
    """A rough duration for a status: 20 min, 3 h, 2 days."""
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def status_label(run: Run) -> str:
    """completed / interrupted at step N / diverged at step N / failed / running or stopped at step N (...)."""
    status = run.status
    at = _num(run.summary.stop.step if run.summary.stop else None)
    if not math.isfinite(at):
        at = _steps_done(run)
    where = f" at step {int(at)}" if math.isfinite(at) else ""
    if status in ("interrupted", "diverged"):
        return status + where
    if status == "running" and run.stopped:  # its process is gone: it will not write again
        return f"stopped{where} (killed?)"
    if status == "running":
        idle = time.time() - _last_write(run)
        stale = f" (no writes for {_ago(idle)}: killed?)" if idle > STALE_S else ""
        return f"running{where}{stale}"
    if status == "unknown":
        return f"unknown{where}"
    return status


def _wall_s(run: Run) -> float:
    """Total seconds: the summary's timing, else the last time_s logged, else end - start."""
    total = _num(run.summary.timings.total_s if run.summary.timings else None)
    if math.isfinite(total):
        return total
    logged = [float(df[C.TIME_S].max()) for df in (run.steps, run.epochs)
              if _rows(df) and C.TIME_S in df and df[C.TIME_S].notna().any()]
    if logged:
        return max(logged)
    try:
        start = _dt.datetime.fromisoformat(run.summary.started)
        end = _dt.datetime.fromisoformat(run.summary.ended)
        return (end - start).total_seconds()
    except (TypeError, ValueError):
        return math.nan


def _finite_series(df: pd.DataFrame, col: str) -> pd.Series:
    """A column as floats with inf turned into NaN, so best-of ignores a diverged epoch."""
    s = df[col].astype(float)
    return s.where(s.map(math.isfinite))


def best_and_final(run: Run, metric: str) -> dict[str, float]:
    """Final and best value of an epoch metric, with the epoch and step of the best.

    Args:
        run: a train run.
        metric: an epochs.csv column (val_acc, val_loss, train_mae, ...).

    Returns:
        {"final", "best", "best_epoch", "best_step"} (NaN where unknown). epochs.csv is the
        source (it is what the files hold now); summary.json only fills in when it is missing.
    """
    out = {"final": math.nan, "best": math.nan, "best_epoch": math.nan, "best_step": math.nan}
    df = run.epochs
    if _rows(df) and metric in df and df[metric].notna().any():
        out["final"] = float(df[metric].iloc[-1])
        values = _finite_series(df, metric)
        if values.notna().any():
            i = values.idxmax() if higher_is_better(metric) else values.idxmin()  # first of ties
            out["best"] = float(values[i])
            out["best_epoch"] = float(df[C.EPOCH][i]) if C.EPOCH in df else math.nan
            out["best_step"] = float(df[C.STEP][i]) if C.STEP in df else math.nan
        return out
    out["final"] = _num((run.summary.final or {}).get(metric))
    best = (run.summary.best or {}).get(metric)
    if best is not None:
        out["best"], out["best_epoch"], out["best_step"] = _num(best.value), _num(best.epoch), _num(best.step)
    return out


def steps_to_target(epochs: pd.DataFrame | None, target: Target) -> dict[str, float] | None:
    """When a run first reached the target, from its epochs.csv.

    Args:
        epochs: the run's epochs.csv (step = optimizer steps done, time_s = seconds since start).
        target: the target; `reach` means >= for accuracies and <= for losses.

    Returns:
        {"step", "epoch", "time_s"} of the first epoch that reached it, or None if none did.
    """
    if not _rows(epochs) or target.metric not in epochs:
        return None
    for i, v in epochs[target.metric].items():
        if target.reached(float(v)):
            row = epochs.loc[i]
            return {k: float(row[c]) if c in epochs else math.nan
                    for k, c in (("step", C.STEP), ("epoch", C.EPOCH), ("time_s", C.TIME_S))}
    return None


def _target_facts(run: Run, target: Target) -> dict[str, float]:
    """target_step / target_epoch / target_s / target_reached (1 or 0) for the table."""
    if run.command != "train":
        return {}
    if target.metric.startswith("test_"):
        # the test set is scored once, at the end: if it meets the target, it took the whole run
        v = _num((run.summary.test or {}).get(target.metric))
        hit = ({"step": _steps_done(run), "epoch": _epochs_done(run), "time_s": _wall_s(run)}
               if target.reached(v) else None)
    else:
        hit = steps_to_target(run.epochs, target)
    if hit is None:
        return {"target_reached": 0.0}
    return {"target_step": hit["step"], "target_epoch": hit["epoch"], "target_s": hit["time_s"],
            "target_reached": 1.0}


def loss_column(df: pd.DataFrame) -> str:
    """The loss column of a range test to read: the smoothed one when it was logged, else the raw one."""
    smoothed = C.SMOOTHED_LOSS in df and df[C.SMOOTHED_LOSS].notna().any()
    return C.SMOOTHED_LOSS if smoothed else C.LOSS


def _find_lr_facts(run: Run) -> dict[str, Any]:
    """The range test's suggestions (summary) and its lowest smoothed loss (lr_find.csv)."""
    s = run.summary
    out: dict[str, Any] = {}
    sugg = s.suggestions or {}
    for name in SUGGESTIONS:
        out[f"{name}_lr"] = _num(sugg[name].lr if sugg.get(name) else None)
    out["clr_base_lr"] = _num(s.clr.base_lr if s.clr else None)
    out["clr_max_lr"] = _num(s.clr.max_lr if s.clr else None)
    out["onecycle_max_lr"] = _num(s.onecycle.max_lr if s.onecycle else None)
    df = run.lr_find
    col = loss_column(df)
    values = _finite_series(df, col)
    if values.notna().any() and C.LR in df:
        i = values.idxmin()
        out["min_loss"], out["min_loss_lr"] = float(values[i]), float(df[C.LR][i])
    return out


def run_record(run: Run, target: Target | None = None, epoch_metrics: Sequence[str] | None = None,
               test_metrics: Sequence[str] | None = None) -> dict[str, Any]:
    """Everything the table shows about one run, as raw numbers and strings.

    Args:
        run: a loaded run.
        target: the --target, or None.
        epoch_metrics, test_metrics: the columns to report (default: the run's own, see run_metrics).

    Returns:
        A flat dict: run, command, schedule, status, status_label, steps_done, epochs_done,
        epochs_planned, final_/best_<metric> with best_<metric>_epoch/_step, test_*, wall_s,
        target_* and (find-lr) <suggestion>_lr, clr_*, onecycle_max_lr, min_loss, min_loss_lr.
    """
    rec: dict[str, Any] = {"run": run.name, "path": run.shown_path, "command": run.command,
                           "status": run.status, "status_label": status_label(run)}
    if run.command == "find-lr":
        mode = run.config.get("find_lr.mode") or (run.summary.sweep or {}).get("mode")
        rec["schedule"] = f"lr range test ({mode})" if mode else "lr range test"
        rec["steps_done"] = _steps_done(run)
        rec.update(_find_lr_facts(run))
        rec["wall_s"] = _wall_s(run)
        return rec
    rec["schedule"] = run.summary.schedule or run.config.get("schedule.name") or "?"
    rec["steps_done"] = _steps_done(run)
    rec["epochs_done"] = _epochs_done(run)
    planned = run.summary.epochs
    rec["epochs_planned"] = _num(planned if planned is not None else run.config.get("train.epochs"))
    if epoch_metrics is None or test_metrics is None:
        own_epoch, own_test = run_metrics([run])
        epoch_metrics = own_epoch if epoch_metrics is None else epoch_metrics
        test_metrics = own_test if test_metrics is None else test_metrics
    for m in epoch_metrics:
        bf = best_and_final(run, m)
        rec[f"final_{m}"], rec[f"best_{m}"] = bf["final"], bf["best"]
        rec[f"best_{m}_epoch"], rec[f"best_{m}_step"] = bf["best_epoch"], bf["best_step"]
    test = run.summary.test or {}
    for m in test_metrics:
        rec[m] = _num(test.get(m))
    rec["wall_s"] = _wall_s(run)
    if target is not None:
        rec.update(_target_facts(run, target))
    return rec

"""`lrtool compare`: read run directories and put them side by side.

Only files are read, never a server or a checkpoint: a run that is still running, was interrupted or
was killed is compared from what its CSVs hold at the moment, and labelled as such. The pieces are
small functions the tests call directly: `load_run`, `config_diff`, `seed_groups`, `steps_to_target`,
`comparison_table`; `compare_runs` ties them together for the CLI.
"""

from __future__ import annotations

import csv
import datetime as _dt
import glob
import io
import json
import math
import numbers
import os
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import LrtoolError
from ..registry import did_you_mean
from ..rundir import RunDir, atomic_write_text, now_iso

FORMATS = ("table", "csv", "md", "json")
X_AXES = ("step", "epoch", "time")
# epochs.csv carries these per epoch; summary.json["test"] the test ones once, at the end
EPOCH_METRICS = ("val_acc", "val_loss", "train_loss", "train_acc")
TEST_METRICS = ("test_acc", "test_loss")
METRICS = EPOCH_METRICS + TEST_METRICS
RUN_FILES = ("summary.json", "config.yaml", "steps.csv", "epochs.csv", "lr_find.csv")
SUGGESTIONS = ("steepest", "valley", "minimum")
# a "running" run whose files have not changed for this long was probably killed
STALE_S = 15 * 60


def higher_is_better(metric: str) -> bool:
    """Accuracies go up, losses go down."""
    return not metric.endswith("_loss")


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


def parse_target(text: str) -> Target:
    """Parse `--target METRIC=VALUE`.

    Args:
        text: e.g. "val_acc=0.95" or "val_loss=0.2".

    Returns:
        The Target; raises LrtoolError saying what was expected and what was given.
    """
    metric, sep, value = str(text).partition("=")
    metric, value = metric.strip(), value.strip()
    if not sep or not metric or not value:
        raise LrtoolError(f"--target: expected METRIC=VALUE (e.g. val_acc=0.95), got '{text}'")
    _choice("--target metric", metric, METRICS)
    try:
        number = float(value)
    except ValueError:
        raise LrtoolError(f"--target {metric}: expected a number after '=', got '{value}'") from None
    if not math.isfinite(number):
        raise LrtoolError(f"--target {metric}: expected a finite number, got '{value}'")
    return Target(metric, number)


# --------------------------------------------------------------------------- reading runs


@dataclass
class Run:
    """What one run directory holds; every part but `path` and `name` may be missing or empty."""

    path: Path
    name: str
    command: str  # "train" or "find-lr"
    summary: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)  # flattened to dotted keys
    steps: pd.DataFrame | None = None
    epochs: pd.DataFrame | None = None
    lr_find: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        """summary.json's status, or "unknown" without one."""
        return str(self.summary.get("status") or "unknown")

    @property
    def has_config(self) -> bool:
        """Whether config.yaml was read (runs without one never join the diff or a seed group)."""
        return bool(self.config)


def _num(v: Any) -> float:
    """A summary.json number ("nan"/"inf" strings included) as a float; NaN when absent."""
    if v is None or isinstance(v, bool):
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _rows(df: pd.DataFrame | None) -> bool:
    """Whether a CSV was read and has data rows."""
    return df is not None and len(df) > 0


def read_metrics_csv(path: Path, notes: list[str]) -> pd.DataFrame | None:
    """Read a run's CSV as numbers, skipping a torn last line or malformed rows with a note.

    Args:
        path: the CSV file; a missing file gives None.
        notes: where to append what was skipped, for the user.

    Returns:
        A DataFrame with float columns (empty cells and "nan" read as NaN), or None.
    """
    path = Path(path)
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines(keepends=True)
    if not lines:
        notes.append(f"{path.name} is empty (not even a header)")
        return None
    # rows are flushed whole with their newline, so a last line without one was cut mid-write
    if len(lines) > 1 and not lines[-1].endswith(("\n", "\r")):
        lines = lines[:-1]
        notes.append(f"skipped a truncated last line in {path.name} (killed mid-write?)")
    parsed = list(csv.reader(lines))
    width = len(parsed[0])
    kept = [lines[0]]
    bad = 0
    for line, fields in zip(lines[1:], parsed[1:]):
        if not fields:  # a blank line is nothing, not damage
            continue
        if len(fields) != width:
            bad += 1
            continue
        kept.append(line)
    if bad:
        notes.append(f"skipped {bad} malformed line{'s' if bad > 1 else ''} in {path.name}")
    df = pd.read_csv(io.StringIO("".join(kept)), dtype=str, keep_default_na=False)
    # anything that is not a number (a torn value, a stray word) becomes NaN rather than an error
    df = df.apply(lambda c: pd.to_numeric(c.str.strip().replace("", "nan"), errors="coerce"))
    return df.reset_index(drop=True)


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists and empty dicts stay values."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def _read_config(path: Path, notes: list[str]) -> dict[str, Any]:
    """config.yaml flattened, or {} with a note when it is missing or unreadable."""
    if not path.is_file():
        notes.append("no config.yaml: left out of the config comparison and of seed groups")
        return {}
    from ..config import parse_yaml

    try:
        doc = parse_yaml(path.read_text(encoding="utf-8"))
    except Exception as e:  # noqa: BLE001 - a broken config must not stop the comparison
        notes.append(f"config.yaml unreadable ({type(e).__name__}); left out of the config comparison")
        return {}
    if not isinstance(doc, dict):
        notes.append("config.yaml is not a mapping; left out of the config comparison")
        return {}
    return flatten(doc)


def load_run(path: str | Path) -> Run:
    """Read one run directory (train or find-lr) as far as its files go.

    Args:
        path: the run directory.

    Returns:
        The Run. Raises LrtoolError naming the directory when it is not a run, is a compare
        output, or holds no metrics at all.
    """
    path = Path(path)
    if not path.exists():
        raise LrtoolError(f"{path}: no such run directory")
    if not path.is_dir():
        raise LrtoolError(f"{path}: not a run directory (it is a file)")
    if not any((path / f).is_file() for f in RUN_FILES):
        raise LrtoolError(f"{path}: not a run directory (no summary.json, config.yaml or metrics CSV)")
    notes: list[str] = []
    summary: dict[str, Any] = {}
    sp = path / "summary.json"
    if sp.is_file():
        try:
            loaded = json.loads(sp.read_text(encoding="utf-8"))
            summary = loaded if isinstance(loaded, dict) else {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            notes.append("summary.json unreadable; status and results taken from the CSVs")
    else:
        notes.append("no summary.json; results taken from the CSVs")
    command = summary.get("command")
    if command == "compare":
        raise LrtoolError(f"{path}: a compare output, not a run")
    if command is None:
        command = "find-lr" if (path / "lr_find.csv").is_file() else "train"
    if command not in ("train", "find-lr"):
        raise LrtoolError(f"{path}: a '{command}' directory; compare reads train and find-lr runs")
    run = Run(path=path, name=path.name, command=command, summary=summary, notes=notes)
    run.config = _read_config(path / "config.yaml", notes)
    if command == "train":
        run.steps = read_metrics_csv(path / "steps.csv", notes)
        run.epochs = read_metrics_csv(path / "epochs.csv", notes)
        if not (_rows(run.steps) or _rows(run.epochs)):
            raise LrtoolError(f"{path}: run has no metrics (steps.csv and epochs.csv missing or empty)")
    else:
        run.lr_find = read_metrics_csv(path / "lr_find.csv", notes)
        if not _rows(run.lr_find):
            raise LrtoolError(f"{path}: run has no metrics (lr_find.csv missing or empty)")
        if not summary.get("suggestions"):
            notes.append("no suggestions in summary.json (the range test did not finish); "
                         "compared by its curve")
    if summary.get("status") == "failed" and summary.get("error"):
        notes.append(f"failed: {summary['error']}")
    return run


def expand_patterns(patterns: Iterable[str]) -> tuple[list[Path], list[str]]:
    """Expand globs (shells may pass them quoted) into directories, in order, without repeats.

    Args:
        patterns: run directories or glob patterns such as `runs/digits-*`.

    Returns:
        (paths, warnings): a literal path is kept even if it does not exist (load_run then says
        so); a glob keeps only the directories it matches, and one matching none adds a warning.
    """
    paths: list[Path] = []
    warnings: list[str] = []
    seen: set[str] = set()
    for pattern in patterns:
        pattern = os.path.expanduser(str(pattern))
        if glob.has_magic(pattern):
            found = [Path(p) for p in sorted(glob.glob(pattern)) if Path(p).is_dir()]
            if not found:
                warnings.append(f"{pattern}: matches no directory")
        else:
            found = [Path(pattern)]
        for p in found:
            key = os.path.realpath(p)
            if key not in seen:
                seen.add(key)
                paths.append(p)
    return paths, warnings


def load_runs(patterns: Iterable[str]) -> tuple[list[Run], list[str]]:
    """Load every run the patterns name; skip invalid ones with a warning when others are valid.

    Args:
        patterns: run directories or globs.

    Returns:
        (runs, warnings). Raises LrtoolError when nothing matches or no run is valid (a single
        invalid directory gives its own one-line message).
    """
    patterns = list(patterns)
    paths, warnings = expand_patterns(patterns)
    if not paths:
        given = " ".join(patterns) if patterns else "(nothing)"
        raise LrtoolError(f"compare: no run directories to compare; expected run directories or globs "
                          f"matching some, got {given}")
    runs: list[Run] = []
    errors: list[str] = []
    for p in paths:
        try:
            runs.append(load_run(p))
        except LrtoolError as e:
            errors.append(str(e))
    if not runs:
        if len(errors) == 1:
            raise LrtoolError(errors[0])
        raise LrtoolError("compare: no valid run among them: " + "; ".join(errors))
    warnings += [f"skipped {e}" for e in errors]
    _unique_names(runs)
    return runs, warnings


def _unique_names(runs: list[Run]) -> None:
    """Runs with the same directory name (from different parents) are told apart by their parent."""
    counts: dict[str, int] = {}
    for r in runs:
        counts[r.name] = counts.get(r.name, 0) + 1
    for r in runs:
        if counts[r.name] > 1:
            r.name = f"{r.path.parent.name}/{r.path.name}"


# --------------------------------------------------------------------------- per-run facts


def _steps_done(run: Run) -> float:
    """Optimizer steps done, from the freshest source the files offer."""
    candidates = [_num((run.summary.get("progress") or {}).get("step"))]
    if _rows(run.steps) and "step" in run.steps:
        candidates.append(float(run.steps["step"].max()) + 1)  # 0-based index -> count
    if _rows(run.epochs) and "step" in run.epochs:
        candidates.append(float(run.epochs["step"].max()))
    if _rows(run.lr_find) and "step" in run.lr_find:
        candidates.append(float(run.lr_find["step"].max()) + 1)
    found = [c for c in candidates if math.isfinite(c)]
    return max(found) if found else math.nan


def _epochs_done(run: Run) -> float:
    """Finished epochs: the last epochs.csv row, else summary progress."""
    if _rows(run.epochs) and "epoch" in run.epochs:
        return float(run.epochs["epoch"].max())
    return _num((run.summary.get("progress") or {}).get("epoch"))


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
    """completed / interrupted at step N / diverged at step N / failed / running at step N (...)."""
    status = run.status
    stop = run.summary.get("stop") or {}
    at = _num(stop.get("step"))
    if not math.isfinite(at):
        at = _steps_done(run)
    where = f" at step {int(at)}" if math.isfinite(at) else ""
    if status in ("interrupted", "diverged"):
        return status + where
    if status == "running":
        idle = time.time() - _last_write(run)
        stale = f" (no writes for {_ago(idle)}: killed?)" if idle > STALE_S else ""
        return f"running{where}{stale}"
    if status == "unknown":
        return f"unknown{where}"
    return status


def _wall_s(run: Run) -> float:
    """Total seconds: the summary's timing, else the last time_s logged, else end - start."""
    total = _num((run.summary.get("timings") or {}).get("total_s"))
    if math.isfinite(total):
        return total
    logged = [float(df["time_s"].max()) for df in (run.steps, run.epochs)
              if _rows(df) and "time_s" in df and df["time_s"].notna().any()]
    if logged:
        return max(logged)
    try:
        start = _dt.datetime.fromisoformat(run.summary["started"])
        end = _dt.datetime.fromisoformat(run.summary["ended"])
        return (end - start).total_seconds()
    except (KeyError, TypeError, ValueError):
        return math.nan


def _finite_series(df: pd.DataFrame, col: str) -> pd.Series:
    """A column as floats with inf turned into NaN, so best-of ignores a diverged epoch."""
    s = df[col].astype(float)
    return s.where(s.map(math.isfinite))


def best_and_final(run: Run, metric: str) -> dict[str, float]:
    """Final and best value of an epoch metric, with the epoch and step of the best.

    Args:
        run: a train run.
        metric: one of EPOCH_METRICS.

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
            out["best_epoch"] = float(df["epoch"][i]) if "epoch" in df else math.nan
            out["best_step"] = float(df["step"][i]) if "step" in df else math.nan
        return out
    out["final"] = _num((run.summary.get("final") or {}).get(metric))
    best = (run.summary.get("best") or {}).get(metric) or {}
    out["best"] = _num(best.get("value"))
    out["best_epoch"] = _num(best.get("epoch"))
    out["best_step"] = _num(best.get("step"))
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
                    for k, c in (("step", "step"), ("epoch", "epoch"), ("time_s", "time_s"))}
    return None


def _target_facts(run: Run, target: Target) -> dict[str, float]:
    """target_step / target_epoch / target_s / target_reached (1 or 0) for the table."""
    if run.command != "train":
        return {}
    if target.metric in TEST_METRICS:
        # the test set is scored once, at the end: if it meets the target, it took the whole run
        v = _num((run.summary.get("test") or {}).get(target.metric))
        hit = ({"step": _steps_done(run), "epoch": _epochs_done(run), "time_s": _wall_s(run)}
               if target.reached(v) else None)
    else:
        hit = steps_to_target(run.epochs, target)
    if hit is None:
        return {"target_reached": 0.0}
    return {"target_step": hit["step"], "target_epoch": hit["epoch"], "target_s": hit["time_s"],
            "target_reached": 1.0}


def _find_lr_facts(run: Run) -> dict[str, Any]:
    """The range test's suggestions (summary) and its lowest smoothed loss (lr_find.csv)."""
    s = run.summary
    out: dict[str, Any] = {}
    sugg = s.get("suggestions") or {}
    for name in SUGGESTIONS:
        out[f"{name}_lr"] = _num((sugg.get(name) or {}).get("lr"))
    clr = s.get("clr") or {}
    out["clr_base_lr"], out["clr_max_lr"] = _num(clr.get("base_lr")), _num(clr.get("max_lr"))
    out["onecycle_max_lr"] = _num((s.get("onecycle") or {}).get("max_lr"))
    df = run.lr_find
    col = "smoothed_loss" if "smoothed_loss" in df and df["smoothed_loss"].notna().any() else "loss"
    values = _finite_series(df, col)
    if values.notna().any() and "lr" in df:
        i = values.idxmin()
        out["min_loss"], out["min_loss_lr"] = float(values[i]), float(df["lr"][i])
    return out


def run_record(run: Run, target: Target | None = None) -> dict[str, Any]:
    """Everything the table shows about one run, as raw numbers and strings.

    Args:
        run: a loaded run.
        target: the --target, or None.

    Returns:
        A flat dict: run, command, schedule, status, status_label, steps_done, epochs_done,
        epochs_planned, final_/best_<metric> with best_<metric>_epoch/_step, test_*, wall_s,
        target_* and (find-lr) <suggestion>_lr, clr_*, onecycle_max_lr, min_loss, min_loss_lr.
    """
    rec: dict[str, Any] = {"run": run.name, "path": str(run.path), "command": run.command,
                           "status": run.status, "status_label": status_label(run)}
    if run.command == "find-lr":
        mode = run.config.get("find_lr.mode") or (run.summary.get("sweep") or {}).get("mode")
        rec["schedule"] = f"lr range test ({mode})" if mode else "lr range test"
        rec["steps_done"] = _steps_done(run)
        rec.update(_find_lr_facts(run))
        rec["wall_s"] = _wall_s(run)
        return rec
    rec["schedule"] = run.summary.get("schedule") or run.config.get("schedule.name") or "?"
    rec["steps_done"] = _steps_done(run)
    rec["epochs_done"] = _epochs_done(run)
    rec["epochs_planned"] = _num(run.summary.get("epochs", run.config.get("train.epochs")))
    for m in EPOCH_METRICS:
        bf = best_and_final(run, m)
        rec[f"final_{m}"], rec[f"best_{m}"] = bf["final"], bf["best"]
        rec[f"best_{m}_epoch"], rec[f"best_{m}_step"] = bf["best_epoch"], bf["best_step"]
    test = run.summary.get("test") or {}
    for m in TEST_METRICS:
        rec[m] = _num(test.get(m))
    rec["wall_s"] = _wall_s(run)
    if target is not None:
        rec.update(_target_facts(run, target))
    return rec


# --------------------------------------------------------------------------- config diff, seed groups


def _value_key(v: Any) -> str:
    """A comparable, hashable form of a config value."""
    return json.dumps(v, sort_keys=True, default=str)


def format_value(v: Any) -> str:
    """A config value as a person would write it in YAML."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v, default=str)
    return str(v)


_MISSING = object()


def config_diff(runs: Sequence[Run]) -> dict[str, dict[str, Any]]:
    """The config keys whose values differ between runs, and nothing else of the config.

    Args:
        runs: loaded runs; those without a config.yaml are left out.

    Returns:
        {dotted key: {run name: value}} in key order; a run lacking a key maps to None.
    """
    with_config = [r for r in runs if r.has_config]
    keys: list[str] = []
    for r in with_config:
        keys += [k for k in r.config if k not in keys]
    diff: dict[str, dict[str, Any]] = {}
    for key in keys:
        values = [r.config.get(key, _MISSING) for r in with_config]
        if len({"\0missing" if v is _MISSING else _value_key(v) for v in values}) > 1:
            diff[key] = {r.name: (None if v is _MISSING else v) for r, v in zip(with_config, values)}
    return diff


def seed_groups(runs: Sequence[Run]) -> list[list[Run]]:
    """Runs whose configs differ only in `seed` (same command), in order of first appearance.

    Args:
        runs: loaded runs; a run without a config.yaml is always alone.

    Returns:
        A list of groups; a group of one is a plain run.
    """
    groups: dict[Any, list[Run]] = {}
    for i, r in enumerate(runs):
        if r.has_config:
            key: Any = (r.command, _value_key({k: v for k, v in r.config.items() if k != "seed"}))
        else:
            key = ("alone", i)
        groups.setdefault(key, []).append(r)
    return list(groups.values())


def group_label(group: Sequence[Run], by_names: bool = False) -> str:
    """A seed group's name: the runs' common name prefix (whole tokens) and their seeds.

    Args:
        group: the runs of one seed group.
        by_names: name it by its first runs' names instead (when prefixes collide).

    Returns:
        e.g. "digits-cyclic (seeds 0, 1, 2)".
    """
    names = [r.name for r in group]
    prefix = os.path.commonprefix(names)
    # cut back to a token boundary so "digits-s0, digits-s1" give "digits", not "digits-s"
    if any(len(n) > len(prefix) and n[len(prefix)].isalnum() for n in names):
        cut = max(prefix.rfind(c) for c in "-_. /")
        prefix = prefix[:cut] if cut > 0 else ""
    prefix = prefix.rstrip("-_. /")
    if not prefix or by_names:
        prefix = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
    seeds = ", ".join(format_value(r.config.get("seed", r.summary.get("seed"))) for r in group)
    return f"{prefix} (seeds {seeds})"


def _labels(groups: Sequence[Sequence[Run]]) -> list[str]:
    """Row names of the groups: a run's name, or a seed group's label, unique among them."""
    labels = [g[0].name if len(g) == 1 else group_label(g) for g in groups]
    for i, g in enumerate(groups):
        # runs named <config>-<schedule>-<time> share prefixes across groups: fall back to names
        if len(g) > 1 and labels.count(labels[i]) > 1:
            labels[i] = group_label(g, by_names=True)
    return labels


# --------------------------------------------------------------------------- the table

# results that a seed group shows as mean ± std (n): the table gets <col>_std and <col>_n
VALUE_COLUMNS = (
    [f"{kind}_{m}" for m in EPOCH_METRICS for kind in ("final", "best")]
    + list(TEST_METRICS)
    + ["wall_s", "target_step", "target_epoch", "target_s"]
    + [f"{s}_lr" for s in SUGGESTIONS]
    + ["clr_base_lr", "clr_max_lr", "onecycle_max_lr", "min_loss", "min_loss_lr"]
)
# bookkeeping a seed group shows as a plain mean
MEAN_COLUMNS = [f"best_{m}_{at}" for m in EPOCH_METRICS for at in ("epoch", "step")] + \
    ["steps_done", "epochs_done"]


def _joined(values: Iterable[Any]) -> str:
    """One value when all agree, else the distinct values joined (in order)."""
    distinct: list[str] = []
    for v in values:
        s = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
        if s not in distinct:
            distinct.append(s)
    return distinct[0] if len(distinct) == 1 else " / ".join(distinct)


def _same(values: pd.Series) -> float:
    """The value all rows share, else NaN."""
    distinct = set(values.dropna().astype(float))
    return distinct.pop() if len(distinct) == 1 else math.nan


def _group_status(labels: Sequence[str], statuses: Sequence[str]) -> str:
    """'completed' when all agree, else counts like '2 completed, 1 diverged'."""
    if len(set(labels)) == 1:
        return labels[0]
    counts: dict[str, int] = {}
    for s in statuses:
        counts[s] = counts.get(s, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in counts.items())


def _aggregate(label: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """One row for a seed group: mean in each numeric column, plus <col>_std and <col>_n."""
    df = pd.DataFrame(records)
    row: dict[str, Any] = {"run": label, "group": label, "n_runs": len(records),
                           "path": ";".join(df["path"]), "command": records[0]["command"],
                           "schedule": _joined(df["schedule"]),
                           "status": _joined(df["status"]),
                           "status_label": _group_status(list(df["status_label"]), list(df["status"])),
                           "epochs_planned": _same(df.get("epochs_planned", pd.Series(dtype=float)))}
    for col in [*VALUE_COLUMNS, *MEAN_COLUMNS]:
        if col not in df:
            continue
        values = df[col].astype(float)
        values = values.where(values.map(math.isfinite))  # a diverged run's inf is not averaged
        n = int(values.notna().sum())
        row[col] = float(values.mean()) if n else math.nan
        if col in VALUE_COLUMNS:
            row[f"{col}_std"] = float(values.std(ddof=1)) if n > 1 else math.nan
            row[f"{col}_n"] = n
    if "target_reached" in df:
        row["target_reached"] = float(df["target_reached"].fillna(0).sum())
    return row


def _sort_key(metric: str) -> str:
    """The table column a metric ranks by: its best value (test metrics have only one)."""
    return metric if metric in TEST_METRICS else f"best_{metric}"


@dataclass
class Comparison:
    """The comparison as data: the machine table, the config diff, and what to tell the user."""

    runs: list[Run]
    groups: list[list[Run]]
    table: pd.DataFrame
    diff: dict[str, dict[str, Any]]
    metric: str
    target: Target | None
    individual: bool


def comparison_table(runs: Sequence[Run], *, target: Target | None = None, metric: str = "val_acc",
                     individual: bool = False) -> pd.DataFrame:
    """The comparison as a DataFrame: one row per run, seed groups as one mean row.

    Args:
        runs: loaded runs.
        target: the --target, or None.
        metric: the metric that ranks the rows (best value first) and gets a delta column.
        individual: also list each run of a seed group, right after its group row.

    Returns:
        A DataFrame with raw numbers: columns run, group (the seed group a row belongs to, empty
        otherwise), n_runs, command, schedule, status_label, progress columns, final_/best_<metric>
        and best_<metric>_epoch/_step, test_*, wall_s, target_*, find-lr suggestion columns,
        delta_<ranked column>; for seed groups <col>_std and <col>_n. Columns no row has are dropped.
    """
    metric = _choice("--metric", metric, METRICS)
    blocks: list[list[dict[str, Any]]] = []
    groups = seed_groups(runs)
    for group, label in zip(groups, _labels(groups)):
        records = [run_record(r, target) for r in group]
        if len(group) == 1:
            blocks.append([{**records[0], "group": "", "n_runs": 1}])
            continue
        members = [{**rec, "group": label, "n_runs": 1} for rec in records] if individual else []
        blocks.append([_aggregate(label, records)] + members)
    key = _sort_key(metric)
    sign = -1.0 if higher_is_better(metric) else 1.0

    def rank(block: list[dict[str, Any]]) -> tuple[int, float]:
        v = _num(block[0].get(key))
        return (0, sign * v) if math.isfinite(v) else (1, 0.0)

    blocks.sort(key=rank)  # stable: ties and runs without the metric keep the order given
    rows = [row for block in blocks for row in block]
    df = pd.DataFrame(rows)
    for col in [c for c in df.columns if c.endswith("_n") and c[:-2] in df]:
        plain = df["n_runs"] == 1  # a single run counts 1 where it has the value, 0 where not
        df.loc[plain, col] = df.loc[plain, col[:-2]].notna().astype(int)
    top = [row for row in (b[0] for b in blocks) if math.isfinite(_num(row.get(key)))]
    if len(top) >= 2 and key in df:
        df[f"delta_{key}"] = df[key] - _num(top[0][key])
    return _select_columns(df, metric)


def _select_columns(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Order the columns and drop the ones no row has a value in."""
    shown = ["val_acc", "val_loss"]
    has_val = any(f"best_{m}" in df and df[f"best_{m}"].notna().any() for m in shown)
    if metric in ("train_loss", "train_acc") or not has_val:
        shown += [m for m in ("train_loss", "train_acc") if m not in shown]
    order = ["run", "group", "n_runs", "command", "schedule", "status", "status_label",
             "steps_done", "epochs_done", "epochs_planned"]
    for m in shown:
        order += [f"final_{m}", f"best_{m}", f"best_{m}_epoch", f"best_{m}_step"]
    order += list(TEST_METRICS) + ["wall_s", "target_step", "target_epoch", "target_s", "target_reached"]
    order += [f"{s}_lr" for s in SUGGESTIONS] + ["clr_base_lr", "clr_max_lr", "onecycle_max_lr",
                                                 "min_loss", "min_loss_lr"]
    order += [c for c in df.columns if c.startswith("delta_")]
    cols = []
    for c in order:
        for name in (c, f"{c}_std", f"{c}_n"):
            if name in df and name not in cols:
                cols.append(name)
    cols.append("path")
    keep_always = {"run", "group", "n_runs", "command", "schedule", "status", "status_label", "path"}
    df = df[cols]
    empty = [c for c in cols if c not in keep_always and not _has_values(df[c])]
    # a _n column is kept exactly when its mean column is
    empty += [f"{c}_n" for c in empty if f"{c}_n" in df]
    df = df.drop(columns=sorted(set(empty))).reset_index(drop=True)
    for c in [c for c in df.columns if c.endswith("_n") or c in ("n_runs", "target_reached")]:
        df[c] = df[c].astype("Int64")  # counts print as 3, not 3.0
    return df


def _has_values(s: pd.Series) -> bool:
    """Whether any cell holds something (not NaN, None or "")."""
    return bool(s.map(lambda v: not (v is None or v is pd.NA or v == ""
                                     or (isinstance(v, float) and math.isnan(v)))).any())


def build_comparison(runs: Sequence[Run], *, target: Target | None = None, metric: str = "val_acc",
                     individual: bool = False) -> Comparison:
    """Everything compare shows, as data.

    Args:
        runs: loaded runs.
        target: the --target, or None.
        metric: ranks the rows.
        individual: list the runs of each seed group too.

    Returns:
        The Comparison.
    """
    runs = list(runs)
    return Comparison(runs=runs, groups=seed_groups(runs),
                      table=comparison_table(runs, target=target, metric=metric, individual=individual),
                      diff=config_diff(runs), metric=metric, target=target, individual=individual)


def machine_table(cmp: Comparison) -> pd.DataFrame:
    """The table for csv/json: the comparison table plus the differing config keys as columns."""
    df = cmp.table.copy()
    by_path = {str(r.path): r for r in cmp.runs}
    for key in cmp.diff:
        # a seed group's cell lists its runs' values when they differ (its seeds)
        df[key] = [", ".join(dict.fromkeys(
                       format_value(by_path[p].config[key]) if key in by_path[p].config else ""
                       for p in str(paths).split(";")))
                   for paths in df["path"]]
    return df


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class _Col:
    header: str
    key: str
    kind: str  # text, status, acc, loss, int, time, lr, target, target_time, delta, steps, clr, minloss
    better: str | None = None  # "max" / "min": the best value in the column is highlighted


def _display_columns(cmp: Comparison, command: str) -> list[_Col]:
    """The columns the terminal and markdown tables show for train or find-lr rows."""
    df = cmp.table[cmp.table["command"] == command]

    def has(col: str) -> bool:
        return col in df and _has_values(df[col])

    cols = [_Col("run", "run", "text"), _Col("schedule", "schedule", "text"),
            _Col("status", "status_label", "status")]
    if command == "find-lr":
        cols.append(_Col("steps", "steps_done", "int"))
        cols += [_Col(f"{s}\nlr", f"{s}_lr", "lr") for s in SUGGESTIONS if has(f"{s}_lr")]
        if has("clr_max_lr"):
            cols.append(_Col("cyclic\nbase..max", "clr_max_lr", "clr"))
        if has("min_loss"):
            cols.append(_Col("min loss\n@ lr", "min_loss", "minloss"))
        if has("wall_s"):
            cols.append(_Col("wall\ntime", "wall_s", "time"))
        return cols
    for m in EPOCH_METRICS:
        if f"best_{m}" in df:
            better = "max" if higher_is_better(m) else "min"
            kind = "acc" if higher_is_better(m) else "loss"
            cols += [_Col(f"{m}\nfinal", f"final_{m}", kind, better),
                     _Col(f"{m}\nbest", f"best_{m}", kind, better)]
    for m in TEST_METRICS:
        if has(m):
            cols.append(_Col(m, m, "acc" if higher_is_better(m) else "loss",
                             "max" if higher_is_better(m) else "min"))
    if has("wall_s"):
        # not highlighted: a run that stopped early is quick without being better
        cols.append(_Col("wall\ntime", "wall_s", "time"))
    if cmp.target is not None:
        # one column (steps, epochs, seconds) keeps the table narrow; fewest steps is highlighted
        cols.append(_Col(f"to reach\n{cmp.target}", "target_step", "target", "min"))
    delta = f"delta_{_sort_key(cmp.metric)}"
    if has(delta):
        what = cmp.metric if cmp.metric in TEST_METRICS else f"best {cmp.metric}"
        cols.append(_Col(f"Δ {what}".replace(" ", "\n", 1), delta,
                         "delta_acc" if higher_is_better(cmp.metric) else "delta"))
    return cols


def _isnum(v: Any) -> bool:
    """A finite real number (numpy scalars included, bools and pandas NA not)."""
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and math.isfinite(v)


def _count(v: Any) -> int:
    """A count cell as an int (NaN and NA are 0)."""
    return int(v) if _isnum(v) else 0


def format_duration(seconds: float) -> str:
    """12.3s, 3m04s, 1h02m."""
    if not _isnum(seconds):
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def _fmt_number(v: Any, kind: str) -> str:
    """A number as its column shows it ("-" when missing)."""
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if not _isnum(v):  # missing, or NaN (no validation split, or a diverged run's last epoch)
        return "-"
    if kind == "acc":
        return f"{v:.4f}"
    if kind == "loss":
        return f"{v:.4g}"
    if kind == "lr":
        return f"{v:.3g}"
    if kind in ("time", "target_time"):
        return format_duration(v)
    if kind == "delta_acc":
        return f"{v:+.4f}"
    if kind == "delta":
        return f"{v:+.4g}"
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}"


def _mean_std(row: pd.Series, key: str, kind: str, sep: str = " ") -> str:
    """mean ± std (n) for a seed group's column; `sep` goes before the ±."""
    n = _count(row.get(f"{key}_n"))
    mean, std = row.get(key), row.get(f"{key}_std")
    if not _isnum(mean):
        return "-"
    fmt = kind
    text = _fmt_number(mean, fmt)
    if _isnum(std):
        text += f"{sep}± " + (format_duration(std) if fmt == "time" else _fmt_number(std, fmt))
    return f"{text} ({n})"


def _cell(row: pd.Series, col: _Col, sep: str = " ") -> str:
    """The text of one cell; seed groups show mean ± std (n). `sep` "\n" stacks a cell's parts."""
    group = _count(row.get("n_runs")) > 1
    if col.kind == "text":
        text = str(row.get(col.key) or "")
        if col.key == "run" and row.get("group") and not group:
            text = "  · " + text  # one run of the seed group above
        return text
    if col.kind == "status":
        text = str(row.get("status_label") or "")
        done, planned = row.get("epochs_done"), row.get("epochs_planned")
        if row.get("command") == "train" and row.get("status") != "completed" and not group \
                and _isnum(done) and _isnum(planned):
            text += f" (ep {done:.0f}/{planned:.0f})"
        return text
    if col.kind == "clr":
        lo, hi = row.get("clr_base_lr"), row.get("clr_max_lr")
        return f"{lo:.3g}..{hi:.3g}" if _isnum(lo) and _isnum(hi) else "-"
    if col.kind == "minloss":
        v, lr = row.get("min_loss"), row.get("min_loss_lr")
        return f"{v:.4g} @ {lr:.3g}" if _isnum(v) and _isnum(lr) else "-"
    v = row.get(col.key)
    if col.kind == "target":
        if not _isnum(v):
            return "not reached"
        parts = [("step ", "target_step", "int"), ("ep ", "target_epoch", "int"), ("", "target_s", "time")]
        if not group:
            return (", " if sep == " " else sep).join(
                prefix + _fmt_number(row.get(key), kind) for prefix, key, kind in parts)
        texts = [prefix + _mean_std(row, key, kind).rsplit(" (", 1)[0] for prefix, key, kind in parts]
        reached = f"({_count(row.get('target_reached'))}/{_count(row['n_runs'])} reached)"
        return (", " if sep == " " else sep).join(texts) + (" " if sep == " " else sep) + reached
    if group and f"{col.key}_n" in row:
        return _mean_std(row, col.key, col.kind, sep)
    text = _fmt_number(v, col.kind)
    if col.key.startswith("best_") and text != "-":
        epoch = row.get(f"{col.key}_epoch")
        if _isnum(epoch):
            text += f"{sep}@ep{epoch:.0f}"
    return text


def _best_rows(df: pd.DataFrame, col: _Col) -> set[int]:
    """Positions of the rows holding the best value of a column, among runs and groups."""
    if col.better is None or col.key not in df:
        return set()
    values = pd.to_numeric(df[col.key], errors="coerce").reset_index(drop=True)
    top = ((df["group"] == "") | (df["n_runs"] > 1)).reset_index(drop=True)  # not a group's members
    if col.key == "target_step" and "target_reached" in df:
        # a seed group wins the target column only when every one of its runs reached the target
        every = (df["target_reached"].fillna(0) >= df["n_runs"].fillna(1)).reset_index(drop=True)
        top = top & every
    values = values[top & values.map(_isnum)]
    if len(values) < 2:
        return set()
    best = values.max() if col.better == "max" else values.min()
    return set(values.index[values == best])


def render_rows(cmp: Comparison, command: str = "train", sep: str = " "
                ) -> tuple[list[_Col], list[list[str]], list[set[int]]]:
    """For the train (or find-lr) rows: columns, cell texts, and per column the rows to highlight.

    Args:
        cmp: the comparison.
        command: "train" or "find-lr": which rows.
        sep: between a value and its ± std or @epoch; "\n" keeps terminal columns narrow.

    Returns:
        (columns, cells as rows of strings, for each column the row positions to highlight).
    """
    df = cmp.table[cmp.table["command"] == command]
    if df.empty:
        return [], [], []
    cols = _display_columns(cmp, command)
    cells = [[_cell(row, c, sep) for c in cols] for _, row in df.iterrows()]
    return cols, cells, [_best_rows(df, c) for c in cols]


def diff_lines(cmp: Comparison) -> list[str]:
    """`key: value (runs), value (runs)` for each differing config key."""
    lines = []
    for key, per_run in cmp.diff.items():
        by_value: dict[str, list[str]] = {}
        for name, v in per_run.items():
            by_value.setdefault(format_value(v) if v is not None else "(unset)", []).append(name)
        lines.append(f"{key}: " + ", ".join(f"{v} ({', '.join(names)})" for v, names in by_value.items()))
    return lines


def verdict(cmp: Comparison) -> list[str]:
    """Which run is best by the ranking metric and by how much; which reached the target first."""
    df = cmp.table
    top = df[((df["group"] == "") | (df["n_runs"] > 1)) & (df["command"] == "train")]
    out = []
    key = _sort_key(cmp.metric)
    ranked = top[top[key].map(_isnum)] if key in top else top.iloc[0:0]
    if not ranked.empty:
        kind = "acc" if higher_is_better(cmp.metric) else "loss"
        what = cmp.metric if key == cmp.metric else f"best {cmp.metric}"
        first = ranked.iloc[0]
        text = f"best by {what}: {first['run']} ({_fmt_number(first[key], kind)})"
        if len(ranked) > 1:
            second = ranked.iloc[1]
            gap = abs(first[key] - second[key])
            text += f", {_fmt_number(gap, kind)} {'above' if kind == 'acc' else 'below'} {second['run']}"
        out.append(text)
    if cmp.target is not None:
        reached = top[top["target_step"].map(_isnum)] if "target_step" in top else top.iloc[0:0]
        if "n_runs" in reached and "target_reached" in reached:
            # a seed group counts only when every run in it reached the target
            reached = reached[reached["target_reached"].fillna(0) >= reached["n_runs"].fillna(1)]
        if reached.empty:
            out.append(f"no run reached {cmp.target}")
        else:
            first = reached.loc[reached["target_step"].idxmin()]
            out.append(f"fewest steps to reach {cmp.target}: {first['run']} "
                       f"(step {_fmt_number(first['target_step'], 'int')}, "
                       f"epoch {_fmt_number(first['target_epoch'], 'int')}, "
                       f"{format_duration(first.get('target_s'))})")
    return out


def _sections(cmp: Comparison) -> list[tuple[str, str]]:
    """(command, title) of the tables to show: training runs, then range tests."""
    have = set(cmp.table["command"])
    titles = [("train", "training runs"), ("find-lr", "LR range tests")]
    return [(c, t) for c, t in titles if c in have]


def to_markdown(cmp: Comparison) -> str:
    """The comparison as markdown for a pull request: config differences, then the table(s)."""
    out = []
    lines = diff_lines(cmp)
    if lines:
        out.append("**Config differences**\n")
        out += [f"- `{line.split(': ', 1)[0]}`: {line.split(': ', 1)[1]}" for line in lines]
        out.append("")
    if cmp.target is not None:
        out += [f"Target: `{cmp.target}`", ""]

    def esc(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")

    sections = _sections(cmp)
    for command, title in sections:
        cols, cells, highlight = render_rows(cmp, command)
        if len(sections) > 1:
            out += [f"**{title[0].upper()}{title[1:]}**", ""]
        out.append("| " + " | ".join(esc(c.header) for c in cols) + " |")
        out.append("|" + "|".join("---" if c.kind in ("text", "status") else "---:" for c in cols) + "|")
        for i, row in enumerate(cells):
            shown = [f"**{esc(v)}**" if i in highlight[j] else esc(v) for j, v in enumerate(row)]
            out.append("| " + " | ".join(shown) + " |")
        out.append("")
    out += verdict(cmp)
    return "\n".join(out).rstrip("\n") + "\n"


def to_csv(cmp: Comparison) -> str:
    """The machine table as CSV."""
    return machine_table(cmp).to_csv(index=False)


def to_json(cmp: Comparison) -> str:
    """The machine table as a JSON list of row objects (NaN as null)."""
    records = json.loads(machine_table(cmp).to_json(orient="records"))
    return json.dumps(records, indent=2) + "\n"


def print_table(cmp: Comparison, console: Any) -> None:
    """The rich table(s), with the config differences above and the verdict below."""
    from rich import box
    from rich.segment import Segment
    from rich.table import Table
    from rich.text import Text

    lines = diff_lines(cmp)
    if lines:
        console.print(Text("config differences:", style="bold"))
        for line in lines:
            console.print(Text("  " + line))
    elif len(cmp.runs) > 1:
        console.print(Text("configs: identical"))
    for command, title in _sections(cmp):
        cols, cells, highlight = render_rows(cmp, command, sep="\n")
        df = cmp.table[cmp.table["command"] == command]
        n_runs = int(df.loc[(df["group"] == "") | (df["n_runs"] > 1), "n_runs"].sum())
        n_groups = int((df["n_runs"] > 1).sum())
        title += f": {n_runs} run{'s' if n_runs != 1 else ''}"
        if n_groups:
            title += f", {n_groups} seed group{'s' if n_groups > 1 else ''} as mean ± std (n)"
        if command == "train" and cmp.target is not None:
            title += f"; target {cmp.target}"
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for j, c in enumerate(cols):
            text = c.kind in ("text", "status")
            longest = max((len(line) for row in cells for line in row[j].split("\n")), default=1)
            # numbers never break mid-value; names and statuses wrap only past a readable width
            table.add_column(c.header, justify="left" if text else "right", no_wrap=not text,
                             min_width=min(longest, 16) if text else None)
        for i, row in enumerate(cells):
            table.add_row(*[Text(v, style="bold green" if i in highlight[j] else "")
                            for j, v in enumerate(row)])
        # written to a file or a pipe, a wide table is printed whole rather than squeezed into
        # ellipses; a terminal gets it fitted to its width, since soft-wrapped rows are unreadable
        if not console.is_terminal and console.width < 220:
            lines = console.render_lines(table, console.options.update_width(220), pad=False)
            natural = max(Segment.get_line_length(line) for line in lines)
            if natural > console.width:
                table.width = natural
        console.print(table, crop=False)
    for line in verdict(cmp):
        console.print(Text(line))


# --------------------------------------------------------------------------- plots


def _x_label(x: str) -> str:
    """Axis label for --x."""
    return {"step": "optimizer step", "epoch": "epoch", "time": "time (s)"}[x]


def _steps_x(run: Run, x: str) -> pd.Series | None:
    """The x values of steps.csv rows for --x."""
    df = run.steps
    if x == "step":
        return df["step"] if "step" in df else None
    if x == "time":
        return df["time_s"] if "time_s" in df else None
    spe = _num(run.summary.get("steps_per_epoch"))
    if not math.isfinite(spe) and _rows(run.epochs) and "step" in run.epochs:
        first_epoch = float(run.epochs["epoch"].iloc[0])
        spe = float(run.epochs["step"].iloc[0]) / first_epoch if first_epoch > 0 else math.nan
    if math.isfinite(spe) and spe > 0 and "step" in df:
        return (df["step"] + 1) / spe  # the last step of epoch 1 lands on 1.0, like epochs.csv
    return df["epoch"] + 1 if "epoch" in df else None


def _epochs_x(run: Run, x: str) -> pd.Series | None:
    """The x values of epochs.csv rows for --x."""
    col = {"step": "step", "epoch": "epoch", "time": "time_s"}[x]
    return run.epochs[col] if col in run.epochs else None


def smooth_loss(loss: pd.Series) -> pd.Series:
    """Debiased EMA over a window that grows with the run, so short and long runs both read well."""
    span = max(1, min(100, len(loss) // 25))
    clean = loss.astype(float).where(loss.astype(float).map(math.isfinite))
    return clean.ewm(span=span, adjust=True, ignore_na=True).mean()


def _curve(run: Run, source: str, ycol: str, x: str, smooth: bool = False) -> pd.DataFrame | None:
    """DataFrame(align, x, y) of one run: aligned on step (steps.csv) or epoch (epochs.csv)."""
    df = run.steps if source == "steps" else run.epochs
    if not _rows(df) or ycol not in df or not df[ycol].notna().any():
        return None
    xs = _steps_x(run, x) if source == "steps" else _epochs_x(run, x)
    align = "step" if source == "steps" else "epoch"
    if xs is None or align not in df:
        return None
    y = smooth_loss(df[ycol]) if smooth else df[ycol].astype(float)
    out = pd.DataFrame({"align": df[align].astype(float), "x": xs.astype(float), "y": y})
    return out.dropna(subset=["x"]).drop_duplicates("align", keep="last")


def _series(cmp: Comparison, source: str, ycol: str, x: str, smooth: bool = False) -> list[dict[str, Any]]:
    """One plotted series per plain run, one mean line with a ±1 std band per seed group."""
    out = []
    for group, label in zip(cmp.groups, _labels(cmp.groups)):
        runs = [r for r in group if r.command == "train"]
        curves = [(r, c) for r in runs if (c := _curve(r, source, ycol, x, smooth)) is not None]
        if not curves:
            continue
        if len(group) == 1:
            c = curves[0][1]
            out.append({"label": group[0].name, "x": c["x"].tolist(), "y": c["y"].tolist()})
            continue
        # runs of a group share their steps/epochs; align on those, and average x (time) too
        ys = pd.concat([c.set_index("align")["y"] for _, c in curves], axis=1)
        xs = pd.concat([c.set_index("align")["x"] for _, c in curves], axis=1)
        mean, std = ys.mean(axis=1), ys.std(axis=1, ddof=1).fillna(0.0)
        order = xs.mean(axis=1).sort_index()
        out.append({"label": f"{label}, mean ± std", "x": order.tolist(),
                    "y": mean.reindex(order.index).tolist(),
                    "band": ((mean - std).reindex(order.index).tolist(),
                             (mean + std).reindex(order.index).tolist()),
                    "members": ([(c["x"].tolist(), c["y"].tolist()) for _, c in curves]
                                if cmp.individual else [])})
    return out


def write_plots(cmp: Comparison, out: Path, x: str = "step") -> list[str]:
    """Overlay plots of what the runs have; returns the file names written.

    Args:
        cmp: the comparison.
        out: the output directory.
        x: x axis of the train plots: step, epoch or time.

    Returns:
        Names of the PNGs written (lr, train_loss, val_acc, val_loss, lr_find), only for data present.
    """
    from .. import plots

    written = []
    xl = _x_label(x)
    specs = [("lr.png", "steps", "lr", False, "learning rate", "Learning rate"),
             ("train_loss.png", "steps", "loss", True, "training loss (smoothed)", "Training loss"),
             ("val_acc.png", "epochs", "val_acc", False, "validation accuracy", "Validation accuracy"),
             ("val_loss.png", "epochs", "val_loss", False, "validation loss", "Validation loss")]
    for name, source, ycol, smooth, ylabel, title in specs:
        series = _series(cmp, source, ycol, x, smooth)
        if series:
            plots.plot_overlay(series, out / name, xlabel=xl, ylabel=ylabel, title=title,
                               log_y=ycol == "lr", markers=source == "epochs")
            written.append(name)
    curves = []
    for r in cmp.runs:
        if r.command != "find-lr" or not _rows(r.lr_find) or "lr" not in r.lr_find:
            continue
        df = r.lr_find
        ycol = "smoothed_loss" if "smoothed_loss" in df and df["smoothed_loss"].notna().any() else "loss"
        sugg = {k: v for k, v in (r.summary.get("suggestions") or {}).items()
                if isinstance(v, dict) and _isnum(_num(v.get("lr"))) and _isnum(_num(v.get("loss")))}
        curves.append({"label": r.name, "lr": df["lr"].astype(float).tolist(),
                       "loss": df[ycol].astype(float).tolist(),
                       "suggestions": {k: (float(v["lr"]), float(v["loss"])) for k, v in sugg.items()}})
    if curves:
        log_x = all(r.config.get("find_lr.mode", "exp") == "exp" for r in cmp.runs if r.command == "find-lr")
        plots.plot_lr_find_overlay(curves, out / "lr_find.png", log_x=log_x)
        written.append("lr_find.png")
    return written


# --------------------------------------------------------------------------- the command


def _output_dir(out: str | Path | None, root: str | Path = "runs") -> RunDir:
    """--out exactly (new or empty), else a new runs/compare-<YYYYmmdd-HHMMSS>[-N]."""
    return RunDir.create(out, "compare", "", root=root)


def write_outputs(cmp: Comparison, out: str | Path | None, x: str = "step",
                  warnings: list[str] | None = None) -> tuple[Path, list[str]]:
    """comparison.csv, comparison.md, summary.json and the plots.

    Args:
        cmp: the comparison.
        out: --out, or None for a new runs/compare-<time>.
        x: x axis of the train plots.
        warnings: where to report a plot that could not be drawn.

    Returns:
        (directory, names of the files written).
    """
    run_dir = _output_dir(out)
    atomic_write_text(run_dir.file("comparison.csv"), to_csv(cmp))
    atomic_write_text(run_dir.file("comparison.md"), to_markdown(cmp))
    names = ["comparison.csv", "comparison.md"]
    try:
        names += write_plots(cmp, run_dir.path, x)
    except Exception as e:  # noqa: BLE001 - the table is the answer; a figure is a bonus
        if warnings is not None:
            warnings.append(f"could not draw the plots: {type(e).__name__}: {e}")
    # marks the directory as a compare output, so a later `compare runs/*` skips it by name
    run_dir.write_summary({"command": "compare", "status": "completed", "created": now_iso(),
                           "runs": [str(r.path) for r in cmp.runs], "metric": cmp.metric,
                           "target": str(cmp.target) if cmp.target else None, "files": names})
    return run_dir.path, names


def compare_runs(patterns: list[str], *, out: str | Path | None = None, target: str | None = None,
                 metric: str = "val_acc", fmt: str = "table", x: str = "step", individual: bool = False,
                 console: Any = None, err_console: Any = None) -> int:
    """`lrtool compare`: print the comparison and write it, with plots, to a directory.

    Args:
        patterns: run directories or globs (train and find-lr runs).
        out: output directory (new or empty); None: runs/compare-<YYYYmmdd-HHMMSS>.
        target: "METRIC=VALUE": steps/epochs/seconds until a run reached it.
        metric: ranks the rows (best first) and gets a delta column.
        fmt: table (rich) | csv | md | json, printed to stdout.
        x: x axis of the train plots: step | epoch | time.
        individual: also list each run of a seed group.
        console: rich Console for stdout; err_console: for warnings and notes.

    Returns:
        The exit code, 0. Bad input raises LrtoolError.
    """
    from rich.console import Console
    from rich.text import Text

    fmt = _choice("--format", fmt, FORMATS)
    x = _choice("--x", x, X_AXES)
    metric = _choice("--metric", metric, METRICS)
    tgt = parse_target(target) if target is not None else None
    console = console or Console(highlight=False)
    err_console = err_console or Console(stderr=True, highlight=False)
    runs, warnings = load_runs(patterns)
    for w in warnings:
        err_console.print(Text(f"warning: {w}", style="yellow"), soft_wrap=True)
    cmp = build_comparison(runs, target=tgt, metric=metric, individual=individual)
    problems: list[str] = []
    out_path, names = write_outputs(cmp, out, x, problems)
    if fmt == "table":
        print_table(cmp, console)
    else:
        text = {"csv": to_csv, "md": to_markdown, "json": to_json}[fmt](cmp)
        # plain write: rich would wrap long lines and break the machine-readable output
        console.file.write(text)
        console.file.flush()
    for r in runs:
        for note in r.notes:
            err_console.print(Text(f"note: {r.name}: {note}", style="yellow"), soft_wrap=True)
    for p in problems:
        err_console.print(Text(f"warning: {p}", style="yellow"), soft_wrap=True)
    where = err_console if fmt != "table" else console
    where.print(Text(f"wrote {out_path}/ ({', '.join(names)})"), soft_wrap=True)
    return 0


class _CallablePackage(types.ModuleType):
    """Makes `lrtool.compare(paths, ...)` the Python API's compare() while this stays the compare package
    (a module's __class__ may be a ModuleType subclass: the documented way to customise a module)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from ..api import compare

        return compare(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage

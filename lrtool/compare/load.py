"""Reading run directories for compare: every file through lrtool.rundir, whatever state the run is in."""

from __future__ import annotations

import glob
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from ..errors import LrtoolError
from ..rundir import RunSummary, load_summary, read_csv_frame, writer_gone
from ..rundir import columns as C
from ..rundir.summary import flatten

RUN_FILES = (C.SUMMARY_JSON, C.CONFIG_YAML, C.STEPS_CSV, C.EPOCHS_CSV, C.LR_FIND_CSV)
# the steps.csv columns compare uses: a long run's steps.csv is read for these only
STEP_USE = (C.STEP, C.EPOCH, C.LR, C.LOSS, C.TIME_S)


def shown(path: str | Path) -> str:
    """A path as text that any output can hold: bytes that are not UTF-8 shown as \\xNN escapes.

    Path names are bytes; Python keeps undecodable ones as lone surrogates, which no UTF-8 file or
    terminal accepts. The escapes keep such names distinct and readable.
    """
    text = os.fspath(path)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


# --------------------------------------------------------------------------- reading runs


@dataclass
class Run:
    """What one run directory holds; every part but `path` and `name` may be missing or empty."""

    path: Path
    name: str
    command: str  # "train" or "find-lr"
    summary: RunSummary = field(default_factory=RunSummary)
    config: dict[str, Any] = field(default_factory=dict)  # flattened to dotted keys
    steps: pd.DataFrame | None = None
    epochs: pd.DataFrame | None = None
    lr_find: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    stopped: bool = False  # summary.json says running, but no live process holds the run's lock (killed)

    @property
    def status(self) -> str:
        """summary.json's status, or "unknown" without one."""
        return self.summary.status or "unknown"

    @property
    def shown_path(self) -> str:
        """The directory as printable text (see `shown`)."""
        return shown(self.path)

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




def _read_config(path: Path, notes: list[str]) -> dict[str, Any]:
    """config.yaml flattened (the schedule in its normal form), or {} with a note when missing or unreadable."""
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
    if "schedule" in doc:  # one setting, one key: wherever --schedule left a schedule's arguments
        from ..schedules.section import normal_form

        doc["schedule"] = normal_form(doc["schedule"])
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
        raise LrtoolError(f"{shown(path)}: no such run directory")
    if not path.is_dir():
        raise LrtoolError(f"{shown(path)}: not a run directory (it is a file)")
    if not any((path / f).is_file() for f in RUN_FILES):
        raise LrtoolError(f"{shown(path)}: not a run directory (no summary.json, config.yaml or metrics CSV)")
    notes: list[str] = []
    if not (path / C.SUMMARY_JSON).is_file():
        notes.append("no summary.json; results taken from the CSVs")
    summary = load_summary(path / C.SUMMARY_JSON, notes) or RunSummary()
    command = summary.command
    if command == "compare":
        raise LrtoolError(f"{shown(path)}: a compare output, not a run")
    if command is None:
        command = "find-lr" if (path / C.LR_FIND_CSV).is_file() else "train"
    if command not in ("train", "find-lr"):
        raise LrtoolError(f"{shown(path)}: a '{command}' directory; compare reads train and find-lr runs")
    run = Run(path=path, name=shown(path.name), command=command, summary=summary, notes=notes)
    run.config = _read_config(path / C.CONFIG_YAML, notes)
    if command == "train":
        run.steps = read_csv_frame(path / C.STEPS_CSV, notes, columns=STEP_USE)
        run.epochs = read_csv_frame(path / C.EPOCHS_CSV, notes)
        if not (_rows(run.steps) or _rows(run.epochs)):
            raise LrtoolError(f"{shown(path)}: run has no metrics (steps.csv and epochs.csv missing or empty)")
    else:
        run.lr_find = read_csv_frame(path / C.LR_FIND_CSV, notes)
        if not _rows(run.lr_find):
            raise LrtoolError(f"{shown(path)}: run has no metrics (lr_find.csv missing or empty)")
        if not summary.suggestions:
            notes.append("no suggestions in summary.json (the range test did not finish); "
                         "compared by its curve")
    if summary.status == "failed" and summary.error:
        notes.append(f"failed: {summary.error}")
    if summary.status == "running" and writer_gone(path):
        run.stopped = True
        notes.append("summary.json says running, but its process is gone (killed?)" + (
            f"; continue with: lrtool train --resume {shown(path)}" if command == "train" else ""))
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
            r.name = shown(f"{r.path.parent.name}/{r.path.name}")

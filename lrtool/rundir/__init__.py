"""The on-disk run directory: its one owner.

A run directory holds config.yaml, summary.json, the CSV logs (steps.csv, epochs.csv, lr_find.csv,
schedule.csv), plots and checkpoints/. This package creates it without clobbering (`RunDir`), lets one
process write it at a time (`lock`), writes every file atomically (`atomic`), writes and reads the
CSVs (`csvlog`, with column names in `columns`) and writes and reads summary.json against its schema
(`summary`). Everything that reads a run (compare, plots, --resume, --lr-from) goes through here.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os  # noqa: F401 - tests patch rundir.os.fsync to kill a write half-way
import platform
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator

from .. import ranks
from ..errors import LrtoolError
from . import columns
from .atomic import atomic_write, atomic_write_bytes, atomic_write_text, overwrite_in_place
from .columns import CLASSES_JSON, higher_is_better
from .csvlog import CsvLog, CsvRows, NoLog, read_csv_frame, read_csv_rows
from .lock import RunLock, writer_gone
from .summary import STATUSES, RunSummary, load_summary, parse_summary, read_run_summary, summary_json

__all__ = ["STATUSES", "CsvLog", "CsvRows", "RunDir", "RunLock", "RunSummary", "atomic_write", "atomic_write_bytes",
           "atomic_write_text", "columns", "higher_is_better", "load_summary", "now_iso", "parse_summary",
           "read_csv_frame", "read_csv_rows", "read_run_summary", "summary_json", "versions", "writer_gone"]


def now_iso() -> str:
    """The local time with its UTC offset, to the second (the summaries' timestamps)."""
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    """Versions of python, torch, torchvision and lrtool (torchvision only if already imported)."""
    from .. import __version__

    out = {"python": platform.python_version(), "lrtool": __version__}
    for name in ("torch", "torchvision"):
        mod = sys.modules.get(name)
        if mod is None and name == "torch":
            import torch as mod  # noqa: PLC0415
        if mod is None:
            try:
                from importlib.metadata import version

                out[name] = version(name)
            except Exception:  # noqa: BLE001 - a missing package is simply not reported
                pass
        else:
            out[name] = mod.__version__
    return out


class RunDir:
    """One run's directory: config.yaml, summary.json, CSVs, plots, checkpoints/."""

    def __init__(self, path: Path, writes: bool | None = None):
        self.path = Path(path)
        # under torchrun only rank 0 writes; the others keep the summary in memory and log nowhere
        if writes is None:
            writes = ranks.is_main()
        self.writes = writes
        self._summary: dict[str, Any] = {}
        # the figures the last drawing wrote (those saved before it failed or was stopped); None: not drawn
        # in this process
        self.figures: list[str] | None = None
        # why the last drawing ended before its last figure: "failed", "interrupted" (a second signal), or None
        self.figures_cut: str | None = None

    @classmethod
    def create(cls, out: str | Path | None, stem: str, command: str, root: str | Path = "runs") -> "RunDir":
        """Make a new run directory.

        Args:
            out: exactly this directory (must not exist or be empty), or None for
                `<root>/<stem>-<command>-<YYYYmmdd-HHMMSS>`, suffixed -2, -3, ... when taken.
            stem: the config file's stem.
            command: `find-lr`, the schedule name, ...

        Returns:
            The RunDir, created on disk (under torchrun by rank 0, and every rank gets its path).
        """
        if ranks.is_distributed():
            return cls(ranks.from_main(lambda: cls._make(out, stem, command, root).path))
        return cls._make(out, stem, command, root)

    @classmethod
    def _make(cls, out: str | Path | None, stem: str, command: str, root: str | Path) -> "RunDir":
        if out is not None:
            path = Path(out)
            if path.exists() and (not path.is_dir() or any(path.iterdir())):
                raise LrtoolError(f"--out {path}: already exists and is not empty; "
                                  "lrtool never overwrites a run, choose a new directory")
            try:
                path.mkdir(parents=True, exist_ok=True)
                _check_writable(path)
            except OSError as e:
                raise LrtoolError(f"--out {path}: cannot create the run directory ({e.strerror})") from None
            return cls(path)
        base = Path(root)
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LrtoolError(f"{base}: cannot create the runs directory ({e.strerror})") from None
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        name = "-".join(part for part in (stem, command, stamp) if part)
        for i in range(1, 1000):
            path = base / (name if i == 1 else f"{name}-{i}")
            try:
                path.mkdir()  # atomic: two runs started in the same second never share a directory
                return cls(path)
            except FileExistsError:
                continue
            except OSError as e:
                raise LrtoolError(f"{path}: cannot create the run directory ({e.strerror})") from None
        raise LrtoolError(f"{base}: too many runs named {name}")

    def file(self, name: str) -> Path:
        """The path of a file in the run directory."""
        return self.path / name

    def write_config(self, text: str) -> None:
        """config.yaml, as the run resolved it."""
        if self.writes:
            atomic_write_text(self.file("config.yaml"), text)

    def write_classes(self, classes: list) -> None:
        """classes.json: the label of each class index, when the data mapped labels to indices (e.g. `table`)."""
        if self.writes:
            atomic_write_text(self.file(CLASSES_JSON), json.dumps({"classes": classes}, indent=1) + "\n")

    def read_summary(self) -> dict[str, Any]:
        """summary.json as this run wrote it (a dict to update), {} before the first write."""
        if not self.writes:
            return dict(self._summary)
        p = self.file("summary.json")
        return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Replace summary.json with `summary`, checked against the schema (see summary.summary_json)."""
        if not self.writes:
            self._summary = dict(summary)
            return
        text = summary_json(summary)
        try:
            atomic_write_text(self.file("summary.json"), text)
        except OSError as e:
            # a full disk must not cost the run its status: reuse the old summary's own space
            if e.errno != errno.ENOSPC or not overwrite_in_place(self.file("summary.json"), text.encode("utf-8")):
                raise

    def update_summary(self, **fields: Any) -> dict[str, Any]:
        """Merge `fields` into summary.json; returns the new summary."""
        summary = self.read_summary()
        summary.update(fields)
        self.write_summary(summary)
        return summary

    @contextlib.contextmanager
    def lock(self, command: str) -> Iterator[None]:
        """Hold the run's lock inside (`with run.lock("train"):`): one writer per run directory (lock.py).

        Args:
            command: the command taking it (shown to a process that is refused).

        Raises LrtoolError on entry when a live process holds it (under torchrun on every rank, as
        rank 0, the writer, found it). The lock is released however the block ends.
        """
        lock = RunLock(self.path, command) if self.writes else None

        def take() -> None:
            if lock is not None:
                lock.acquire()

        ranks.from_main(take)
        try:
            yield
        finally:
            if lock is not None:
                lock.release()

    def csv(self, name: str, columns: Iterable[str], append: bool = False) -> CsvLog:
        """A CsvLog in the run directory (appending to it on resume); a no-op log on ranks > 0."""
        if not self.writes:
            return NoLog()
        return CsvLog(self.file(name), columns, append=append)


def _check_writable(path: Path) -> None:
    """Fail early (OSError) when the directory cannot be written."""
    probe = path / ".lrtool-write-test"
    probe.touch()
    probe.unlink()

"""Run directories: creation without clobbering, CSV logs appended as they happen, summary.json."""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable

from ..run import dist
from ..errors import LrtoolError

STATUSES = ("running", "completed", "diverged", "interrupted", "failed")


def now_iso() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def atomic_write_text(path: Path, text: str) -> None:
    """Write through a temporary file and rename, so a kill never leaves half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def _json_value(v: Any) -> Any:
    """NaN and inf are not JSON: store them as strings so every reader can parse the file."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_value(x) for x in v]
    return v


def read_run_summary(run_dir: str | Path, option: str, command: str,
                     files: tuple[str, ...] = ("summary.json",)) -> dict[str, Any]:
    """The summary.json of the `command` run that `option` names; one-line LrtoolError otherwise.

    Args:
        run_dir: the run directory given on the command line.
        option: the option that named it (--resume, --lr-from), for the message.
        command: the command the run must come from (train, find-lr).
        files: the files a usable run must hold.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or not all((run_dir / f).is_file() for f in files):
        what = f"no {files[0]}" if len(files) == 1 else "expected " + " and ".join(files)
        raise LrtoolError(f"{option} {run_dir}: not a run directory ({what})")
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except OSError as e:
        raise LrtoolError(f"{option} {run_dir}: cannot read summary.json ({e.strerror})") from None
    except ValueError as e:
        raise LrtoolError(f"{option} {run_dir}: summary.json is not valid JSON ({e})") from None
    if not isinstance(summary, dict) or summary.get("command") != command:
        got = summary.get("command", "unknown") if isinstance(summary, dict) else "unknown"
        raise LrtoolError(f"{option} {run_dir}: expected a {command} run, got a '{got}' run")
    return summary


class CsvLog:
    """A CSV file whose header is fixed at creation; each row is appended and flushed at once."""

    def __init__(self, path: Path, columns: Iterable[str], append: bool = False):
        self.path = Path(path)
        self.columns = list(columns)
        exists = append and self.path.exists() and self.path.stat().st_size > 0
        self._file = open(self.path, "a" if exists else "x", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._file, fieldnames=self.columns, extrasaction="raise")
        if not exists:
            self._writer.writeheader()
            self._file.flush()

    def write(self, row: dict[str, Any], flush: bool = True) -> None:
        self._writer.writerow({k: _fmt(v) for k, v in row.items()})
        if flush:
            self._file.flush()

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> "CsvLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fmt(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)  # repr round-trips floats exactly
    return v


class RunDir:
    """One run's directory: config.yaml, summary.json, CSVs, plots, checkpoints/."""

    def __init__(self, path: Path, writes: bool | None = None):
        self.path = Path(path)
        # under torchrun only rank 0 writes; the others keep the summary in memory and log nowhere
        self.writes = dist.is_main() if writes is None else writes
        self._summary: dict[str, Any] = {}

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
        if dist.is_distributed():
            return cls(dist.from_main(lambda: cls._make(out, stem, command, root).path))
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
        return self.path / name

    def write_config(self, text: str) -> None:
        if self.writes:
            atomic_write_text(self.file("config.yaml"), text)

    def read_summary(self) -> dict[str, Any]:
        if not self.writes:
            return dict(self._summary)
        p = self.file("summary.json")
        return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}

    def write_summary(self, summary: dict[str, Any]) -> None:
        if not self.writes:
            self._summary = dict(summary)
            return
        atomic_write_text(self.file("summary.json"), json.dumps(_json_value(summary), indent=2) + "\n")

    def update_summary(self, **fields: Any) -> dict[str, Any]:
        summary = self.read_summary()
        summary.update(fields)
        self.write_summary(summary)
        return summary

    def csv(self, name: str, columns: Iterable[str], append: bool = False) -> CsvLog:
        if not self.writes:
            return _NoLog()
        return CsvLog(self.file(name), columns, append=append)


class _NoLog(CsvLog):
    """The CSV log of a rank that does not write (torchrun ranks > 0)."""

    def __init__(self) -> None:
        pass

    def write(self, row: dict[str, Any], flush: bool = True) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def _check_writable(path: Path) -> None:
    probe = path / ".lrtool-write-test"
    probe.touch()
    probe.unlink()

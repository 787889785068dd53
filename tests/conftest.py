"""Helpers shared by the test files: the CLI runner, a tiny config, and readers of a run's files.

Fixtures that need a run directory write it through lrtool.rundir (RunDir, CsvLog, the summary
helper), so they stay in the format the tool itself writes.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any, Iterable

import pytest
from typer.testing import CliRunner

from lrtool.cli import app
from lrtool.errors import LrtoolError
from lrtool.rundir import CsvLog, RunDir, read_csv_rows

_runner = CliRunner()

# a model and data small enough that a CLI test trains in a second or two
BASE_CONFIG = """\
seed: 0
device: cpu
data: {name: synthetic, n_samples: 160, n_features: 8, n_classes: 3, batch_size: 32}
model: {name: mlp, hidden: [16]}
optimizer: {name: SGD, lr: 0.05, momentum: 0.9}
train: {epochs: 2, plots: false}
find_lr: {start_lr: 1.0e-4, end_lr: 100, num_iter: 30, smooth: 0.9}
"""


def invoke(*args: Any):
    """Run `lrtool ARGS...` in-process (arguments turned into strings); returns typer's Result."""
    return _runner.invoke(app, [str(a) for a in args])


def write_base_config(folder: Path, name: str = "synth.yaml", text: str = BASE_CONFIG) -> Path:
    """The tiny synthetic config as a file in `folder`; returns its path."""
    path = Path(folder) / name
    path.write_text(text)
    return path


def summary(run: Path) -> dict:
    """A run directory's summary.json, as stored."""
    return json.loads((Path(run) / "summary.json").read_text())


def rows(path: Path) -> list[dict[str, str]]:
    """The rows of a run's CSV as text cells, read by the tool's own reader (damaged lines left out)."""
    read = read_csv_rows(path)
    return read.rows if read is not None else []


def write_run(path: Path, *, summary: dict | None = None, config: str | None = None,
              csvs: dict[str, tuple[Iterable[str], Iterable[dict]]] | None = None) -> RunDir:
    """A run directory written the way lrtool writes one.

    Args:
        path: the directory (created; must not hold files).
        summary: summary.json's content (checked against the schema), or None for none.
        config: config.yaml's text, or None for none.
        csvs: {file name: (columns, rows)} for the CSV logs.

    Returns:
        The RunDir.
    """
    run = RunDir.create(path, "test", "", root=Path(path).parent)
    if config is not None:
        run.write_config(config)
    for name, (columns, data) in (csvs or {}).items():
        with CsvLog(run.file(name), columns) as log:
            for row in data:
                log.write(row)
    if summary is not None:
        run.write_summary(summary)
    return run


def error(fn, *args, **kwargs) -> str:
    """The LrtoolError message `fn` raises, checked to be one line."""
    with pytest.raises(LrtoolError) as info:
        fn(*args, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


def interrupt_at(monkeypatch, step: int, sig: int = signal.SIGINT) -> None:
    """Send a real signal to this process right after optimizer step `step` (counted from the patch on)."""
    from lrtool.run import engine

    original = engine.optimizer_step
    count = {"n": 0}

    def wrapped(*a, **k):
        original(*a, **k)
        count["n"] += 1
        if count["n"] == step:
            os.kill(os.getpid(), sig)

    monkeypatch.setattr(engine, "optimizer_step", wrapped)

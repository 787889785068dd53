"""`lrtool compare`: finished (or interrupted) runs side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ExitCode


def compare(run_dirs: list[str], *, out: Path | None, target: str | None, metric: str, fmt: str, x: str,
            individual: bool, console: Any, err_console: Any) -> ExitCode:
    """Load the runs, print their table in `fmt` and write the comparison files.

    Args:
        run_dirs: run directories or globs.
        out, target, metric, fmt, x, individual: the command's options (see `lrtool compare --help`).
        console, err_console: where the table and the warnings go.

    Returns:
        The exit code.
    """
    from ..compare import compare_runs

    return ExitCode(compare_runs(list(run_dirs), out=out, target=target, metric=metric, fmt=fmt, x=x,
                                 individual=individual, console=console, err_console=err_console))

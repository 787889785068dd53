"""One module per command: the orchestration behind `lrtool <command>`, returning typed results.

The CLI parses options, makes one call here and prints what comes back; nothing in this package
prints except through the callbacks the caller passes in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ExitCode


def count(n: int, noun: str) -> str:
    """`n noun`, the noun in the plural unless n is 1 (the commands' counts: "1 epoch", "60 steps")."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


@dataclass
class RunResult:
    """What a find-lr or train run left behind: its summary.json's content and its directory."""

    summary: dict[str, Any]
    run_dir: Path

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.for_summary(self.summary)

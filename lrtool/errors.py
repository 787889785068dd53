"""The one error type library code raises, and the process exit codes, named in one place.

Library code raises LrtoolError; only the CLI turns it into a one-line message and an exit code.
"""

from __future__ import annotations

import signal
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """What `lrtool` returns to the shell."""

    OK = 0
    FAILED = 1  # the run failed or diverged
    USAGE = 2  # bad usage, bad config or bad input
    SIGINT = 130  # 128 + the signal's number, as shells report a process killed by it
    SIGTERM = 143

    @classmethod
    def for_signal(cls, signum: int | None) -> "ExitCode":
        """The code of a run stopped by `signum` (SIGINT when unknown)."""
        return cls.SIGTERM if signum == signal.SIGTERM else cls.SIGINT

    @classmethod
    def for_status(cls, status: str) -> "ExitCode":
        """The code of a run that ended with summary status `status` (interrupted: by SIGINT)."""
        return {"completed": cls.OK, "interrupted": cls.SIGINT}.get(status, cls.FAILED)

    @classmethod
    def for_summary(cls, summary: dict[str, Any]) -> "ExitCode":
        """The code of a finished run from its summary.json: the one it recorded, else from status and signal."""
        if summary.get("exit_code") is not None:
            return cls(summary["exit_code"])
        if summary["status"] == "interrupted":
            return cls.SIGTERM if (summary.get("stop") or {}).get("signal") == "SIGTERM" else cls.SIGINT
        return cls.for_status(summary["status"])

    @property
    def interrupted(self) -> bool:
        """True for the codes of a run stopped by a signal."""
        return self in (ExitCode.SIGINT, ExitCode.SIGTERM)


class LrtoolError(Exception):
    """Bad usage, bad config or bad input: the CLI prints the message on one line and exits 2.

    Either a whole message, or its parts: `key` (the dotted config key, option or file), `problem`
    (what was expected) and `given` (the value found), shown as "<key>: <problem>, got <given!r>".
    """

    exit_code = ExitCode.USAGE

    def __init__(self, message: str | None = None, *, key: str | None = None, problem: str | None = None,
                 given: Any = ...) -> None:
        self.key, self.problem, self.given = key, problem, given
        if message is None:
            message = f"{key}: {problem}" if key else str(problem)
            if given is not ...:
                message += f", got {given!r}"
        super().__init__(message)


class RunFailed(LrtoolError):
    """The run itself failed or diverged after it started: exit code 1."""

    exit_code = ExitCode.FAILED


def one_line(err: BaseException, *, with_type: bool = False) -> str:
    """The exception's message collapsed onto one line (the CLI prints errors on one line).

    Args:
        err: the exception.
        with_type: put the exception's class name first ("OSError: ..."), for errors whose
            message alone does not say what went wrong.

    Returns:
        The message on one line; the class name alone when the message is empty.
    """
    text = " ".join(str(err).split())
    if not text:
        return type(err).__name__
    return f"{type(err).__name__}: {text}" if with_type else text

"""The one error type library code raises, and the process exit codes, named in one place.

Library code raises LrtoolError; only the CLI turns it into a one-line message and an exit code.
"""

from __future__ import annotations

import reprlib
import signal
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """What `lrtool` returns to the shell."""

    OK = 0
    FAILED = 1  # the run failed or diverged
    USAGE = 2  # bad usage, bad config or bad input
    SIGHUP = 129  # 128 + the signal's number, as shells report a process killed by it
    SIGINT = 130
    SIGTERM = 143

    @classmethod
    def for_signal(cls, signum: int | None) -> "ExitCode":
        """The code of a run stopped by `signum` (SIGINT when unknown)."""
        return cls.__members__.get(signal.Signals(signum).name, cls.SIGINT) if signum else cls.SIGINT

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
            name = (summary.get("stop") or {}).get("signal")
            return cls.__members__.get(name, cls.SIGINT) if name in STOP_SIGNAL_NAMES else cls.SIGINT
        return cls.for_status(summary["status"])

    @property
    def interrupted(self) -> bool:
        """True for the codes of a run stopped by a signal."""
        return self.name in STOP_SIGNAL_NAMES


# the signals that stop a run cleanly (status `interrupted`, a checkpoint to resume from): Ctrl-C, a
# scheduler's or `kill`'s SIGTERM, and SIGHUP where the platform has it (the terminal or ssh session closed)
STOP_SIGNAL_NAMES = ("SIGINT", "SIGTERM", "SIGHUP")
STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(getattr(signal, n) for n in STOP_SIGNAL_NAMES if hasattr(signal, n))


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
                message += f", got {short_repr(given)}"
        super().__init__(message)


class RunFailed(LrtoolError):
    """The run itself failed or diverged after it started: exit code 1."""

    exit_code = ExitCode.FAILED


_SHORT = reprlib.Repr()
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxset = _SHORT.maxdict = 8
_SHORT.maxstring = _SHORT.maxother = 80
SHORT_REPR_CHARS = 160


def short_repr(value: Any) -> str:
    """repr(value), abridged ('[16, 16, ...]') when longer than SHORT_REPR_CHARS: an error quotes
    what was given, not the megabytes of a 3-million-entry list."""
    text = repr(value)
    return text if len(text) <= SHORT_REPR_CHARS else _SHORT.repr(value)


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

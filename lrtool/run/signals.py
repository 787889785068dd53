"""Clean stops: SIGINT/SIGTERM/SIGHUP set a flag that the train and find-lr loops read between steps."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator

from ..errors import STOP_SIGNALS


class StopFlag:
    """Set by a stop signal (errors.STOP_SIGNALS): the loop finishes the current step, saves everything, then stops.

    A second signal (either kind) stops at once with a KeyboardInterrupt, except inside `shielded()`:
    the short writes that keep a run's files consistent (its status, an epoch's checkpoints) always
    finish, and the signal only counts. From `hold()` on (the run's end path, up to its status) no signal
    raises either, except inside `cuttable()`: the parts of the end a second signal may cut or skip.
    """

    def __init__(self) -> None:
        self.signal: int | None = None
        self.again: int | None = None  # a second signal, when one came
        self._shielded = 0
        self._held = False  # the run is ending: signals only count (see hold())

    @property
    def name(self) -> str:
        """The signal's name, SIGINT when none was caught (a KeyboardInterrupt)."""
        return signal.Signals(self.signal).name if self.signal else "SIGINT"

    @property
    def again_name(self) -> str:
        """The second signal's name (SIGINT when none was caught: a KeyboardInterrupt)."""
        return signal.Signals(self.again).name if self.again else "SIGINT"

    @contextmanager
    def shielded(self) -> Iterator[None]:
        """Inside, a signal marks the flag but never raises: for writes that must not be cut."""
        self._shielded += 1
        try:
            yield
        finally:
            self._shielded -= 1

    def hold(self) -> None:
        """From now on a signal only counts: the run is ending, and its status must be written first."""
        self._held = True

    @contextmanager
    def cuttable(self) -> Iterator[None]:
        """Inside, a second signal raises KeyboardInterrupt again (even after `hold()`, or when shielded)."""
        held, shielded = self._held, self._shielded
        self._held, self._shielded = False, 0
        try:
            yield
        finally:
            self._held, self._shielded = held, shielded

    @contextmanager
    def installed(self) -> Iterator["StopFlag"]:
        """Catch the stop signals while inside (main thread only; signals cannot be caught elsewhere)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handler(signum: int, _frame: Any) -> None:
            if self.signal is None:
                self.signal = signum
                return
            self.again = signum
            if not self._shielded and not self._held:
                raise KeyboardInterrupt  # a second Ctrl-C (or SIGTERM, SIGHUP) stops at once

        old = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)

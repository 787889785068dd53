"""Clean stops: SIGINT/SIGTERM set a flag that the train and find-lr loops read between steps."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator


class StopFlag:
    """Set by SIGINT/SIGTERM: the loop finishes the current step, saves everything, then stops."""

    def __init__(self) -> None:
        self.signal: int | None = None

    @property
    def name(self) -> str:
        """The signal's name, SIGINT when none was caught (a KeyboardInterrupt)."""
        return signal.Signals(self.signal).name if self.signal else "SIGINT"

    @contextmanager
    def installed(self) -> Iterator["StopFlag"]:
        """Catch SIGINT/SIGTERM while inside (main thread only; signals cannot be caught elsewhere)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handler(signum: int, _frame: Any) -> None:
            if self.signal is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt  # a second Ctrl-C stops at once
            self.signal = signum

        old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)

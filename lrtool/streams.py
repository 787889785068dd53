"""The CLI's console streams: output never costs a run that has done (or is doing) its work.

Text the terminal's encoding cannot show prints as backslash escapes, and once a reader of stdout or
stderr is gone (`lrtool train ... | head -2`) further output to it is dropped: the run goes on and ends
with its true status. Python ignores SIGPIPE, so a write to a closed pipe raises BrokenPipeError; the
standard recipe (https://docs.python.org/3/library/signal.html#note-on-sigpipe) points the descriptor at
os.devnull, so the interpreter's own last flush at exit does not fail either.
"""

from __future__ import annotations

import os
import sys
from typing import Any


class DropWhenClosed:
    """A text stream (sys.stdout, sys.stderr) whose output is dropped from the first BrokenPipeError on."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.dropped = False  # the reader has gone: everything from here on is dropped

    def write(self, text: str) -> int:
        if not self.dropped:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if not self.dropped:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        """Point the stream's descriptor at os.devnull: the text still buffered goes there, not to an error."""
        self.dropped = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self._stream.fileno())
            finally:
                os.close(devnull)
            self._stream.flush()
        except (OSError, ValueError):  # no descriptor (a captured stream) or it cannot be replaced: dropped anyway
            pass

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, fileno, ...: the stream's own
        return getattr(self._stream, name)


def prepare_streams() -> None:
    """Make sys.stdout and sys.stderr tolerant: unshowable characters escaped, a closed reader dropped."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None or isinstance(stream, DropWhenClosed):
            continue
        # Text the terminal's encoding cannot show (LANG=C, PYTHONIOENCODING=ascii, a non-UTF-8 file name)
        # prints as backslash escapes instead of failing a run that has done its work
        if getattr(stream, "errors", None) in ("strict", "surrogateescape") and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a stream that cannot change its error handler keeps it
                pass
        setattr(sys, name, DropWhenClosed(stream))

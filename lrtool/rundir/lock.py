"""One writer per run directory: the lock file `.lrtool.lock` (pid, host, start time).

train (a new run and --resume) and find-lr hold it for as long as they write. A second process that
wants the directory is refused while the holder lives; a lock left by a process that no longer
exists (kill -9, a crash, a reboot) is stale and taken over. Liveness is checked with
`os.kill(pid, 0)` on the same host, plus the process's start time so that a reused pid does not look
alive. A lock held on another host cannot be checked and is respected.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

from ..errors import LrtoolError

LOCK_NAME = ".lrtool.lock"


def _proc_start(pid: int) -> str | None:
    """The kernel's start time of `pid` (Linux /proc), None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: count the fields after its last ")"
    fields = stat[stat.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None


def _alive(info: dict[str, Any]) -> bool:
    """Whether the process that wrote a lock `info` still runs (True when it cannot be told)."""
    if info.get("host") != socket.gethostname():
        return True  # another machine's process: no way to look, so never take its run away
    pid = info.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    start = info.get("proc_start")
    now = _proc_start(pid)
    return start is None or now is None or start == now  # a different start time: the pid was reused


def writer_gone(run_dir: str | Path) -> bool:
    """Whether no process writes the run: no lock, or one whose process is gone (as `acquire` judges it)."""
    try:
        info = json.loads((Path(run_dir) / LOCK_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True  # no lock (or one lrtool did not write): nobody holds the run
    return not (isinstance(info, dict) and _alive(info))


class RunLock:
    """The lock of one run directory, held by this process until `release()` (or the `with` block ends)."""

    def __init__(self, run_dir: str | Path, command: str):
        self.path = Path(run_dir) / LOCK_NAME
        self.command = command
        self.held = False

    def acquire(self) -> "RunLock":
        """Take the lock; LrtoolError naming the holder when a live process has it.

        Returns:
            self, holding the lock.
        """
        from . import now_iso

        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                "started": now_iso(), "proc_start": _proc_start(os.getpid())}
        for _ in range(3):  # a stale lock is moved away, then the lock is taken again
            if self._create(json.dumps(info) + "\n"):
                self.held = True
                return self
            held = self._read()
            if held is not None and _alive(held):
                raise LrtoolError(
                    f"{self.path.parent}: another lrtool process is writing this run (pid {held.get('pid')} on "
                    f"{held.get('host')}, {held.get('command')} since {held.get('started')}); wait for it or stop "
                    f"it first (if that process is gone, delete {self.path})")
            self._remove_stale(held)
        raise LrtoolError(f"{self.path}: could not take the run's lock (other processes keep taking it)")

    def release(self) -> None:
        """Give the lock back (a lock this process does not hold is left alone)."""
        if not self.held:
            return
        self.held = False
        held = self._read()
        if held is not None and held.get("pid") == os.getpid() and held.get("host") == socket.gethostname():
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "RunLock":
        return self.acquire() if not self.held else self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _create(self, text: str) -> bool:
        """Create the lock file whole with `text`: False when it exists."""
        # written to a temporary file and linked into place: link never replaces, and a reader never
        # sees a lock file without its content
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f"{LOCK_NAME}.", suffix=".tmp")
        except OSError as e:
            raise LrtoolError(f"{self.path.parent}: cannot write in the run directory ({e.strerror})") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        except OSError as e:
            raise LrtoolError(f"{self.path}: cannot create the run's lock ({e.strerror})") from None
        finally:
            Path(tmp).unlink(missing_ok=True)

    def _read(self) -> dict[str, Any] | None:
        """The lock's content; None when it is gone or unreadable (not written by lrtool: stale)."""
        try:
            info = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) else None

    def _remove_stale(self, seen: dict[str, Any] | None) -> None:
        """Move the stale lock `seen` away, unless another process replaced it meanwhile."""
        aside = self.path.with_name(f"{LOCK_NAME}.stale.{os.getpid()}")
        try:
            os.replace(self.path, aside)
        except FileNotFoundError:
            return  # its owner released it, or another process took it over: try again
        except OSError as e:
            raise LrtoolError(f"{self.path}: cannot remove a stale lock ({e.strerror})") from None
        try:
            moved = json.loads(aside.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            moved = None
        if moved != seen:
            # another process recovered the same stale lock and took the run first: put its lock back
            try:
                os.link(aside, self.path)
            except OSError:
                pass
        aside.unlink(missing_ok=True)

"""The one atomic writer: write to a temporary file beside the target, then rename over it.

A reader (or a run killed mid-write) never sees half a file: it sees the old file or the new one.
Text, bytes, checkpoints (`torch.save`) and figures (`savefig`) all go through `atomic_write`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def atomic_write(path: str | Path, write: Callable[[Path], object], *, fsync: bool = True) -> None:
    """Call `write(tmp)` on a temporary path in the target's directory, then rename it to `path`.

    Args:
        path: the file to create or replace.
        write: writes the whole content to the path it is given (e.g. `lambda p: torch.save(s, p)`).
        fsync: flush the data to disk before the rename (a power cut then keeps the old or the new file).

    The temporary file is removed when `write` (or anything before the rename) raises, even on
    KeyboardInterrupt, so an error never leaves a stray `.name.*.tmp` behind.
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp" + path.suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8) atomically."""
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Replace `path` with `data` atomically."""
    atomic_write(path, lambda p: p.write_bytes(data))

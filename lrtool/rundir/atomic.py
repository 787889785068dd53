"""The one atomic writer: write to a temporary file beside the target, then rename over it.

A reader (or a run killed mid-write) never sees half a file: it sees the old file or the new one.
Text, bytes, checkpoints (`torch.save`) and figures (`savefig`) all go through `atomic_write`.
"""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path
from typing import Callable


def atomic_write(path: str | Path, write: Callable[[Path], object], *, fsync: bool = True) -> None:
    """Call `write(tmp)` on a temporary path in the target's directory, then rename it to `path`.

    Args:
        path: the file to create or replace.
        write: writes the whole content to the path it is given (e.g. `lambda p: torch.save(s, p)`).
        fsync: flush the data to disk before the rename (a power cut then keeps the old or the new file).

    The temporary file `.name.<random>.tmp<suffix>` is removed when anything raises, even a
    KeyboardInterrupt that lands right after the file was created, so an error never leaves it behind.
    It is created with mode 0o666 less the umask, as `open()` creates the CSVs.
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        # the name is chosen before the file exists, so the handler below always knows what to remove
        # (tempfile.mkstemp returns the name only after creating the file: a signal in between leaked it)
        for _ in range(100):
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp{path.suffix}")
            try:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
                break
            except FileExistsError:  # another writer's file: never ours to remove
                tmp = None
        else:
            raise FileExistsError(errno.EEXIST, "no free temporary name", str(path))
        write(tmp)
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except OSError as e:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise _named(e, path) from e
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise


def _named(e: OSError, path: Path) -> OSError:
    """The error `e` naming the target file (not the temporary one, nor none, as a full disk does)."""
    return OSError(e.errno, e.strerror or str(e), str(path))


def overwrite_in_place(path: str | Path, data: bytes) -> bool:
    """Overwrite the existing file `path` with `data` in the disk space it already has (not atomic).

    The fallback when a full disk refuses the temporary file of `atomic_write`: a small file such as
    summary.json still gets its final content. Only done when `data` fits in the blocks the file
    holds, so the write needs no new space and cannot fail half-way for want of it.

    Returns:
        True when written; False when `path` is missing or `data` does not fit.
    """
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError:
        return False
    if len(data) > getattr(st, "st_blocks", 0) * 512:
        return False
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, data)
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def atomic_write_text(path: str | Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8) atomically."""
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Replace `path` with `data` atomically."""
    atomic_write(path, lambda p: p.write_bytes(data))

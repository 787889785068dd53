"""The one CSV writer (`CsvLog`) and the one reader of a run's CSVs (`read_csv_rows`, `read_csv_frame`).

Rows are appended whole, newline included, and flushed as they happen, so a run killed mid-write
leaves at most one torn last line. The reader parses line by line: a torn or malformed line (a
stray quote included) is skipped on its own and counted, never swallowing the rows after it.
"""

from __future__ import annotations

import csv
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

if TYPE_CHECKING:
    import pandas as pd


class CsvLog:
    """A CSV file whose header is fixed at creation; each row is appended and flushed at once."""

    def __init__(self, path: Path, columns: Iterable[str], append: bool = False):
        self.path = Path(path)
        self.columns = list(columns)
        exists = append and self.path.exists() and self.path.stat().st_size > 0
        with _named(self.path):
            self._file = open(self.path, "a" if exists else "x", newline="", encoding="utf-8")
            self._writer = csv.DictWriter(self._file, fieldnames=self.columns, extrasaction="raise")
            if not exists:
                self._writer.writeheader()
                self._file.flush()

    def write(self, row: dict[str, Any], flush: bool = True) -> None:
        """Append one row (missing columns stay empty); flushed unless `flush` is False."""
        with _named(self.path):
            self._writer.writerow({k: _fmt(v) for k, v in row.items()})
            if flush:
                self._file.flush()

    def flush(self) -> None:
        """Push the rows written so far to the file (OSError naming the file when it cannot)."""
        with _named(self.path):
            self._file.flush()

    def close(self) -> None:
        """Close the file (again is harmless)."""
        if not self._file.closed:
            with _named(self.path):
                self._file.close()

    def abandon(self) -> None:
        """Close without raising, dropping what could not be written, and cut a torn last row.

        For a run that is going down (a full disk, a crash): the file then ends with whole rows only,
        so a later --resume appends cleanly.
        """
        try:
            self._file.close()  # the file is closed even when its last flush fails
        except OSError:
            pass
        try:
            with open(self.path, "r+b") as f:
                end = pos = f.seek(0, 2)
                while pos > 0:  # back to just after the last newline
                    step = min(pos, 4096)
                    f.seek(pos - step)
                    cut = f.read(step).rfind(b"\n")
                    if cut >= 0:
                        pos = pos - step + cut + 1
                        break
                    pos -= step
                if pos < end:
                    f.truncate(pos)  # truncating frees space: it works on a full disk too
        except OSError:
            pass

    def __enter__(self) -> "CsvLog":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:  # going down already: a second error while closing must not hide the first
            self.abandon()


class NoLog(CsvLog):
    """The CSV log of a rank that does not write (torchrun ranks > 0)."""

    def __init__(self) -> None:
        pass

    def write(self, row: dict[str, Any], flush: bool = True) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def abandon(self) -> None:
        pass


@contextmanager
def _named(path: Path) -> Iterator[None]:
    """Re-raise an OSError that names no file (a full disk on flush) with the log's path."""
    try:
        yield
    except OSError as e:
        if e.filename is None:
            raise OSError(e.errno, e.strerror or str(e), str(path)) from e
        raise


def _fmt(v: Any) -> Any:
    """A cell as written: None empty, floats by repr (it round-trips exactly)."""
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return v


@dataclass
class CsvRows:
    """What `read_csv_rows` found: the header, the good rows (as text cells) and what was skipped."""

    header: list[str]
    rows: list[dict[str, str]]
    lines: list[str]  # the header line and each kept row's line, as in the file (for rewriting)
    torn: bool = False  # the last line had no newline: cut off mid-write
    malformed: int = 0  # lines whose cells did not parse or did not match the header
    notes: list[str] = field(default_factory=list)  # the above, said for the user

    @property
    def skipped(self) -> int:
        """How many lines were left out."""
        return self.malformed + int(self.torn)


def read_csv_rows(path: str | Path) -> CsvRows | None:
    """Read a run's CSV, skipping a torn last line and malformed lines, each on its own.

    Args:
        path: the CSV file.

    Returns:
        The CsvRows, or None when the file is missing or empty (not even a header).
    """
    path = Path(path)
    if not path.is_file():
        return None
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    if not lines:
        return None
    out = CsvRows(header=_cells(lines[0]) or [], rows=[], lines=[lines[0]])
    # rows are flushed whole with their newline, so a last line without one was cut mid-write
    if len(lines) > 1 and not lines[-1].endswith(("\n", "\r")):
        lines = lines[:-1]
        out.torn = True
        out.notes.append(f"skipped a truncated last line in {path.name} (killed mid-write?)")
    width = len(out.header)
    for line in lines[1:]:
        cells = _cells(line)
        if cells == []:  # a blank line is nothing, not damage
            continue
        if cells is None or len(cells) != width:
            out.malformed += 1
            continue
        out.rows.append(dict(zip(out.header, cells)))
        out.lines.append(line)
    if out.malformed:
        out.notes.append(f"skipped {out.malformed} malformed line{'s' if out.malformed > 1 else ''} in {path.name}")
    return out


def _cells(line: str) -> list[str] | None:
    """The cells of one line on its own (so an unclosed quote cannot reach the next), None if unparsable."""
    if '"' in line and line.count('"') % 2:
        return None  # an unbalanced quote: csv would read on into the following lines
    try:
        return next(csv.reader([line]), [])
    except csv.Error:
        return None


def read_csv_frame(path: str | Path, notes: list[str] | None = None) -> "pd.DataFrame | None":
    """A run's CSV as a DataFrame of floats (empty cells, "nan" and stray words read as NaN).

    Args:
        path: the CSV file; a missing or empty one gives None.
        notes: where to append what was skipped (and an empty file), for the user.

    Returns:
        The DataFrame, or None.
    """
    import pandas as pd

    read = read_csv_rows(path)
    if notes is not None:
        if read is None and Path(path).is_file():
            notes.append(f"{Path(path).name} is empty (not even a header)")
        elif read is not None:
            notes.extend(read.notes)
    if read is None:
        return None
    df = pd.DataFrame(read.rows, columns=read.header, dtype=str)
    # anything that is not a number (a torn value, a stray word) becomes NaN rather than an error
    df = df.apply(lambda c: pd.to_numeric(c.str.strip().replace("", "nan"), errors="coerce"))
    return df.reset_index(drop=True)

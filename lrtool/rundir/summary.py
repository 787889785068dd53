"""summary.json: its schema, the one helper that writes it and the one that reads it.

train, find-lr, sweep and compare each write a summary.json; they build plain dicts (whose key order
is the file's order), and `summary_json` checks them against `RunSummary` before they are written.
Readers get a validated `RunSummary` from `load_summary`: a part that does not fit the schema is
dropped with a note instead of every reader guarding each key.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from ..errors import LrtoolError, short_repr

Status = Literal["running", "completed", "diverged", "interrupted", "failed"]
STATUSES: tuple[str, ...] = get_args(Status)


def _not_bool(value: Any) -> Any:
    """true/false are not numbers (pydantic would read true as 1.0)."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean")
    return value


# "nan"/"inf" strings (how NaN is stored) read back as floats
Number = Annotated[float | None, BeforeValidator(_not_bool)]


class _Part(BaseModel):
    """A part of the summary; keys added later are kept, not rejected."""

    model_config = ConfigDict(extra="allow")


class Progress(_Part):
    epoch: int | None = None  # epochs finished
    step: int | None = None  # optimizer steps done


class Best(_Part):
    value: Number = None
    epoch: int | None = None
    step: int | None = None


class Stop(_Part):
    reason: str | None = None  # interrupted | non_finite | diverged | end | ...
    step: int | None = None
    message: str | None = None
    signal: str | None = None
    steps_run: int | None = None


class Timings(_Part):
    total_s: Number = None
    s_per_step: Number = None
    sweep_s: Number = None


class Suggestion(_Part):
    lr: Number = None
    step: int | None = None
    loss: Number = None


class Clr(_Part):
    base_lr: Number = None
    max_lr: Number = None


class OneCycle(_Part):
    max_lr: Number = None


class RunSummary(_Part):
    """What train, find-lr, sweep and compare record in summary.json (every key optional)."""

    status: Status | None = None
    command: str | None = None  # train | find-lr | sweep | compare
    config: str | None = None
    import_paths: list[str] | None = None  # train: the config's folder and the cwd, for --resume's imports
    schedule: str | None = None
    started: str | None = None
    ended: str | None = None
    created: str | None = None
    device: str | None = None
    seed: int | None = None
    precision: str | None = None
    versions: dict[str, str] | None = None
    # train
    epochs: int | None = None
    steps_per_epoch: int | None = None
    total_steps: int | None = None
    resumed: int | None = None
    world_size: int | None = None
    global_batch_size: int | None = None
    task: str | None = None  # multiclass | multilabel | regression
    metrics: list[str] | None = None  # the configured metrics' column names (acc, f1, mae, ...)
    monitor: str | None = None  # the column that picked best.pt (compare ranks by it by default)
    progress: Progress | None = None
    best: dict[str, Best] | None = None
    final: dict[str, Number] | None = None
    test: dict[str, Number] | None = None
    stop: Stop | None = None
    error: str | None = None
    exit_code: int | None = None
    timings: Timings | None = None
    # find-lr
    sweep: dict[str, Any] | None = None
    suggestions: dict[str, Suggestion | None] | None = None
    lr: Number = None
    clr: Clr | None = None
    onecycle: OneCycle | None = None
    notes: list[str] | None = None
    shape: str | None = None
    # sweep (runs: [{name, dir (null: never created), status, error}]) and compare (runs: [path], metric, target, files)
    runs: list[Any] | None = None
    metric: str | None = None
    target: str | None = None
    files: list[str] | None = None


def _json_value(v: Any) -> Any:
    """NaN and inf are not JSON: store them as strings so every reader can parse the file."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_value(x) for x in v]
    return v


def summary_json(summary: dict[str, Any]) -> str:
    """The text of summary.json for `summary`, checked against RunSummary (a misfit is a bug: raises).

    Args:
        summary: the producer's dict; its key order is kept.

    Returns:
        Indented JSON with a final newline, NaN and inf as strings.
    """
    value = _json_value(summary)
    RunSummary.model_validate(value)
    return json.dumps(value, indent=2) + "\n"


def parse_summary(raw: Any, notes: list[str] | None = None) -> RunSummary:
    """Validate a loaded summary.json, dropping (with a note) each top-level key that does not fit.

    Args:
        raw: what json.loads gave.
        notes: where to say what was dropped; None raises LrtoolError instead.

    Returns:
        The RunSummary (empty when `raw` is not an object).
    """
    if not isinstance(raw, dict):
        if notes is None:
            raise LrtoolError(f"summary.json: expected a JSON object, got {type(raw).__name__}")
        notes.append("summary.json is not a JSON object; ignored")
        return RunSummary()
    data = dict(raw)
    while True:
        try:
            return RunSummary.model_validate(data)
        except ValidationError as e:
            dropped: set[str] = set()
            for err in e.errors():
                key = str(err["loc"][0]) if err["loc"] else ""
                where = ".".join(str(p) for p in err["loc"])
                if key in dropped:
                    continue  # a second misfit inside a part already dropped
                dropped.add(key)
                msg = err["msg"].removeprefix("Value error, ")
                if notes is None or key not in data:
                    raise LrtoolError(f"summary.json: {where}: {msg}, got {short_repr(err.get('input'))}") from None
                notes.append(f"summary.json: ignored {key} ({where}: {msg})")
                del data[key]


def load_summary(path: str | Path, notes: list[str]) -> RunSummary | None:
    """Read and validate a summary.json; what cannot be read or does not fit becomes a note.

    Args:
        path: the summary.json file.
        notes: where to say what was missing, unreadable or dropped.

    Returns:
        The RunSummary, or None when the file is missing or not JSON.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, OSError):
        notes.append("summary.json unreadable; status and results taken from the CSVs")
        return None
    return parse_summary(raw, notes)


def read_run_summary(run_dir: str | Path, option: str, command: str,
                     files: tuple[str, ...] = ("summary.json",)) -> dict[str, Any]:
    """The summary.json of the `command` run that `option` names; one-line LrtoolError otherwise.

    Args:
        run_dir: the run directory given on the command line.
        option: the option that named it (--resume, --lr-from), for the message.
        command: the command the run must come from (train, find-lr).
        files: the files a usable run must hold.

    Returns:
        The summary as stored (a dict), after it was checked against RunSummary.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or not all((run_dir / f).is_file() for f in files):
        what = f"no {files[0]}" if len(files) == 1 else "expected " + " and ".join(files)
        raise LrtoolError(f"{option} {run_dir}: not a run directory ({what})")
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except OSError as e:
        raise LrtoolError(f"{option} {run_dir}: cannot read summary.json ({e.strerror})") from None
    except ValueError as e:
        raise LrtoolError(f"{option} {run_dir}: summary.json is not valid JSON ({e})") from None
    if not isinstance(summary, dict) or summary.get("command") != command:
        got = summary.get("command", "unknown") if isinstance(summary, dict) else "unknown"
        raise LrtoolError(f"{option} {run_dir}: expected a {command} run, got a '{got}' run")
    try:
        parse_summary(summary)
    except LrtoolError as e:
        raise LrtoolError(f"{option} {run_dir}: {e}") from None
    return summary


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"optimizer": {"lr": 0.1}} -> {"optimizer.lr": 0.1}: a config's dotted keys; lists and empty sections
    stay one value (compare's config diff and the loggers' params use the same names)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out

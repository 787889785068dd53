"""The one argument checker for every component, and its one error wording.

Every message has the form ``<dotted.key>: expected <what>, got <value>`` (plus the valid choices
and the nearest one where there are choices), e.g. ``model.dropout: expected a number >= 0 and < 1,
got 1.5``. Components use it in three steps:

1. `check_kwargs(builder, kwargs, key)`: every argument is one the builder takes;
   `check_required` says which required one is missing.
2. Each builder declares how its values are checked with `@takes(arg=check, ...)`, where a check
   is one of the typed checks below (`number`, `integer`, `flag`, `choice`, ...), bound to its
   limits with functools.partial; `check_values(builder, kwargs, key)` runs them, naming
   ``key.arg``, so a bad value is reported before any data is loaded or model is built.
3. The builder is called with the checked values.

A leaf: it imports nothing from lrtool but errors and registry.
"""

from __future__ import annotations

import inspect
import math
import os
from pathlib import Path
from typing import Any, Callable, Iterable

from .errors import LrtoolError
from .registry import did_you_mean, format_choices

__all__ = ["fail", "kwargs_dict", "check_kwargs", "check_required", "takes", "check_values", "optional",
           "number", "integer", "whole", "flag", "choice", "widths", "folder"]

# A value check: (dotted key, value) -> the checked value, or LrtoolError.
Check = Callable[[str, Any], Any]


def fail(key: str, expected: str, got: Any, hint: str = "") -> LrtoolError:
    """The one-line error '<key>: expected <expected>, got <got!r><hint>'."""
    return LrtoolError(f"{key}: expected {expected}, got {got!r}{hint}")


# --------------------------------------------------------------------------- argument names


def kwargs_dict(kwargs: Any, key: str) -> dict[str, Any]:
    """`kwargs` as a dict (None means no arguments)."""
    if kwargs is None:
        return {}
    if not isinstance(kwargs, dict):
        raise LrtoolError(f"{key}: arguments must be a mapping of name: value, "
                          f"got {type(kwargs).__name__}")
    return kwargs


def _settable(params: Iterable[inspect.Parameter]) -> list[inspect.Parameter]:
    """The parameters a config can set by name."""
    return [p for p in params if p.name != "self"
            and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]


def check_kwargs(fn: Callable[..., Any], kwargs: dict[str, Any], key: str,
                 injected: Iterable[str] = (), *, owner: str = "", hint: str = "",
                 refused: dict[str, str] | None = None) -> None:
    """Raise LrtoolError naming `key.<arg>` when `fn` does not take one of `kwargs`.

    Args:
        fn: the builder (function or class); one taking **kwargs accepts anything.
        kwargs: the arguments from the config.
        key: the dotted config key of the section, e.g. 'model'.
        injected: parameters lrtool passes itself (input_shape, params, ...): a user may not set them.
        owner: what takes the arguments, named in the message ('for cosine').
        hint: added to the unknown-argument message.
        refused: arguments refused whatever the signature, mapped to why.

    Raises:
        LrtoolError: '<key>.<arg>: unknown argument (did you mean ...); valid arguments: ...',
            '<key>.<arg>: set by lrtool itself, ...' or '<key>.<arg>: not accepted: <why>'.
    """
    for arg in kwargs:
        if refused and arg in refused:
            raise LrtoolError(f"{key}.{arg}: not accepted: {refused[arg]}")
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins without a signature: let the call decide
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    injected = set(injected)
    valid = [p.name for p in _settable(params.values()) if p.name not in injected]
    for arg in kwargs:
        if arg in injected:
            raise LrtoolError(f"{key}.{arg}: set by lrtool itself, remove it from the config")
        if arg not in valid:
            raise LrtoolError(
                f"{key}.{arg}: unknown argument{f' for {owner}' if owner else ''}{did_you_mean(str(arg), valid)}; "
                f"valid arguments: {format_choices(valid) or '(none)'}{f' ({hint})' if hint else ''}"
            )


def check_required(fn: Callable[..., Any], kwargs: dict[str, Any], key: str,
                   injected: Iterable[str] = (), *, owner: str = "") -> None:
    """Raise LrtoolError '<key>.<arg>: required by <owner> but not set' for a missing argument."""
    injected = set(injected)
    for p in _settable(inspect.signature(fn).parameters.values()):
        if p.name not in injected and p.name not in kwargs and p.default is inspect.Parameter.empty:
            raise LrtoolError(f"{key}.{p.name}: required by {owner or 'it'} but not set")


# --------------------------------------------------------------------------- argument values


def takes(**checks: Check) -> Callable[[Callable], Callable]:
    """Decorator: declare the check of each keyword argument a builder takes (see check_values)."""

    def deco(builder: Callable) -> Callable:
        builder.value_checks = checks  # type: ignore[attr-defined]
        return builder

    return deco


def check_values(builder: Callable, kwargs: dict[str, Any], key: str) -> dict[str, Any]:
    """`kwargs` with every value passed through the check the builder declares with @takes.

    Args:
        builder: the builder; arguments without a declared check pass unchanged.
        kwargs: the arguments from the config (names already checked by check_kwargs).
        key: the dotted config key of the section; a bad value is reported as `key.<arg>`.

    Returns:
        The checked (and normalised, e.g. str -> Path) arguments.
    """
    declared: dict[str, Check] = getattr(builder, "value_checks", {})
    return {arg: declared[arg](f"{key}.{arg}", value) if arg in declared else value
            for arg, value in kwargs.items()}


def _is_real(value: Any) -> bool:
    """A finite int or float (bool is an int subclass but never a number here)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def optional(check: Check) -> Check:
    """`check`, letting None (the argument's "not set") through unchecked."""
    return lambda key, value: None if value is None else check(key, value)


def number(key: str, value: Any, lo: float | None = None, hi: float | None = None, *,
           lo_open: bool = False, hi_open: bool = False) -> float:
    """A finite real number within [lo, hi] ((lo, ...) with lo_open, (..., hi) with hi_open)."""
    if not _is_real(value):
        raise fail(key, "a number", value)
    below = lo is not None and (value <= lo if lo_open else value < lo)
    above = hi is not None and (value >= hi if hi_open else value > hi)
    if below or above:
        lo_text = "" if lo is None else f"{'>' if lo_open else '>='} {lo:g}"
        hi_text = "" if hi is None else f"{'<' if hi_open else '<='} {hi:g}"
        raise fail(key, f"a number {' and '.join(t for t in (lo_text, hi_text) if t)}", value)
    return float(value)


def integer(key: str, value: Any, lo: int) -> int:
    """An int >= lo (a float such as 2.0 is refused: it is a typo more often than not)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise fail(key, f"an integer >= {lo}", value)
    return value


def whole(key: str, value: Any, lo: int = 0) -> int:
    """A whole number >= lo, where 2.0 counts as 2 (for values computed in YAML or from a ratio)."""
    if not _is_real(value) or value != int(value) or value < lo:
        raise fail(key, f"a whole number >= {lo}", value)
    return int(value)


def flag(key: str, value: Any) -> bool:
    """True or false (YAML's yes/no already arrive as bools: a string here is a mistake)."""
    if not isinstance(value, bool):
        raise fail(key, "true or false", value)
    return value


def choice(key: str, value: Any, choices: Iterable[str], *, ignore_case: bool = False) -> str:
    """One of `choices` (matched case-insensitively with ignore_case, and returned as listed)."""
    choices = tuple(choices)
    found = value if value in choices else None
    if ignore_case and isinstance(value, str):
        found = next((c for c in choices if c.lower() == value.lower()), None)
    if found is None:
        raise fail(key, f"one of ({', '.join(choices)})", value, did_you_mean(str(value), choices))
    return found


def widths(key: str, value: Any, *, allow_empty: bool = False) -> tuple[int, ...]:
    """Layer widths: a positive int, or a list of them (an empty list only with allow_empty)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    ok = isinstance(value, (list, tuple)) and (value or allow_empty) and all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    if not ok:
        raise fail(key, f"a{'' if allow_empty else ' non-empty'} list of positive integers", value)
    return tuple(value)


def folder(key: str, value: Any) -> Path:
    """A folder path (with ~ expanded); whether it exists is for the loader to say."""
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise fail(key, "a folder path", value)
    return Path(value).expanduser()

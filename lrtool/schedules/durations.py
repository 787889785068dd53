"""Durations and positions in a schedule's arguments, and their conversion to the schedule's unit.


Units and durations
-------------------
The schedule's clock counts its ``interval`` units: with ``epoch`` the LR changes only at epoch
boundaries (epoch = step // steps_per_epoch) and equals torch's scheduler stepped once per epoch;
with ``step`` it equals torch's scheduler stepped once per optimizer step.
Every duration or position (step_size, milestones, T_max, T_0, cycle lengths, hold, warmup, ...):

* a plain number is in the schedule's ``interval`` unit, used as given (torch semantics);
* a string states its unit: ``"500 steps"``, ``"2 epochs"``, ``"30%"`` (of the span the schedule
  runs over). It is converted to the schedule's unit and rounded to the nearest whole unit.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..errors import LrtoolError

_DURATION_RE = re.compile(
    r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(steps?|epochs?|%)?\s*$", re.IGNORECASE)
_DURATION_HELP = ("a number (in the schedule's interval unit) or a string like '500 steps', "
                  "'2 epochs', '30%'")


def parse_duration(value: Any, key: str) -> tuple[float, str | None]:
    """(number, unit) of a duration; unit is 'step', 'epoch', '%' or None for a plain number."""
    if isinstance(value, bool) or value is None:
        raise LrtoolError(f"{key}: expected {_DURATION_HELP}, got {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise LrtoolError(f"{key}: expected a non-negative duration, got {value!r}")
        return value, None
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match:
            unit = match.group(2)
            unit = None if unit is None else "%" if unit == "%" else unit.lower().rstrip("s")
            return float(match.group(1)), unit
    raise LrtoolError(f"{key}: expected {_DURATION_HELP}, got {value!r}")


def round_half_up(x: float) -> int:
    """Round half up (Python's round() goes to even, which surprises in configs)."""
    return int(math.floor(x + 0.5))


def to_units(num: float, unit: str | None, target: str, spe: int, whole: float) -> float:
    """Convert a parsed duration into `target` units ('step'|'epoch'); `whole` is what 100% means."""
    if unit is None:
        return num
    if unit == "%":
        return round_half_up(num / 100.0 * whole)
    if unit == target:
        return round_half_up(num)
    return round_half_up(num / spe) if unit == "step" else round_half_up(num * spe)

"""Warmup in front of any schedule: the ``warmup`` setting, its length in steps and the ramp's start.

Warmup (in front of any schedule, plateau included)
---------------------------------------------------
``warmup: {epochs: 1, start_factor: 0.1}``; the length is exactly one of ``steps``, ``epochs`` or
``length`` (a duration, see ``durations``; ``"5%"`` is of the whole run); the start is
``start_factor`` (default 0.01) times the LR the schedule begins with, or an absolute ``start_lr`` (a
number or one per param group). ``warmup: "2 epochs"`` is short for ``{length: "2 epochs"}``;
``warmup: 0`` turns it off. The ramp is linear in optimizer steps whatever the interval
(a staircase would defeat its purpose):
lr = start + (target - start) * step / W, so step W is the first step of the schedule proper.

Warmup is a *prefix*: the schedule's clock starts at 0 when warmup ends, and all of its durations and
positions count from there; "the whole run" (default lengths, ``"%"``) means the part after warmup.
So cosine still starts at its peak and still ends at its floor at the end of training, and milestones
``[25, 55]`` behind a 5-epoch warmup fire at epochs 30 and 60. With ``interval: epoch`` the clock
stays on real epoch boundaries: the epoch in which warmup ends is the schedule's epoch 0. A plateau
schedule ignores metrics of epochs that ended inside the warmup.
"""

from __future__ import annotations

import math
from typing import Any

from .. import checks
from ..errors import LrtoolError
from ..registry import did_you_mean
from .durations import parse_duration, round_half_up
from .plan import Plan

WARMUP_LENGTH_KEYS = ("steps", "epochs", "length")
WARMUP_KEYS = (*WARMUP_LENGTH_KEYS, "start_factor", "start_lr")
DEFAULT_WARMUP_START = 0.01


def normalize_warmup(raw: Any, key: str) -> dict[str, Any] | None:
    """Check the warmup section; None when there is no warmup."""
    if raw is None or raw is False or (not isinstance(raw, bool) and raw == 0):
        return None
    if isinstance(raw, (int, float, str)) and not isinstance(raw, bool):
        raw = {"length": raw}
    if not isinstance(raw, dict):
        raise LrtoolError(f"{key}: expected a mapping like {{epochs: 1, start_factor: 0.1}} or a "
                          f"duration, got {raw!r}")
    for k in raw:
        if k not in WARMUP_KEYS:
            raise LrtoolError(f"{key}.{k}: unknown warmup setting{did_you_mean(str(k), WARMUP_KEYS)}; "
                              f"valid: {', '.join(WARMUP_KEYS)}")
    lengths = [k for k in WARMUP_LENGTH_KEYS if k in raw]
    if len(lengths) != 1:
        raise LrtoolError(f"{key}: give exactly one of steps, epochs, length; got "
                          f"{', '.join(lengths) or 'none'}")
    which = lengths[0]
    num, unit = parse_duration(raw[which], f"{key}.{which}")
    if which != "length" and unit is not None:
        raise LrtoolError(f"{key}.{which}: expected a number, got {raw[which]!r} "
                          f"(use length: for a duration with a unit)")
    if which == "steps" and num != int(num):
        raise LrtoolError(f"{key}.steps: expected a whole number, got {raw[which]!r}")
    if "start_factor" in raw and "start_lr" in raw:
        raise LrtoolError(f"{key}: set start_factor or start_lr, not both")
    out = {which: raw[which]}
    if "start_lr" in raw:
        values = raw["start_lr"] if isinstance(raw["start_lr"], (list, tuple)) else [raw["start_lr"]]
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise LrtoolError(f"{key}.start_lr: expected a number >= 0 (or one per param group), "
                                  f"got {raw['start_lr']!r}")
        out["start_lr"] = raw["start_lr"]
    else:
        f = raw.get("start_factor", DEFAULT_WARMUP_START)
        checks.number(f"{key}.start_factor", f, 0, 1)
        out["start_factor"] = f
    return None if num == 0 else out


def _length(warmup: dict[str, Any], interval: str, plan: Plan, key: str) -> int:
    """The warmup length in optimizer steps (a plain number is in the schedule's interval unit)."""
    which = next(k for k in WARMUP_LENGTH_KEYS if k in warmup)
    num, unit = parse_duration(warmup[which], f"{key}.{which}")
    if which == "steps":
        unit = "step"
    elif which == "epochs":
        unit = "epoch"
    elif unit is None:
        unit = interval
    if unit == "%":
        return round_half_up(num / 100.0 * plan.total_steps)
    return round_half_up(num * plan.steps_per_epoch) if unit == "epoch" else round_half_up(num)


def warmup_ramp(raw: Any, interval: str, plan: Plan, groups: int, key: str
                ) -> tuple[int, tuple[str, Any] | None]:
    """The warmup in front of a schedule, checked against the run.

    Args:
        raw: the spec's ``warmup`` setting (None for none).
        interval: the schedule's unit, which a plain-number length is in.
        plan: the run.
        groups: how many param groups the optimizer has.
        key: the dotted key of the ``warmup`` setting, for messages.

    Returns:
        (warmup steps, ramp start): the start is ("factor", f) or ("lr", one LR per group); (0, None)
        without warmup.
    """
    warmup = normalize_warmup(raw, key)
    if warmup is None:
        return 0, None
    steps = _length(warmup, interval, plan, key)
    if steps >= plan.total_steps:
        raise LrtoolError(f"{key}: {steps} warmup steps leave no training for the "
                          f"schedule (the run has {plan.total_steps} steps)")
    if "start_lr" not in warmup:
        return steps, ("factor", float(warmup["start_factor"]))
    start = warmup["start_lr"]
    start = list(start) if isinstance(start, (list, tuple)) else [start] * groups
    if len(start) != groups:
        raise LrtoolError(f"{key}.start_lr: expected a number or {groups} (one per param "
                          f"group), got {len(start)}")
    return steps, ("lr", [float(s) for s in start])

"""Build: a ScheduleSpec and the run's plan -> a Schedule, every impossible plan failing before training."""

from __future__ import annotations

import math
from typing import Any

from ..errors import LrtoolError
from .context import SCHEDULES, Ctx, Kind, check_arguments, check_required
from .plan import Plan, Schedule, ScheduleSpec
from .section import resolve_interval
from .warmup import warmup_ramp


def _check_floats(values: Any, what: str, expected: int | None = None) -> list[float]:
    """A non-empty list of finite numbers >= 0 (programming input, not config)."""
    if not isinstance(values, (list, tuple)) or not values:
        raise LrtoolError(f"{what}: expected a non-empty list of numbers, got {values!r}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise LrtoolError(f"{what}: expected numbers >= 0, got {values!r}")
        out.append(float(v))
    if expected is not None and len(out) != expected:
        raise LrtoolError(f"{what}: expected {expected} values (one per param group), got {len(out)}")
    return out


def build_schedule(spec: ScheduleSpec, base_lrs: list[float], plan: Plan,
                   base_momenta: list[float] | None = None, key: str = "schedule") -> Schedule:
    """Build the schedule for a run, checking before training that the plan is possible.

    Args:
        spec: from resolve_schedule (or built by hand).
        base_lrs: the optimizer's configured lr per param group.
        plan: steps per epoch (optimizer steps) and epochs.
        base_momenta: the optimizer's momentum (SGD) or beta1 (Adam) per group; None when it has
            neither (then short names do not cycle momentum and torch names must turn it off).
        key: the section's dotted key, for messages about arguments the spec has no key for.

    Returns:
        A Schedule.

    Raises:
        LrtoolError: one line naming the key, e.g. a one-cycle total shorter than the run, a
        milestone beyond the last epoch, warmup as long as training, cyclic base_lr >= max_lr.
    """
    if not isinstance(plan, Plan):
        raise TypeError(f"plan must be a Plan, got {type(plan).__name__}")
    base = _check_floats(base_lrs, "optimizer.lr")
    momenta = None if base_momenta is None else \
        _check_floats(base_momenta, "optimizer momentum", expected=len(base))
    kind: Kind = SCHEDULES.get(spec.name, key=f"{key}.name")
    canonical = SCHEDULES.canonical(spec.name) or spec.name
    keys = dict(spec.keys)
    interval = resolve_interval(spec.interval, kind, canonical, keys.get("interval", f"{key}.interval"))
    check_arguments(canonical, spec.kwargs, key)  # specs built by hand skip resolve_schedule
    check_required(canonical, spec.kwargs, key)
    warmup_steps, warmup_start = warmup_ramp(spec.warmup, interval, plan, len(base),
                                             keys.get("warmup", f"{key}.warmup"))
    if interval == "step":
        span = plan.total_steps - warmup_steps
    else:
        span = plan.epochs - warmup_steps // plan.steps_per_epoch

    ctx = Ctx(name=canonical, base_lrs=base, base_momenta=momenta, plan=plan, unit=interval,
              span=span, after_warmup=warmup_steps > 0, key=key, keys=keys)
    curve = kind.fn(ctx, **spec.kwargs)
    return Schedule(canonical, interval, plan, curve, warmup_steps, warmup_start)

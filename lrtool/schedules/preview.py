"""The rows `lrtool preview` shows and writes: every optimizer step's LR (and momentum), no training."""

from __future__ import annotations

from typing import Any

from .build import build_schedule
from .plan import Plan, ScheduleSpec


def preview(spec: ScheduleSpec, base_lrs: list[float], plan: Plan,
            base_momenta: list[float] | None = None, key: str = "schedule") -> list[dict[str, Any]]:
    """The LR (and momentum) of every optimizer step of the run, without training.

    Args:
        spec, base_lrs, plan, base_momenta, key: as for build_schedule.

    Returns:
        One row per optimizer step: {"step", "epoch", "lr" (group 0), "lr/pg<i>" for every group
        when there are several, "momentum" (group 0) when momentum cycles}. Plateau schedules show
        the curve without reductions, since no metric is known yet.
    """
    schedule = build_schedule(spec, base_lrs, plan, base_momenta, key=key)
    rows = []
    for step in range(plan.total_steps):
        lrs = schedule.lr(step)
        row: dict[str, Any] = {"step": step, "epoch": step // plan.steps_per_epoch, "lr": lrs[0]}
        if len(lrs) > 1:
            row.update({f"lr/pg{i}": v for i, v in enumerate(lrs)})
        momentum = schedule.momentum(step)
        if momentum is not None:
            row["momentum"] = momentum[0]
        rows.append(row)
    return rows

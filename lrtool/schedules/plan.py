"""The data a schedule is made of: the run's Plan, the resolved ScheduleSpec, a builder's Curve, and
the built Schedule (LR and momentum as pure functions of the optimizer step)."""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from ..errors import LrtoolError


@dataclass(frozen=True)
class Plan:
    """How long the run is, in optimizer steps (not micro-batches)."""

    steps_per_epoch: int
    epochs: int

    def __post_init__(self) -> None:
        for name in ("steps_per_epoch", "epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise LrtoolError(f"{name}: expected a positive whole number, got {value!r}")

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.epochs


@dataclass
class ScheduleSpec:
    """The resolved choice: which schedule, its arguments, its interval and warmup."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    interval: str | None = None  # None: the schedule's natural unit
    warmup: dict[str, Any] | None = None
    # argument -> dotted config key it came from, so build errors name the right line
    keys: dict[str, str] = field(default_factory=dict)


class MetricHistory(Protocol):
    """What a Schedule needs of a metric-driven curve (plateau.Plateau), so this module need not import it."""

    history: list[list[float]]  # [clock epoch, metric]
    changed_at: list[int]  # clock epochs whose metric changed the LR

    def observe(self, u: int, metric: float) -> None: ...

    def reset(self) -> None: ...


@dataclass
class Curve:
    """What a builder returns: LR (and momentum) per group as functions of the schedule's clock."""

    lr: Callable[[int], list[float]]
    momentum: Callable[[int], list[float]] | None = None
    marks: list[tuple[float, str]] = field(default_factory=list)  # (clock position, label)
    plateau: MetricHistory | None = None
    monitor: str | None = None


class Schedule:
    """A built schedule: LR and momentum of every param group as pure functions of the step.

    Attributes:
        name: the canonical schedule name.
        interval: 'epoch' or 'step' — the unit of the schedule's clock.
        needs_metric: True for plateau schedules; call observe() at the end of every epoch.
        monitor: the metric observe() expects (val_loss, val_acc, ...) or None.
        warmup_steps: optimizer steps of warmup in front of the schedule (0 for none).
    """

    def __init__(self, name: str, interval: str, plan: Plan, curve: Curve, warmup_steps: int,
                 warmup_start: tuple[str, Any] | None):
        self.name = name
        self.interval = interval
        self.plan = plan
        self.needs_metric = curve.plateau is not None
        self.monitor = curve.monitor
        self.warmup_steps = warmup_steps
        self._curve = curve
        self._warmup_start = warmup_start
        # with interval epoch the clock stays on real epoch boundaries: the epoch in which warmup
        # ends is the schedule's epoch 0
        self._epoch_offset = warmup_steps // plan.steps_per_epoch

    def _clock(self, step: int) -> int:
        """The schedule's clock (its own steps or epochs since warmup ended) at optimizer step `step`."""
        if self.interval == "step":
            return step - self.warmup_steps
        return step // self.plan.steps_per_epoch - self._epoch_offset

    @staticmethod
    def _check_step(step: Any) -> int:
        """An optimizer step index: a whole number >= 0."""
        step = operator.index(step)
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        return step

    def lr(self, step: int) -> list[float]:
        """The LR of every param group for optimizer step `step` (0-based, global).

        Args:
            step: the optimizer step about to be taken.

        Returns:
            One learning rate per param group.
        """
        step = self._check_step(step)
        if step < self.warmup_steps:
            target = self._curve.lr(0)
            kind, value = self._warmup_start
            start = [value * t for t in target] if kind == "factor" else value
            frac = step / self.warmup_steps
            return [s + (t - s) * frac for s, t in zip(start, target)]
        return self._curve.lr(self._clock(step))

    def momentum(self, step: int) -> list[float] | None:
        """The cycled momentum (SGD momentum or Adam beta1) per group for `step`, or None.

        Args:
            step: the optimizer step about to be taken.

        Returns:
            One momentum per param group, or None when the schedule does not cycle momentum.
        """
        step = self._check_step(step)
        if self._curve.momentum is None:
            return None
        # during warmup momentum holds the value the schedule starts with
        return self._curve.momentum(self._clock(step) if step >= self.warmup_steps else 0)

    def observe(self, epoch: int, metric: float) -> None:
        """Record the monitored metric at the end of epoch `epoch` (0-based); no-op unless needs_metric.

        Epochs that ended inside the warmup are ignored; observing an epoch again (a re-run after
        resume) replaces it and everything after it.

        Args:
            epoch: the epoch that just ended.
            metric: the value of `monitor` for it.
        """
        if self._curve.plateau is None:
            return
        u = operator.index(epoch) - self._epoch_offset
        if u >= 0:
            self._curve.plateau.observe(u, float(metric))

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state: the metric history for plateau, nothing else for the rest.

        Returns:
            {"name": ..., "history": [[epoch, metric], ...], "reduced_after": [epoch, ...]} for
            plateau; {"name": ...} otherwise.
        """
        state: dict[str, Any] = {"name": self.name}
        plateau = self._curve.plateau
        if plateau is not None:
            state["history"] = [[int(u) + self._epoch_offset, m] for u, m in plateau.history]
            state["reduced_after"] = [u + self._epoch_offset for u in plateau.changed_at]
        return state

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore the state saved by state_dict(): plateau replays the metric history.

        Args:
            d: a dict from state_dict().

        Raises:
            LrtoolError: when a plateau schedule gets a state without a metric history.
        """
        plateau = self._curve.plateau
        if plateau is None:
            return
        history = d.get("history") if isinstance(d, dict) else None
        if not isinstance(history, list):
            raise LrtoolError(f"schedule state: expected a metric history for {self.name}, got {d!r}")
        plateau.reset()
        for epoch, metric in history:
            self.observe(int(epoch), float(metric))

    def boundaries(self) -> list[tuple[int, str]]:
        """Steps where phases begin or restarts happen, with a label, for plots.

        Returns:
            Sorted (step, label) pairs inside the run: warmup end, decays, peaks, restarts, ...
        """
        out = [(self.warmup_steps, "warmup end")] if self.warmup_steps else []
        spe = self.plan.steps_per_epoch
        for position, label in self._curve.marks:
            u = math.ceil(position)  # the first clock value at or after the mark
            if self.interval == "step":
                step = self.warmup_steps + u
            else:
                step = max(self.warmup_steps, (u + self._epoch_offset) * spe)
            if 0 <= step < self.plan.total_steps:
                out.append((step, label))
        return sorted(out)

"""ReduceLROnPlateau: the one schedule with state, the metric history (kept in state_dict)."""

from __future__ import annotations

import bisect
import math
from typing import Any

from ..rundir import columns as C
from .context import Ctx
from .plan import Curve

# the epochs.csv metrics a plateau schedule can follow (the trainer feeds it the epoch's row)
MONITORS = (C.VAL_LOSS, C.VAL_ACC, C.TRAIN_LOSS, C.TRAIN_ACC)


class Plateau:
    """ReduceLROnPlateau's rules over a metric history; lr(u) depends only on metrics before u."""

    def __init__(self, base_lrs: list[float], mode: str, factor: float, patience: int,
                 threshold: float, threshold_mode: str, cooldown: int, min_lrs: list[float],
                 eps: float):
        self.base_lrs = list(base_lrs)
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.min_lrs, self.eps = cooldown, min_lrs, eps
        self.reset()

    def reset(self) -> None:
        """Forget every metric."""
        self.history: list[list[float]] = []  # [clock epoch, metric]
        self.best = math.inf if self.mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.lrs = list(self.base_lrs)
        self.changed_at: list[int] = []  # clock epochs whose metric lowered the LR...
        self.changed_to: list[list[float]] = []  # ...and the LRs from the next epoch on

    def _better(self, a: float) -> bool:
        """torch's improvement test, threshold included."""
        if self.mode == "min":
            edge = self.best * (1.0 - self.threshold) if self.threshold_mode == "rel" \
                else self.best - self.threshold
            return a < edge
        edge = self.best * (self.threshold + 1.0) if self.threshold_mode == "rel" \
            else self.best + self.threshold
        return a > edge

    def observe(self, u: int, metric: float) -> None:
        """Metric at the end of clock epoch u; an epoch seen before is replaced (re-run after resume)."""
        if self.history and u <= self.history[-1][0]:
            kept = [h for h in self.history if h[0] < u]
            self.reset()
            for e, m in kept:
                self._step(int(e), m)
        self._step(u, float(metric))

    def _step(self, u: int, current: float) -> None:
        """One ReduceLROnPlateau.step(), in torch's order."""
        self.history.append([u, current])
        if self._better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            new = list(self.lrs)
            for i, old in enumerate(self.lrs):
                candidate = max(old * self.factor, self.min_lrs[i])
                if old - candidate > self.eps:
                    new[i] = candidate
            if new != self.lrs:
                self.lrs = new
                self.changed_at.append(u)
                self.changed_to.append(list(new))
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    def lr(self, u: int) -> list[float]:
        """LRs during clock epoch u: reductions decided at the end of earlier epochs."""
        i = bisect.bisect_left(self.changed_at, u)
        return list(self.changed_to[i - 1]) if i else list(self.base_lrs)


def plateau(ctx: Ctx, monitor: str, mode: str, factor: Any, patience: Any, threshold: Any,
            threshold_mode: Any, cooldown: Any, min_lr: Any, eps: Any) -> Curve:
    """Validate torch's ReduceLROnPlateau arguments and wrap a Plateau."""
    state = Plateau(
        ctx.base_lrs, mode=ctx.choice("mode", mode, ("min", "max")),
        factor=ctx.number("factor", factor, lo=0, hi=1),
        patience=ctx.whole("patience", patience), threshold=ctx.number("threshold", threshold, lo=0),
        threshold_mode=ctx.choice("threshold_mode", threshold_mode, ("rel", "abs")),
        cooldown=ctx.whole("cooldown", cooldown), min_lrs=ctx.per_group("min_lr", min_lr, lo=0),
        eps=ctx.number("eps", eps, lo=0))
    if state.factor >= 1.0:
        raise ctx.fail("factor", f"expected a factor below 1 (the LR is multiplied by it), "
                                 f"got {factor!r}")
    return Curve(state.lr, plateau=state, monitor=monitor)

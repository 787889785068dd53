"""lrtool's schedules as a real ``torch.optim.lr_scheduler.LRScheduler``, for your own training loop.

The LR is ``Schedule.lr(last_epoch)``: a closed form of the number of optimizer steps taken, so the
scheduler equals ``lrtool preview`` step for step and a state_dict round trip resumes exactly.
``step()`` is called once per optimizer step (torch's "interval step" convention); ``last_epoch``
therefore counts optimizer steps, as it does for torch's OneCycleLR and CyclicLR.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from ..errors import LrtoolError
from ..optim import set_lr_and_momentum
from ..schedules import Plan, Schedule, ScheduleSpec, build_schedule
from .plan import base_momenta


class LrtoolScheduler(LRScheduler):
    """An lrtool schedule driving an optimizer: LR (and momentum, when the schedule cycles it) per step.

    Call ``step()`` after every ``optimizer.step()``. Plateau schedules also take the metric they
    monitor, once per epoch: ``step(metric)`` instead of ``step()`` at the epoch's last step, or
    ``observe(metric)`` after that step, wherever validation runs.

    Attributes:
        schedule: the lrtool Schedule (``.lr(step)``, ``.momentum(step)``, ``.boundaries()``).
        plan: steps per epoch (optimizer steps) and epochs.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, spec: ScheduleSpec, plan: Plan, last_epoch: int = -1):
        self.spec = spec
        self.plan = plan
        # torch's own convention: the base LR is the group's initial_lr, which survives an optimizer
        # state_dict round trip (the group's lr is whatever the schedule last set)
        lrs = [float(g.get("initial_lr", g["lr"])) for g in optimizer.param_groups]
        self.base_momenta = base_momenta(optimizer)
        self.schedule: Schedule = build_schedule(spec, lrs, plan, self.base_momenta)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """The LR of every group for optimizer step `last_epoch` (the next one to be taken).

        Past the plan's steps (epochs x steps_per_epoch) the LR stays at the last step's: a loop that
        steps once too often gets no second one-cycle or restart (torch's OneCycleLR raises there).
        """
        return self.schedule.lr(self._planned(self.last_epoch))

    def _planned(self, step: int) -> int:
        """`step`, held at the plan's last step."""
        return min(step, max(0, self.plan.total_steps - 1))

    def step(self, metric: float | None = None) -> None:  # type: ignore[override]
        """Advance one optimizer step; ``step(metric)`` also observes the metric (see ``observe``).

        Args:
            metric: for plateau schedules, at the step that ends an epoch: the value of
                ``schedule.monitor`` for that epoch. None otherwise.

        Raises:
            LrtoolError: a metric given to a schedule that does not monitor one.
        """
        if metric is not None and not self.schedule.needs_metric:
            self.observe(metric)  # raises, before anything moves
        super().step()
        self._set_momentum()
        if metric is not None:
            self.observe(metric)

    def observe(self, metric: float) -> None:
        """Record the monitored metric of the epoch the last optimizer step belongs to (plateau schedules).

        The LR it implies applies from the next optimizer step on and is written into the optimizer
        at once, so it can be called after ``step()``, wherever validation runs (e.g. Lightning's
        ``on_validation_epoch_end``). Observing an epoch again replaces its metric; a metric observed
        before the first optimizer step (Lightning's sanity-check validation) is ignored.

        Args:
            metric: the value of ``schedule.monitor`` (a number or a one-element tensor).

        Raises:
            LrtoolError: the schedule does not monitor a metric.
        """
        if not self.schedule.needs_metric:
            raise LrtoolError(f"scheduler: {self.schedule.name} does not monitor a metric; call step() "
                              "without one (only plateau schedules take a metric)")
        if self.last_epoch < 1:  # no epoch has trained yet: nothing to judge
            return
        if isinstance(metric, torch.Tensor):
            metric = metric.item()
        self.schedule.observe((self.last_epoch - 1) // self.plan.steps_per_epoch, float(metric))
        self._apply()

    def _set_momentum(self) -> None:
        """Write the schedule's momentum (or beta1) for the next step, when it cycles one."""
        momenta = self.schedule.momentum(self._planned(self.last_epoch))
        if momenta is not None:
            set_lr_and_momentum(self.optimizer, [g["lr"] for g in self.optimizer.param_groups], momenta)

    def state_dict(self) -> dict[str, Any]:
        """torch's state (last_epoch, base_lrs, ...) plus the schedule's own (a plateau's metric history).

        Returns:
            Plain numbers, strings, lists and dicts only, so ``torch.load(weights_only=True)`` (as
            Lightning and the Hugging Face Trainer load checkpoints) reads it back.
        """
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "schedule", "spec", "plan")}
        state["schedule_state"] = self.schedule.state_dict()
        state["plan"] = [self.plan.steps_per_epoch, self.plan.epochs]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Resume: the next step() continues exactly where the saved scheduler was.

        The LR and momentum of step `last_epoch` are written into the optimizer at once, so the
        order of loading the optimizer's and the scheduler's state does not matter.

        Args:
            state_dict: from state_dict().

        Raises:
            LrtoolError: when the saved scheduler ran another schedule or plan.
        """
        state = dict(state_dict)
        saved = state.pop("schedule_state", {})
        plan = state.pop("plan", None)
        name = saved.get("name") if isinstance(saved, dict) else None
        ours = [self.plan.steps_per_epoch, self.plan.epochs]
        if name != self.schedule.name or list(plan or []) != ours:
            raise LrtoolError(f"scheduler.load_state_dict: the state is of schedule {name} over "
                              f"(steps_per_epoch, epochs) {plan}, this scheduler runs {self.schedule.name} "
                              f"over {ours}")
        self.__dict__.update(state)
        self.schedule = build_schedule(self.spec, [float(b) for b in self.base_lrs], self.plan, self.base_momenta)
        self.schedule.load_state_dict(saved)
        self._apply()

    def _apply(self) -> None:
        """Write the LR and momentum of step `last_epoch` into the optimizer (after a change of state)."""
        set_lr_and_momentum(self.optimizer, self.get_lr())
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
        self._set_momentum()

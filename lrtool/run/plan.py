"""The run's plan, worked out in one place for train, preview and find-lr alike.

Steps per epoch, total steps, batch sizes and each param group's base LR and momentum all come from
`make_plan`, so `lrtool preview` shows exactly the curve `lrtool train` follows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..schedules import Plan, Schedule


def steps_per_epoch(num_batches: int, accumulate: int) -> int:
    """Optimizer steps in an epoch of `num_batches` micro-batches (a short last group still steps)."""
    return max(1, math.ceil(num_batches / accumulate))


def eval_batch_size(batch_size: int, configured: int | None = None) -> int:
    """The validation/test batch size: data.eval_batch_size when set, else 4 x the training batch size
    (evaluation keeps no activations for a backward pass, so larger batches fit)."""
    return configured or batch_size * 4


def base_momenta(optimizer: Any) -> list[float] | None:
    """Each group's momentum (SGD) or beta1 (Adam family), or None when there is none to cycle."""
    from ..optim import momentum_key

    which = momentum_key(optimizer)
    if which is None:
        return None
    return [float(g["betas"][0]) if which == "betas" else float(g["momentum"]) for g in optimizer.param_groups]


@dataclass(frozen=True)
class RunPlan:
    """What a run will do, before it does it."""

    epochs: int
    steps_per_epoch: int  # optimizer steps
    batches_per_epoch: int  # micro-batches of batch_size (per rank under torchrun)
    batch_size: int  # per rank
    eval_batch_size: int
    accumulate: int  # micro-batches per optimizer step
    world_size: int  # processes under torchrun, else 1
    base_lrs: list[float]  # per param group
    momenta: list[float] | None  # per param group; None when the optimizer has no momentum

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    @property
    def global_batch_size(self) -> int:
        return self.batch_size * self.world_size

    @property
    def schedule_plan(self) -> Plan:
        """The (steps per epoch, epochs) a schedule is built against."""
        return Plan(self.steps_per_epoch, self.epochs)


def make_plan(cfg: Any, train: Any, *, optimizer: Any = None, shard: tuple[int, int] | None = None) -> RunPlan:
    """Plan a run of `cfg` over the training split `train`.

    Args:
        cfg: the validated config.
        train: the training split (what data.build_data returns as `.train`); its `num_batches`
            counts the batches exactly as its `batches` makes them.
        optimizer: the built optimizer, whose param groups give the base LRs and momenta; None
            (preview, no model) takes them from the config as build_optimizer sets them.
        shard: (rank, world size) under torchrun, else None: batch_size is per rank, so a step
            takes batch_size x world size samples.

    Returns:
        The RunPlan.
    """
    batches = train.num_batches(cfg.data.batch_size, shard=shard)
    if optimizer is not None:
        base_lrs = [float(g["lr"]) for g in optimizer.param_groups]
        momenta = base_momenta(optimizer)
    else:
        from ..optim import config_lrs_and_momenta

        base_lrs, momenta = config_lrs_and_momenta(cfg.optimizer.name, cfg.optimizer.kwargs)
    return RunPlan(epochs=cfg.train.epochs, steps_per_epoch=steps_per_epoch(batches, cfg.train.accumulate),
                   batches_per_epoch=batches, batch_size=cfg.data.batch_size,
                   eval_batch_size=eval_batch_size(cfg.data.batch_size, cfg.data.eval_batch_size),
                   accumulate=cfg.train.accumulate, world_size=shard[1] if shard else 1,
                   base_lrs=base_lrs, momenta=momenta)


def build_run_schedule(cfg: Any, plan: RunPlan) -> Schedule:
    """The config's schedule section built against `plan` (errors before any training).

    Args:
        cfg: the validated config.
        plan: from make_plan.

    Returns:
        The Schedule that gives each step's LR and momentum.
    """
    from ..schedules import build_schedule, resolve_schedule

    spec = resolve_schedule(cfg.schedule.model_dump())
    return build_schedule(spec, plan.base_lrs, plan.schedule_plan, plan.momenta)


def make_schedule(setup: Any) -> tuple[Schedule, RunPlan]:
    """Plan a built run and build its schedule against its optimizer and data.

    Args:
        setup: what build.build() made.

    Returns:
        (schedule, plan).
    """
    from . import dist

    plan = make_plan(setup.cfg, setup.data.train, optimizer=setup.optimizer, **dist.sharded())
    return build_run_schedule(setup.cfg, plan), plan

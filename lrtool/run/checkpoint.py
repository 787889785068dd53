"""Checkpoints of a train run: everything needed to continue exactly, written so a kill never tears one."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import LrtoolError
from ..rundir import RunDir, atomic_write, atomic_write_text, read_csv_rows
from ..rundir.columns import EPOCH, EPOCHS_CSV, STEP, STEPS_CSV
from ..schedules import Schedule
from . import dist, engine


@dataclass
class Progress:
    """Counters and running metrics, saved in every checkpoint."""

    epoch: int = 0  # epochs finished
    step: int = 0  # optimizer steps done
    epoch_steps: int = 0  # optimizer steps done in the current epoch
    elapsed: float = 0.0  # seconds of training before this process (resume)
    epoch_gen_state: Any = None  # the data-order generator at the start of the current epoch
    sums: dict[str, Any] = field(default_factory=dict)  # device tensors: loss sum, correct, count
    best: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(setup: Any, schedule: Schedule, progress: Progress, paths: list[Any]) -> None:
    """Everything needed to continue exactly: weights, optimizer, scaler, schedule, RNGs, counters.

    Under torchrun every rank calls it (it gathers each rank's RNG states and running sums); rank 0
    writes the plain module's weights, which load on any number of ranks. The state is serialised
    once; further paths (best.pt) get a copy of the file.

    Args:
        setup: what build.build() made.
        schedule: the run's schedule (its state: a plateau schedule's reductions).
        progress: the counters to save.
        paths: where to write; the first is serialised, the others are copies.
    """
    rngs = dist.gather_objects(engine.rng_state())
    counters = dict(progress.__dict__)
    counters["sums"] = dist.all_reduce_sums(progress.sums)  # all ranks' part of the epoch, kept by rank 0
    if not dist.is_main():
        return
    state = {
        "model": setup.model.state_dict(),
        "optimizer": setup.optimizer.state_dict(),
        "scaler": setup.precision.scaler.state_dict(),
        "schedule": schedule.state_dict(),
        "rng": engine.rng_state(),
        "generator": setup.generator.get_state(),
        "progress": counters,
        "steps_per_epoch": schedule.plan.steps_per_epoch,
        "world_size": dist.world_size(),
    }
    if rngs is not None:
        state["rng_ranks"] = rngs
    # a kill never leaves half a checkpoint
    atomic_write(paths[0], lambda tmp: torch.save(state, tmp))
    for path in paths[1:]:
        atomic_write(path, lambda tmp: shutil.copyfile(paths[0], tmp))


def load_checkpoint(setup: Any, schedule: Schedule, path: Any) -> Progress:
    """Restore a checkpoint written by `save_checkpoint` into the freshly built setup.

    Args:
        setup: what build.build() made from the run's config.
        schedule: the run's schedule, built as before.
        path: the checkpoint file.

    Returns:
        The saved Progress; raises LrtoolError for an unreadable file or a different steps per epoch.
    """
    try:
        state = torch.load(path, map_location=setup.device, weights_only=False)
    except Exception as e:  # noqa: BLE001 - a corrupt checkpoint is a user-facing problem
        raise LrtoolError(f"{path}: cannot read the checkpoint ({e})") from None
    saved = state.get("steps_per_epoch")
    if saved is not None and saved != schedule.plan.steps_per_epoch:
        raise LrtoolError(f"{path}: the run took {saved} steps per epoch on {state.get('world_size', 1)} "
                          f"process(es), this launch would take {schedule.plan.steps_per_epoch} on "
                          f"{dist.world_size()}; resume with the same number of processes")
    setup.model.load_state_dict(state["model"])
    setup.optimizer.load_state_dict(state["optimizer"])
    setup.precision.scaler.load_state_dict(state["scaler"])
    schedule.load_state_dict(state["schedule"])
    setup.generator.set_state(state["generator"].cpu())  # the same data order on every rank
    progress = Progress(**state["progress"])
    rngs = state.get("rng_ranks")
    if rngs is not None and len(rngs) == dist.world_size():
        engine.set_rng_state(rngs[dist.rank()])
    else:
        engine.set_rng_state(state["rng"])
        if dist.rank() > 0:  # no saved stream for this rank: a fresh one of its own
            engine.seed_everything(dist.rank_seed(setup.cfg.seed) + progress.step)
    if dist.rank() > 0 and progress.sums:  # rank 0 carries the epoch's sums so far for every rank
        progress.sums = {k: torch.zeros_like(v) if isinstance(v, torch.Tensor) else 0
                         for k, v in progress.sums.items()}
    return progress


def truncate_logs(run: RunDir, p: Progress) -> None:
    """Drop log rows written after the checkpoint (a killed run logs ahead of its last checkpoint)."""
    for name, key, limit in ((STEPS_CSV, STEP, p.step), (EPOCHS_CSV, EPOCH, p.epoch + 1)):
        read = read_csv_rows(run.path / name)  # a row cut off by a kill is left out
        if read is None:
            continue
        keep = [line for row, line in zip(read.rows, read.lines[1:]) if int(row[key]) < limit]
        atomic_write_text(run.path / name, read.lines[0] + "".join(keep))

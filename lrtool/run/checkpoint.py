"""Checkpoints of a train run: everything needed to continue exactly, written so a kill never tears one."""

from __future__ import annotations

import csv
import io
import os
import shutil
from dataclasses import dataclass, field
from typing import Any

import torch

from . import dist, engine
from ..errors import LrtoolError
from ..rundir import RunDir, atomic_write_text
from ..schedules import Schedule


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
    first = paths[0].with_name(f".{paths[0].name}.tmp")
    torch.save(state, first)
    for path in paths[1:]:
        tmp = path.with_name(f".{path.name}.tmp")
        shutil.copyfile(first, tmp)
        os.replace(tmp, path)
    os.replace(first, paths[0])  # a kill never leaves half a checkpoint


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
    for name, key, limit in (("steps.csv", "step", p.step), ("epochs.csv", "epoch", p.epoch + 1)):
        path = run.path / name
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines(keepends=True)
        if not lines:
            continue
        if not lines[-1].endswith("\n"):
            lines = lines[:-1]  # a row cut off by a kill
        header = next(csv.reader(io.StringIO(lines[0])))
        idx = header.index(key)
        keep = [lines[0]]
        for line in lines[1:]:
            cells = next(csv.reader(io.StringIO(line)), None)
            if cells and len(cells) == len(header) and int(cells[idx]) < limit:
                keep.append(line)
        atomic_write_text(path, "".join(keep))

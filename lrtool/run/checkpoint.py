"""Checkpoints of a train run: everything needed to continue exactly, written so a kill never tears one."""

from __future__ import annotations

import errno
import json
import math
import os
import pickle
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import LrtoolError, one_line
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
    sums: dict[str, Any] = field(default_factory=dict)  # device tensors: loss sum, count
    metric_states: dict[str, Any] = field(default_factory=dict)  # the epoch's training metrics so far
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
    if getattr(setup, "train_metrics", None) is not None:  # likewise the metrics' states (a collective)
        counters["metric_states"] = setup.train_metrics.state()
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
    # what --resume compares the run's config.yaml with (JSON types: loadable with weights_only)
    state["config"] = json.loads(json.dumps(setup.cfg.to_dict()))
    # a kill never leaves half a checkpoint; further paths get the first file's content
    atomic_write(paths[0], lambda tmp: _torch_save(state, tmp))
    for path in paths[1:]:
        _duplicate(paths[0], path)


def _duplicate(src: Path, dst: Path) -> None:
    """Replace `dst` atomically with a file of `src`'s content: a hard link to it (no copy, no second
    fsync: the content is already on disk), or a synced copy where the file system has no hard links.

    A later atomic write of `src` makes a new file, so `dst` keeps this content.
    """
    tmp = dst.with_name(f".{dst.name}.link.tmp")
    try:
        tmp.unlink(missing_ok=True)
        os.link(src, tmp)
        os.replace(tmp, dst)
        return
    except OSError:
        tmp.unlink(missing_ok=True)
    except BaseException:  # a KeyboardInterrupt: no link stays behind
        tmp.unlink(missing_ok=True)
        raise
    atomic_write(dst, lambda t: shutil.copyfile(src, t))


def _torch_save(state: dict[str, Any], tmp: Path) -> None:
    """torch.save, its failures as OSError (atomic_write then names the checkpoint)."""
    try:
        torch.save(state, tmp)
    except RuntimeError as e:
        # torch's writer reports a full disk as "unexpected pos ..." or "file write failed": say what it was
        if shutil.disk_usage(tmp.parent).free < 1 << 20:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)) from e
        raise OSError(errno.EIO, f"cannot write the checkpoint ({one_line(e)})") from e


# what lrtool's checkpoints hold besides tensors and plain types: numpy's RNG state (a uint32 array)
def _numpy_globals() -> list[Any]:
    import numpy as np

    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return [_reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


# the parts of a checkpoint and their types; a file without them is not one lrtool wrote
_PARTS: dict[str, type | tuple[type, ...]] = {
    "model": dict, "optimizer": dict, "scaler": dict, "schedule": dict, "rng": dict, "generator": torch.Tensor,
    "progress": dict, "steps_per_epoch": int}
_COUNTERS = {"epoch": int, "step": int, "epoch_steps": int, "elapsed": (int, float), "sums": dict, "best": dict}


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint safely (`weights_only`: no code in the file can run) and check its structure.

    Args:
        path: the checkpoint file (checkpoints/last.pt).

    Returns:
        Its content, on the CPU; LrtoolError naming the file for one that cannot be read, holds
        objects lrtool never saves, or lacks a part.
    """
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL (\S+)", str(e))  # the safe unpickler met a class or function to call
        if found is None:
            raise LrtoolError(f"{path}: cannot read the checkpoint (not a file torch.save wrote)") from None
        raise LrtoolError(f"{path}: refused to load: the file holds objects lrtool never saves "
                          f"({found.group(1)}); nothing in it was run (a checkpoint from elsewhere?)") from None
    except Exception as e:  # noqa: BLE001 - a corrupt checkpoint is a user-facing problem
        raise LrtoolError(f"{path}: cannot read the checkpoint ({one_line(e)})") from None
    problem = _structure_problem(state)
    if problem:
        raise LrtoolError(f"{path}: not a checkpoint of an lrtool train run: {problem}")
    return state


def _structure_problem(state: Any) -> str | None:
    """What is wrong with a loaded checkpoint's structure, or None."""
    if not isinstance(state, dict):
        return f"expected a dict of parts, got {type(state).__name__}"
    for where, parts, have in (("", _PARTS, state), ("progress.", _COUNTERS, state.get("progress"))):
        for key, kind in parts.items():
            if key not in have:
                return f"missing '{where}{key}'"
            if not isinstance(have[key], kind) or isinstance(have[key], bool):
                return f"'{where}{key}' should be {_kind(kind)}, got {type(have[key]).__name__}"
    unknown = sorted(set(state["progress"]) - set(Progress.__dataclass_fields__))
    if unknown:
        return f"unknown counter 'progress.{unknown[0]}'"
    if not all(isinstance(v, torch.Tensor) for v in state["model"].values()):
        return "'model' should map parameter names to tensors"
    if not isinstance(state["optimizer"].get("param_groups"), list) or "state" not in state["optimizer"]:
        return "'optimizer' should hold 'state' and 'param_groups'"
    if "config" in state and not isinstance(state["config"], dict):
        return f"'config' should be a dict, got {type(state['config']).__name__}"
    return None


def _kind(kind: type | tuple[type, ...]) -> str:
    names = {dict: "a dict", int: "an integer", float: "a number", torch.Tensor: "a tensor"}
    return " or ".join(names[k] for k in (kind if isinstance(kind, tuple) else (kind,)))


def config_changes(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The dotted keys whose values differ between two resolved configs, as `key (old -> new)`."""
    out: list[str] = []

    def walk(a: Any, b: Any, key: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for k in list(a) + [k for k in b if k not in a]:
                walk(a.get(k, _MISSING), b.get(k, _MISSING), f"{key}.{k}" if key else str(k))
        elif a != b:
            out.append(f"{key} ({_short(a)} -> {_short(b)})")

    walk(json.loads(json.dumps(saved)), json.loads(json.dumps(current)), "")
    return out


_MISSING = "<unset>"


def _short(v: Any) -> str:
    text = v if v is _MISSING else repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def restore_checkpoint(setup: Any, schedule: Schedule, state: dict[str, Any], path: Path) -> Progress:
    """Put a checkpoint read by `read_checkpoint` into the freshly built setup.

    Args:
        setup: what build.build() made from the run's config.
        schedule: the run's schedule, built as before.
        state: the checkpoint's content.
        path: its file, for the messages.

    Returns:
        The saved Progress; LrtoolError naming the file when a part does not fit this setup (another
        model, other steps per epoch, another optimizer).
    """
    saved = state["steps_per_epoch"]
    if saved != schedule.plan.steps_per_epoch:
        ranks = state.get("world_size", 1)
        if ranks != dist.world_size():
            raise LrtoolError(f"{path}: the run took {saved} steps per epoch on {ranks} process(es), this launch "
                              f"would take {schedule.plan.steps_per_epoch} on {dist.world_size()}; resume with "
                              "the same number of processes")
        raise LrtoolError(f"{path}: the run took {saved} steps per epoch, its config now gives "
                          f"{schedule.plan.steps_per_epoch} (a changed data.batch_size, train.accumulate or "
                          "dataset?); a run continues only with the steps per epoch it started with")
    part = "model"
    try:
        setup.model.load_state_dict(state["model"])
        part = "optimizer"
        setup.optimizer.load_state_dict(state["optimizer"])
        part = "scaler"
        setup.precision.scaler.load_state_dict(state["scaler"])
        part = "schedule"
        schedule.load_state_dict(state["schedule"])
        part = "generator"
        setup.generator.set_state(state["generator"].cpu())  # the same data order on every rank
        part = "rng"
        progress = _restore_rngs(setup, state)
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
        what = {"model": f"the config's model ({setup.cfg.model.name}) does not fit the saved weights",
                "optimizer": f"the config's optimizer ({setup.cfg.optimizer.name}) does not fit the saved state"}
        raise LrtoolError(f"{path}: cannot restore the checkpoint's {part}: "
                          f"{what.get(part, 'it does not fit this run')} ({_first(e)})") from None
    return progress


def _first(e: BaseException) -> str:
    """The first informative line of a (multi-line) torch error."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return " ".join(lines[:2])[:300] if lines else type(e).__name__


def _restore_rngs(setup: Any, state: dict[str, Any]) -> Progress:
    """The counters, and the RNG streams of this rank."""
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
    # the epoch's running sums live on the training device
    progress.sums = {k: v.to(setup.device) if isinstance(v, torch.Tensor) else v for k, v in progress.sums.items()}
    return progress


_LOGS = ((STEPS_CSV, STEP), (EPOCHS_CSV, EPOCH))


def log_notes(run_dir: Path) -> list[str]:
    """What `truncate_logs` will leave out of a run's logs besides the rows after the checkpoint (read only)."""
    notes = []
    for name, key in _LOGS:
        read = read_csv_rows(Path(run_dir) / name)
        if read is None:
            continue
        notes += read.notes
        bad = sum(1 for row in read.rows if _count(row.get(key, "")) == math.inf)
        if bad:
            notes.append(f"skipped {bad} row{'s' if bad > 1 else ''} of {name} whose {key} is not a whole number")
    return notes


def truncate_logs(run: RunDir, p: Progress) -> None:
    """Drop log rows written after the checkpoint (a killed run logs ahead of its last checkpoint).

    A row whose step or epoch is not a whole number is left out like any other malformed line.
    """
    for (name, key), limit in zip(_LOGS, (p.step, p.epoch + 1)):
        read = read_csv_rows(run.path / name)  # a row cut off by a kill is left out
        if read is None:
            continue
        keep = [line for row, line in zip(read.rows, read.lines[1:]) if _count(row[key]) < limit]
        atomic_write_text(run.path / name, read.lines[0] + "".join(keep))


def _count(cell: str) -> float:
    """A log's step or epoch cell as a number; infinity (dropped) when it is not a whole number."""
    try:
        return int(cell)
    except ValueError:
        return math.inf

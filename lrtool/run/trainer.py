"""`lrtool train`: the training loop, its logs, checkpoints, exact resume and clean stops.

The LR of every optimizer step comes from `Schedule.lr(step)` (a pure function of the global step),
so an interrupted run resumed from its checkpoint follows the same trajectory as an uninterrupted one.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch

from . import dist, engine
from ..errors import LrtoolError, RunFailed
from ..loggers import Loggers, check_loggers, open_loggers
from ..optim import momentum_key, set_lr_and_momentum
from ..rundir import RunDir, now_iso, versions
from ..schedules import Plan, Schedule, build_schedule, resolve_schedule

STEP_COLUMNS = ("step", "epoch", "lr", "loss")
EPOCH_COLUMNS = ("epoch", "step", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "time_s")
PLOT_EVERY_S = 30.0
EXIT_CODES = {"completed": 0, "diverged": 1, "failed": 1, "interrupted": 130}


def base_momenta(optimizer: torch.optim.Optimizer) -> list[float] | None:
    """Each group's momentum (SGD) or beta1 (Adam family), or None when there is none to cycle."""
    which = momentum_key(optimizer)
    if which is None:
        return None
    return [float(g["betas"][0]) if which == "betas" else float(g["momentum"]) for g in optimizer.param_groups]


def steps_per_epoch(num_batches: int, accumulate: int) -> int:
    """Optimizer steps in an epoch of `num_batches` micro-batches (a short last group still steps)."""
    return max(1, math.ceil(num_batches / accumulate))


def make_schedule(setup: Any, schedule_name: str | None = None) -> tuple[Schedule, Plan]:
    """Resolve and build the run's schedule against its optimizer and data (errors before training)."""
    cfg = setup.cfg
    spec = resolve_schedule(cfg.schedule.model_dump(), schedule_name)
    # under torchrun batch_size is per rank: a step takes batch_size x world size samples
    batches = setup.data.train.num_batches(cfg.data.batch_size, **dist.sharded())
    plan = Plan(steps_per_epoch(batches, cfg.train.accumulate), cfg.train.epochs)
    base_lrs = [float(g["lr"]) for g in setup.optimizer.param_groups]
    return build_schedule(spec, base_lrs, plan, base_momenta(setup.optimizer)), plan


class StopFlag:
    """Set by SIGINT/SIGTERM: the loop finishes the current step, saves everything, then stops."""

    def __init__(self) -> None:
        self.signal: int | None = None

    @contextmanager
    def installed(self) -> Iterator["StopFlag"]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handler(signum: int, _frame: Any) -> None:
            if self.signal is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt  # a second Ctrl-C stops at once
            self.signal = signum

        old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)


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


def _checkpoint(setup: Any, schedule: Schedule, progress: Progress, paths: list[Any]) -> None:
    """Everything needed to continue exactly: weights, optimizer, scaler, schedule, RNGs, counters.

    Under torchrun every rank calls it (it gathers each rank's RNG states and running sums); rank 0
    writes the plain module's weights, which load on any number of ranks. The state is serialised
    once; further paths (best.pt) get a copy of the file.
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
    """Restore a checkpoint written by `_checkpoint` into the freshly built setup."""
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


def _improved(metric: str, value: float, best: dict[str, Any]) -> bool:
    if not math.isfinite(value):
        return False
    old = best.get(metric)
    return old is None or (value > old["value"] if metric.endswith("acc") else value < old["value"])


def train(setup: Any, run: RunDir, schedule: Schedule, plan: Plan, *, schedule_name: str,
          config_path: str | None, resume: Progress | None = None, live: Any = None,
          tags: dict[str, str] | None = None) -> dict[str, Any]:
    """Train `setup.model` for the configured epochs, logging into `run`.

    Args:
        setup: what build.build() made from the config.
        run: the run directory (config.yaml already written).
        schedule, plan: from make_schedule().
        schedule_name: the schedule's name, for the summary.
        config_path: the config file given on the command line (recorded in the summary).
        resume: the Progress of a loaded checkpoint, to continue a run in place.
        live: an object with `start(plan)`, `update(...)`, `stop()` for progress display, or None.
        tags: tags for the loggers of train.loggers (the sweep the run belongs to).

    Returns:
        summary.json's content; its "status" says how the run ended.
    """
    cfg, model, optimizer = setup.cfg, setup.model, setup.optimizer
    tc, bs = cfg.train, cfg.data.batch_size
    data, precision, loss_fn = setup.data, setup.precision, setup.loss_fn
    multi = len(optimizer.param_groups) > 1
    cycles_momentum = schedule.momentum(0) is not None
    columns = STEP_COLUMNS + (("momentum",) if cycles_momentum else ()) + \
        tuple(f"lr/pg{i}" for i in range(len(optimizer.param_groups)) if multi) + ("time_s",)
    p = resume or Progress()
    t0 = time.perf_counter() - p.elapsed
    summary = run.read_summary() if resume else {}
    summary.update({
        "status": "running", "command": "train", "schedule": schedule_name, "config": config_path,
        "started": summary.get("started") or now_iso(), "ended": None, "device": str(setup.device),
        "seed": cfg.seed, "precision": tc.precision, "versions": versions(), "epochs": plan.epochs,
        "steps_per_epoch": plan.steps_per_epoch, "total_steps": plan.total_steps,
        "resumed": summary.get("resumed", 0) + (1 if resume else 0),
    })
    if dist.is_distributed():
        summary.update(world_size=dist.world_size(), global_batch_size=bs * dist.world_size())
    summary.pop("stop", None)
    summary.pop("error", None)
    run.write_summary(summary)
    if run.writes:
        (run.path / "checkpoints").mkdir(exist_ok=True)
    if resume and run.writes:
        _truncate_logs(run, p)
    t_open = time.perf_counter()
    loggers = open_loggers(cfg, run, command="train", resume_step=p.step if resume else None, tags=tags)
    t0 += time.perf_counter() - t_open  # the loggers' start (MLflow's database) is not training time
    steps_log = run.csv("steps.csv", columns, append=bool(resume))
    epochs_log = run.csv("epochs.csv", EPOCH_COLUMNS, append=bool(resume))
    stop, status, message, bad_step = StopFlag(), "completed", "", None
    pending: list[tuple[int, int, list[float], Any, float]] = []  # steps not yet read back to the host
    agreed = {"stop": False}  # under torchrun: some rank was signalled, as all ranks learnt at a log point

    def flush(collective: bool = True) -> int | None:
        """Read the pending losses back (one host sync) and log them; returns a non-finite step.

        Under torchrun the losses are averaged over the ranks and the stop flag is shared, in one
        all-reduce, so every rank logs, diverges and stops at the same step.
        """
        if not pending:
            return None
        losses = torch.stack([x[3] for x in pending])
        if collective and dist.is_distributed():
            losses, signalled = dist.mean_and_any(losses, stop.signal is not None)
            agreed["stop"] = agreed["stop"] or signalled
        values = losses.tolist()
        first_bad = None
        rows = []
        for (step, epoch, lrs, _loss, t), value in zip(pending, values):
            row = {"step": step, "epoch": epoch, "lr": lrs[0], "loss": value, "time_s": round(t, 4)}
            if cycles_momentum:
                row["momentum"] = schedule.momentum(step)[0]
            if multi:
                row.update({f"lr/pg{i}": v for i, v in enumerate(lrs)})
            steps_log.write(row, flush=False)  # flushed once per log point, below
            rows.append(row)
            if not math.isfinite(value):
                first_bad = step
                break
        steps_log.flush()
        loggers.log_step(rows)
        if live is not None:  # this log point syncs anyway: show the epoch's running accuracy too
            acc = int(p.sums["correct"]) / max(1, p.sums["n"]) if p.sums else None
            live.update(step=pending[-1][0] + 1, loss=values[-1], lr=pending[-1][2][0], acc=acc)
        pending.clear()
        return first_bad

    if live is not None:
        live.start(plan, p)
    lrs = schedule.lr(max(0, p.step - 1))
    last_plot = time.perf_counter()
    model.train()
    try:
        with stop.installed():
            while p.epoch < plan.epochs and status == "completed":
                if p.epoch_steps == 0:
                    p.epoch_gen_state = setup.generator.get_state()
                    p.sums = {"loss": torch.zeros((), device=setup.device, dtype=torch.float64),
                              "correct": torch.zeros((), device=setup.device, dtype=torch.int64), "n": 0}
                else:  # resuming mid-epoch: replay the epoch's order, skip the steps already done
                    setup.generator.set_state(p.epoch_gen_state)
                batches = data.train.batches(bs, shuffle=True, generator=setup.generator, **dist.sharded())
                for _ in range(p.epoch_steps * tc.accumulate):
                    next(batches, None)
                for micro in _chunks(batches, tc.accumulate):
                    lrs = schedule.lr(p.step)
                    set_lr_and_momentum(optimizer, lrs, schedule.momentum(p.step))
                    step_loss: Any = 0.0
                    for j, (x, y) in enumerate(micro):
                        with dist.no_sync(setup.net, j < len(micro) - 1):  # DDP: all-reduce once a step
                            loss, correct = engine.forward_backward(setup.net, setup.augment(x), y, loss_fn,
                                                                    precision, 1.0 / len(micro))
                        step_loss = loss if len(micro) == 1 else step_loss + loss / len(micro)
                        p.sums["loss"].add_(loss, alpha=len(y))  # metrics stay on the device
                        p.sums["correct"].add_(correct)
                        p.sums["n"] += len(y)
                    engine.optimizer_step(model, optimizer, precision, tc.grad_clip)
                    pending.append((p.step, p.epoch, lrs, step_loss, time.perf_counter() - t0))
                    p.step += 1
                    p.epoch_steps += 1
                    # host reads only every log_every steps (and at the end of the epoch)
                    if len(pending) >= tc.log_every:
                        bad_step = flush()
                    if bad_step is not None and tc.on_nan == "stop":
                        status = "diverged"
                        break
                    if agreed["stop"] if dist.is_distributed() else stop.signal is not None:
                        status = "interrupted"
                        break
                bad = flush()
                bad_step = bad_step if bad_step is not None else bad
                if bad_step is not None and tc.on_nan == "stop":
                    status = "diverged"
                if status != "completed":
                    break
                row = _end_epoch(setup, run, schedule, p, epochs_log, t0, lrs, live)
                loggers.log_epoch(row)
                ckpts = [run.path / "checkpoints" / "last.pt"]
                if p.best.pop("_new", None):
                    ckpts.append(run.path / "checkpoints" / "best.pt")
                if tc.checkpoints:
                    _checkpoint(setup, schedule, p, ckpts)
                run.update_summary(progress={"epoch": p.epoch, "step": p.step}, best=_public(p.best),
                                   final={k: v for k, v in row.items() if k != "time_s"})
                # plots are refreshed by elapsed time, not every epoch, to stay off the training path
                if tc.plots and time.perf_counter() - last_plot > PLOT_EVERY_S:
                    plot_run(run)
                    last_plot = time.perf_counter()
                if live is not None:
                    live.epoch_done(p)
    except KeyboardInterrupt:
        status = "interrupted"
    except Exception as e:
        flush_quietly(lambda: flush(collective=False))  # the other ranks may not be there to reduce with
        steps_log.close()
        epochs_log.close()
        _finish(run, "failed", p, t0, plots=tc.plots, loggers=loggers, error=f"{type(e).__name__}: {e}")
        raise RunFailed(f"training failed at step {p.step}: {type(e).__name__}: {e}; "
                        f"logs kept in {run.path}") from e
    finally:
        if live is not None:
            live.stop()
    flush_quietly(flush)
    steps_log.close()
    epochs_log.close()
    if status == "interrupted":
        p.elapsed = time.perf_counter() - t0
        if tc.checkpoints:  # a mid-epoch checkpoint: --resume replays the epoch's order and skips ahead
            _checkpoint(setup, schedule, p, [run.path / "checkpoints" / "last.pt"])
        sig = stop.signal
        launcher = "lrtool" if not dist.is_distributed() else \
            f"torchrun --nproc_per_node={os.environ.get('LOCAL_WORLD_SIZE', dist.world_size())} -m lrtool"
        message = (f"stopped by {signal.Signals(sig).name if sig else 'SIGINT'} at step {p.step} "
                   f"(epoch {p.epoch + 1}); continue with: {launcher} train --resume {run.path}")
        return _finish(run, status, p, t0, plots=tc.plots, loggers=loggers, stop={"reason": "interrupted", "step": p.step, "message": message},
                       exit_code=143 if sig == signal.SIGTERM else 130)
    if status == "diverged":
        message = (f"loss became non-finite at step {bad_step} (lr {schedule.lr(bad_step)[0]:.3g}); "
                   f"the last good checkpoint is checkpoints/last.pt")
        return _finish(run, status, p, t0, plots=tc.plots, loggers=loggers, stop={"reason": "non_finite", "step": bad_step, "message": message})
    test = None
    if data.test is not None:
        dist.sync_buffers(model)
        test_batches = data.test.batches(_eval_bs(cfg), shuffle=False, **dist.sharded())
        test_loss, test_acc = engine.evaluate(setup.eval_net, test_batches, loss_fn, precision)
        test = {"test_loss": test_loss, "test_acc": test_acc}
    return _finish(run, "completed", p, t0, plots=tc.plots, loggers=loggers, test=test)


def _chunks(batches: Iterator, size: int) -> Iterator[list]:
    chunk: list = []
    for b in batches:
        chunk.append(b)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _eval_bs(cfg: Any) -> int:
    return cfg.data.eval_batch_size or cfg.data.batch_size * 4


def _end_epoch(setup: Any, run: RunDir, schedule: Schedule, p: Progress, log: Any, t0: float,
               lrs: list[float], live: Any) -> dict[str, Any]:
    """Validate, log the epoch, feed a plateau schedule, track the best metrics; returns the epoch's row."""
    cfg = setup.cfg
    sums = dist.all_reduce_sums(p.sums)  # every rank's samples (unchanged in a single process)
    n = max(1, sums["n"])
    train_loss = float(sums["loss"]) / n  # one host read per epoch
    train_acc = int(sums["correct"]) / n
    val_loss = val_acc = None
    if setup.data.val is not None:
        dist.sync_buffers(setup.model)  # all ranks evaluate rank 0's batch-norm statistics
        val_loss, val_acc = engine.evaluate(setup.eval_net, setup.data.val.batches(
            _eval_bs(cfg), shuffle=False, **dist.sharded()), setup.loss_fn, setup.precision)
    p.epoch += 1
    p.epoch_steps = 0
    row = {"epoch": p.epoch, "step": p.step, "lr": lrs[0], "train_loss": train_loss, "train_acc": train_acc,
           "val_loss": val_loss, "val_acc": val_acc, "time_s": round(time.perf_counter() - t0, 4)}
    log.write(row)
    metrics = {"train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss, "val_acc": val_acc}
    if schedule.needs_metric:
        monitored = metrics.get(schedule.monitor)
        if monitored is None:
            raise LrtoolError(f"schedule: {schedule.name} monitors {schedule.monitor}, which this run does "
                              "not measure (no validation split? set data.val_fraction > 0)")
        schedule.observe(p.epoch - 1, monitored)
    for name in ("val_acc", "val_loss", "train_loss"):
        value = metrics[name]
        if value is not None and _improved(name, value, p.best):
            p.best[name] = {"value": value, "epoch": p.epoch, "step": p.step}
            if name == cfg.train.monitor or (name == "train_loss" and setup.data.val is None):
                p.best["_new"] = True
    return row


def _public(best: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in best.items() if not k.startswith("_")}


def summary_final(run: RunDir) -> dict[str, Any] | None:
    """The last row of epochs.csv as the run's final metrics."""
    import csv

    path = run.path / "epochs.csv"
    if not run.writes or not path.exists():
        return None
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return None
    last = rows[-1]
    return {k: (float(v) if v not in ("", None) else None) if k not in ("epoch", "step") else int(v)
            for k, v in last.items() if k != "time_s"}


def flush_quietly(flush: Any) -> None:
    """Log what is pending even when the run is going down."""
    try:
        flush()
    except Exception:  # noqa: BLE001 - the original error matters more
        pass


def plot_run(run: RunDir) -> None:
    """Draw the run's figures from its CSVs; a plotting problem never costs the run."""
    from .. import plots

    if not run.writes:
        return
    try:
        plots.plot_training(run.path)
    except Exception as e:  # noqa: BLE001
        print(f"lrtool: warning: could not draw the plots: {e}", file=sys.stderr)


def _finish(run: RunDir, status: str, p: Progress, t0: float, *, plots: bool, loggers: Loggers,
            exit_code: int | None = None, **fields: Any) -> dict[str, Any]:
    total = time.perf_counter() - t0
    # the status first: a Ctrl-C during the final plots must not leave the run marked running
    summary = run.update_summary(
        status=status, ended=now_iso(), progress={"epoch": p.epoch, "step": p.step}, best=_public(p.best),
        final=summary_final(run), exit_code=EXIT_CODES[status] if exit_code is None else exit_code,
        timings={"total_s": round(total, 3), "s_per_step": round(total / max(1, p.step), 6)}, **fields)
    if plots:
        plot_run(run)
    loggers.finish(status, summary)  # last: the plots and summary.json it uploads are final
    return summary


def _truncate_logs(run: RunDir, p: Progress) -> None:
    """Drop log rows written after the checkpoint (a killed run logs ahead of its last checkpoint)."""
    import csv
    import io

    from ..rundir import atomic_write_text

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


def run_training(cfg: Any, *, out: Any, stem: str, config_path: str | None, resume_dir: Any = None,
                 live: Any = None, echo: Any = print, tags: dict[str, str] | None = None
                 ) -> tuple[dict[str, Any], RunDir]:
    """Build everything from `cfg`, make (or reopen) the run directory, train; returns (summary, run).

    Args:
        cfg: the validated config (resolved schedule name and --lr-from values already in it).
        out: --out (a directory to create) or None for runs/<stem>-<schedule>-<time>; ignored on resume.
        stem: the config file's stem, for the default directory name.
        config_path: recorded in the summary.
        resume_dir: an interrupted run to continue in place, or None.
        live: progress display (see train()).
        echo: prints one line for the user.
        tags: tags for the run's loggers (see train()).
    """
    from .build import build
    from ..config import dump_config

    check_loggers(cfg.train.loggers)  # a missing extra is a usage error, before any work
    setup = build(cfg, compile_model=True)
    schedule, plan = make_schedule(setup)
    if resume_dir is not None:
        run = RunDir(resume_dir)
        ckpt = run.path / "checkpoints" / "last.pt"
        progress = load_checkpoint(setup, schedule, ckpt) if ckpt.exists() else Progress()
        echo(f"resuming {run.path} at epoch {progress.epoch + 1}, step {progress.step} of {plan.total_steps}")
    else:
        run = RunDir.create(out, stem, schedule.name)
        run.write_config(dump_config(cfg))
        progress = None
    echo(f"training {cfg.model.name} on {cfg.data.name}: schedule {schedule.name}, {plan.epochs} epochs x "
         f"{plan.steps_per_epoch} steps, seed {cfg.seed}, device {setup.device}" +
         (f" x {dist.world_size()} ranks (global batch {cfg.data.batch_size * dist.world_size()})"
          if dist.is_distributed() else ""))
    summary = train(setup, run, schedule, plan, schedule_name=schedule.name, config_path=config_path,
                    resume=progress, live=live, tags=tags)
    return summary, run

"""`lrtool train`: the training loop, its logs, checkpoints and clean stops.

The LR of every optimizer step comes from `Schedule.lr(step)` (a pure function of the global step),
so an interrupted run resumed from its checkpoint follows the same trajectory as an uninterrupted one.
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import Any, Iterator

import torch

from .. import metrics
from ..errors import ExitCode, RunFailed, one_line
from ..imports import config_paths
from ..loggers import Loggers, open_loggers
from ..optim import set_lr_and_momentum
from ..rundir import RunDir, higher_is_better, now_iso, read_csv_rows, versions
from ..rundir.columns import EPOCH, EPOCHS_CSV, STEP, STEPS_CSV, TIME_S, epoch_columns, step_columns
from ..schedules import Schedule
from . import dist, engine
from .checkpoint import Progress, save_checkpoint, truncate_logs
from .plan import RunPlan, eval_batch_size
from .signals import StopFlag

PLOT_EVERY_S = 30.0


def train(setup: Any, run: RunDir, schedule: Schedule, plan: RunPlan, *, schedule_name: str,
          config_path: str | None, resume: Progress | None = None, live: Any = None,
          changes: list[str] | None = None, tags: dict[str, str] | None = None) -> dict[str, Any]:
    """Train `setup.model` for the configured epochs, logging into `run`.

    Args:
        setup: what build.build() made from the config.
        run: the run directory (config.yaml already written).
        schedule, plan: from plan.make_schedule().
        schedule_name: the schedule's name, for the summary.
        config_path: the config file given on the command line (recorded in the summary).
        resume: the Progress of a loaded checkpoint, to continue a run in place.
        live: an object with `start(plan, progress)`, `update(...)`, `epoch_done(progress)`, `stop()`
            for progress display, or None.
        changes: on a resume with --allow-changes, the config keys edited since the checkpoint
            (recorded in the summary as `config_changes`).
        tags: tags for the loggers of train.loggers (the sweep the run belongs to).

    Returns:
        summary.json's content; its "status" says how the run ended.
    """
    tc = setup.cfg.train
    p = resume or Progress()
    t0 = time.perf_counter() - p.elapsed
    if schedule.needs_metric:  # before any work: a plateau schedule needs a metric the run measures
        metrics.check_monitor(schedule.monitor, setup.metric_names, setup.data.val is not None,
                              key="schedule.monitor")
    stop = StopFlag()
    # the handlers are installed before the summary says `running` and stay until it says how the run
    # ended: a signal at any point in between stops the run at its next step, never leaves it `running`
    with stop.installed():
        _start_summary(setup, run, plan, schedule_name, config_path, resume, changes)
        if schedule.notes:  # a legal but suspicious plan: kept with the run, as find-lr keeps its notes
            run.update_summary(notes=list(schedule.notes))
        t_open = time.perf_counter()
        loggers = open_loggers(setup.cfg, run, command="train", resume_step=p.step if resume else None,
                               tags=tags)
        t0 += time.perf_counter() - t_open  # the loggers' start (MLflow's database) is not training time
        setup.train_metrics = setup.new_metrics()  # running over the epoch, on the device
        if resume is not None and p.epoch_steps:  # rank 0 carries the epoch's metric states for every rank
            setup.train_metrics.load_state(p.metric_states, zero=dist.rank() > 0)
        log = _StepLog(run, schedule, setup, p, stop, live, append=bool(resume), loggers=loggers)
        epochs_log = run.csv(EPOCHS_CSV, epoch_columns(setup.metric_columns), append=bool(resume))
        status, bad_step, error, clean = "completed", None, None, True
        test = None
        lrs = schedule.lr(max(0, p.step - 1))
        last_plot = time.perf_counter()
        if live is not None:
            live.start(plan, p, monitor=setup.monitor)
        setup.model.train()
        try:
            while p.epoch < plan.epochs and status == "completed":
                for micro in _epoch_steps(setup, p):
                    lrs = schedule.lr(p.step)
                    set_lr_and_momentum(setup.optimizer, lrs, schedule.momentum(p.step))
                    loss = _train_step(setup, micro, p.sums)
                    log.add(p.step, p.epoch, lrs, loss, time.perf_counter() - t0)
                    p.step += 1
                    p.epoch_steps += 1
                    # host reads only every log_every steps (and at the end of the epoch)
                    if len(log.pending) >= tc.log_every:
                        bad_step = log.flush()
                    if bad_step is not None and tc.on_nan == "stop":
                        status = "diverged"
                        break
                    if log.stop_requested():
                        status = "interrupted"
                        break
                bad = log.flush()
                bad_step = bad_step if bad_step is not None else bad
                if bad_step is not None and tc.on_nan == "stop":
                    status = "diverged"
                if status != "completed":
                    break
                row = _end_epoch(setup, schedule, p, epochs_log, t0, lrs)
                loggers.log_epoch(row)
                if tc.on_nan == "stop" and _blown_up(row):
                    # the weights blew up between log points (huge but finite training losses): the last
                    # good checkpoint is the previous epoch's, so this one is not saved
                    status = "diverged"
                    break
                # the training time so far goes into the checkpoint: a run killed after it (kill -9, no
                # stop checkpoint) resumes its clock from here, not from 0
                p.elapsed = time.perf_counter() - t0
                with stop.shielded():  # last.pt, best.pt and the summary that names them: all or none
                    _save_epoch(setup, run, schedule, p, row)
                if stop.again is not None:  # a second signal while they were written: stop now
                    status = "interrupted"
                    break
                # plots are refreshed by elapsed time, not every epoch, to stay off the training path
                if tc.plots and time.perf_counter() - last_plot > PLOT_EVERY_S:
                    plot_run(run)
                    last_plot = time.perf_counter()
                if live is not None:
                    live.epoch_done(p)
            log.flush()
            if status == "completed":
                test = _test_metrics(setup)
            log.close()
            epochs_log.close()
            stop.hold()  # the end path: from here to the status, a signal only counts (status first)
        except KeyboardInterrupt:
            stop.hold()
            status, clean = "interrupted", False  # cut mid-step: the state is no step's end, no checkpoint of it
            flush_quietly(log.flush)
        except Exception as e:
            stop.hold()
            error = e
        finally:
            stop.hold()
            if live is not None:
                flush_quietly(live.stop)  # a display that fails to close never costs the status
        if error is not None:
            _fail(run, p, t0, error, [log, epochs_log], stop, plots=tc.plots, loggers=loggers)
        log.abandon()
        epochs_log.abandon()
        if status == "interrupted":
            return _stop_interrupted(setup, run, schedule, p, t0, stop, clean, loggers)
        if status == "diverged":
            what = (f"validation loss became non-finite after epoch {p.epoch} (lr {lrs[0]:.3g})"
                    if bad_step is None else
                    f"loss became non-finite at step {bad_step} (lr {schedule.lr(bad_step)[0]:.3g})")
            # only a checkpoint that exists is named: a run that diverges in its first epoch has none
            message = (f"{what}; the last good checkpoint is checkpoints/last.pt"
                       if (run.path / "checkpoints" / "last.pt").is_file() else
                       f"{what}; no checkpoint was written before it: start again with a lower LR")
            return _finish(run, status, p, t0, stop, plots=tc.plots, loggers=loggers,
                           stop={"reason": "non_finite", "step": p.step if bad_step is None else bad_step,
                                 "message": message})
        return _finish(run, "completed", p, t0, stop, plots=tc.plots, loggers=loggers, test=test)


class _StepLog:
    """steps.csv: each step's loss stays on the device until a log point reads them back in one sync."""

    def __init__(self, run: RunDir, schedule: Schedule, setup: Any, p: Progress, stop: StopFlag, live: Any,
                 append: bool, loggers: Loggers):
        groups = len(setup.optimizer.param_groups)
        self.schedule, self.p, self.stop, self.live, self.setup = schedule, p, stop, live, setup
        self.loggers = loggers
        self.multi = groups > 1
        self.cycles_momentum = schedule.momentum(0) is not None
        columns = step_columns(self.cycles_momentum, groups)
        self.csv = run.csv(STEPS_CSV, columns, append=append)
        self.pending: list[tuple[int, int, list[float], Any, float]] = []  # not yet read back to the host
        self.agreed_stop = False  # under torchrun: some rank was signalled, as all ranks learnt at a log point

    def add(self, step: int, epoch: int, lrs: list[float], loss: Any, t: float) -> None:
        self.pending.append((step, epoch, lrs, loss, t))

    def stop_requested(self) -> bool:
        """A signal arrived (under torchrun: at some rank, as agreed at the last log point)."""
        return self.agreed_stop if dist.is_distributed() else self.stop.signal is not None

    def flush(self, collective: bool = True) -> int | None:
        """Read the pending losses back (one host sync) and log them; returns the first non-finite step.

        Under torchrun the losses are averaged over the ranks and the stop flag is shared, in one
        all-reduce, so every rank logs, diverges and stops at the same step.
        """
        if not self.pending:
            return None
        losses = torch.stack([x[3] for x in self.pending])
        if collective and dist.is_distributed():
            losses, signalled = dist.mean_and_any(losses, self.stop.signal is not None)
            self.agreed_stop = self.agreed_stop or signalled
        values = losses.tolist()
        first_bad = None
        rows = []
        for (step, epoch, lrs, _loss, t), value in zip(self.pending, values):
            row = {"step": step, "epoch": epoch, "lr": lrs[0], "loss": value, "time_s": round(t, 4)}
            if self.cycles_momentum:
                row["momentum"] = self.schedule.momentum(step)[0]
            if self.multi:
                row.update({f"lr/pg{i}": v for i, v in enumerate(lrs)})
            self.csv.write(row, flush=False)  # flushed once per log point, below
            rows.append(row)
            # every step that ran keeps its row, also those after a non-finite loss (the run's step count)
            if first_bad is None and not math.isfinite(value):
                first_bad = step
        self.csv.flush()
        self.loggers.log_step(rows)
        if self.live is not None:  # this log point syncs anyway: show the epoch's running metrics too
            # (this rank's own: under torchrun a compute() here would be a collective off the log path)
            shown = self.setup.train_metrics.compute() if not dist.is_distributed() else {}
            self.live.update(step=self.pending[-1][0] + 1, loss=values[-1], lr=self.pending[-1][2][0],
                             metrics=shown)
        self.pending.clear()
        return first_bad

    def close(self) -> None:
        self.csv.close()

    def abandon(self) -> None:
        self.csv.abandon()


def _start_summary(setup: Any, run: RunDir, plan: RunPlan, schedule_name: str, config_path: str | None,
                   resume: Progress | None, changes: list[str] | None) -> None:
    """Mark the run running in summary.json (keeping a resumed run's history) and prepare its folders."""
    cfg = setup.cfg
    summary = run.read_summary() if resume else {}
    summary.update({
        "status": "running", "command": "train", "schedule": schedule_name,
        "config": summary.get("config") if resume else config_path,
        "started": summary.get("started") or now_iso(), "ended": None, "device": str(setup.device),
        "seed": cfg.seed, "precision": cfg.train.precision, "versions": versions(), "epochs": plan.epochs,
        "steps_per_epoch": plan.steps_per_epoch, "total_steps": plan.total_steps,
        "resumed": summary.get("resumed", 0) + (1 if resume else 0), "task": setup.task[0],
        "metrics": list(setup.metric_columns), "monitor": setup.monitor,
        # where the config's 'module:callable' names were imported from: --resume looks there too
        "import_paths": summary.get("import_paths") if resume else config_paths(config_path),
    })
    if dist.is_distributed():
        summary.update(world_size=dist.world_size(), global_batch_size=cfg.data.batch_size * dist.world_size())
    if changes:
        summary["config_changes"] = summary.get("config_changes", []) + changes
    summary.pop("stop", None)
    summary.pop("error", None)
    if resume and run.writes:
        truncate_logs(run, resume)
    run.write_summary(summary)
    if run.writes:
        (run.path / "checkpoints").mkdir(exist_ok=True)


def _epoch_steps(setup: Any, p: Progress) -> Iterator[list]:
    """The micro-batch groups of the epoch's remaining optimizer steps.

    A fresh epoch records the data-order generator and zeroes the running sums; resuming mid-epoch
    replays the epoch's order and skips the steps already done.
    """
    if p.epoch_steps == 0:
        p.epoch_gen_state = setup.generator.get_state()
        p.sums = {"loss": torch.zeros((), device=setup.device, dtype=torch.float64), "n": 0}
        setup.train_metrics.reset()
    else:
        setup.generator.set_state(p.epoch_gen_state)
    accumulate = setup.cfg.train.accumulate
    # the steps already done are cut from the order, not read: the Dataset's own random draws stay in step
    batches = setup.data.train.batches(setup.cfg.data.batch_size, shuffle=True, generator=setup.generator,
                                       skip=p.epoch_steps * accumulate, **dist.sharded())
    return _chunks(batches, accumulate)


def _train_step(setup: Any, micro: list, sums: dict[str, Any]) -> Any:
    """One optimizer step over the micro-batches `micro`; returns the step's loss, still on the device."""
    step_loss: Any = 0.0
    total = sum(len(y) for _, y in micro)
    for j, (x, y) in enumerate(micro):
        # each micro-batch weighs by its samples, so k micro-batches equal one batch of the same samples
        # (also in an epoch's short last window)
        weight = len(y) / total
        with dist.no_sync(setup.net, j < len(micro) - 1):  # DDP: all-reduce once a step
            loss, out = engine.forward_backward(setup.net, setup.augment(x), y, setup.loss_fn,
                                                setup.precision, weight)
        step_loss = loss if len(micro) == 1 else step_loss + loss * weight
        sums["loss"].add_(loss, alpha=len(y))  # metrics stay on the device
        setup.train_metrics.update(out, y)
        sums["n"] += len(y)
    engine.optimizer_step(setup.model, setup.optimizer, setup.precision, setup.cfg.train.grad_clip)
    return step_loss


def _chunks(batches: Iterator, size: int) -> Iterator[list]:
    chunk: list = []
    for b in batches:
        chunk.append(b)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _blown_up(row: dict[str, Any]) -> bool:
    """Whether an epoch's validation loss is non-finite: the weights blew up (the run ends diverged)."""
    return not math.isfinite(row.get("val_loss", 0.0))


def _improved(metric: str, value: float, best: dict[str, Any]) -> bool:
    if not math.isfinite(value):
        return False
    old = best.get(metric)
    return old is None or (value > old["value"] if higher_is_better(metric) else value < old["value"])


def _end_epoch(setup: Any, schedule: Schedule, p: Progress, log: Any, t0: float,
               lrs: list[float]) -> dict[str, Any]:
    """Validate, log the epoch, feed a plateau schedule, track the best metrics; returns the epoch's row."""
    cfg = setup.cfg
    sums = dist.all_reduce_sums(p.sums)  # every rank's samples (unchanged in a single process)
    n = max(1, sums["n"])
    row: dict[str, Any] = {"epoch": p.epoch + 1, "step": p.step, "lr": lrs[0],
                           "train_loss": float(sums["loss"]) / n}  # one host read per epoch
    row.update({f"train_{k}": v for k, v in setup.train_metrics.compute().items()})  # syncs the ranks
    if setup.data.val is not None:
        dist.sync_buffers(setup.model)  # all ranks evaluate rank 0's batch-norm statistics
        batches = setup.data.val.batches(eval_batch_size(cfg.data.batch_size, cfg.data.eval_batch_size),
                                         shuffle=False, **dist.sharded())
        row["val_loss"], val = engine.evaluate(setup.eval_net, batches, setup.loss_fn, setup.precision,
                                               setup.eval_metrics())
        row.update({f"val_{k}": v for k, v in val.items()})
    p.epoch += 1
    p.epoch_steps = 0
    row["time_s"] = round(time.perf_counter() - t0, 4)
    log.write(row)
    measured = {k: v for k, v in row.items() if k not in (EPOCH, STEP, "lr", TIME_S)}
    if schedule.needs_metric:
        schedule.observe(p.epoch - 1, measured[schedule.monitor])
    blown_up = _blown_up(row)  # no best of an epoch that ends the run diverged
    for name, value in measured.items():
        if value is not None and not blown_up and _improved(name, value, p.best):
            p.best[name] = {"value": value, "epoch": p.epoch, "step": p.step}
            if name == setup.monitor:
                p.best["_new"] = True
    return row


def _save_epoch(setup: Any, run: RunDir, schedule: Schedule, p: Progress, row: dict[str, Any]) -> None:
    """The epoch's checkpoints (last.pt, and best.pt when the monitored metric improved) and summary."""
    ckpts = [run.path / "checkpoints" / "last.pt"]
    if p.best.pop("_new", None):
        ckpts.append(run.path / "checkpoints" / "best.pt")
    if setup.cfg.train.checkpoints:
        save_checkpoint(setup, schedule, p, ckpts)
    run.update_summary(progress={"epoch": p.epoch, "step": p.step}, best=_public(p.best),
                       final={k: v for k, v in row.items() if k != "time_s"})


def _test_metrics(setup: Any) -> dict[str, float] | None:
    """Loss and the metrics on the dataset's own test split, when it has one."""
    if setup.data.test is None:
        return None
    dist.sync_buffers(setup.model)
    data_cfg = setup.cfg.data
    batches = setup.data.test.batches(eval_batch_size(data_cfg.batch_size, data_cfg.eval_batch_size),
                                      shuffle=False, **dist.sharded())
    test_loss, values = engine.evaluate(setup.eval_net, batches, setup.loss_fn, setup.precision,
                                        setup.eval_metrics())
    return {"test_loss": test_loss, **{f"test_{k}": v for k, v in values.items()}}


def _stop_interrupted(setup: Any, run: RunDir, schedule: Schedule, p: Progress, t0: float,
                      stop: StopFlag, clean: bool, loggers: Loggers) -> dict[str, Any]:
    """Save a mid-epoch checkpoint and say how to continue; --resume replays the epoch's order and skips ahead.

    `clean`: the loop stopped between steps. A run cut mid-step (a second signal) saves no checkpoint of
    its half-done step, and a second signal while the stop checkpoint is written drops it (no temporary
    file stays): --resume then continues from the last epoch's checkpoint.
    """
    p.elapsed = time.perf_counter() - t0
    dropped = None
    if setup.cfg.train.checkpoints and not clean:
        dropped = f"a second {stop.again_name} stopped it mid-step"
    elif setup.cfg.train.checkpoints and stop.again is not None:
        dropped = f"a second {stop.again_name} stopped it before its checkpoint"
    elif setup.cfg.train.checkpoints:
        try:
            with stop.cuttable():  # a second signal drops the checkpoint (the status is still written)
                save_checkpoint(setup, schedule, p, [run.path / "checkpoints" / "last.pt"])
        except KeyboardInterrupt:
            dropped = f"a second {stop.again_name} stopped its checkpoint"
        except OSError as e:
            dropped = f"its checkpoint could not be written: {one_line(e)}"
    where = f"at step {p.step} (epoch {p.epoch + 1})"
    if dropped is not None:
        where += f"; {dropped}, so it continues from the last epoch's checkpoint"
    message = f"stopped by {stop.name} {where}; continue with: {_resume_command(run)}"
    return _finish(run, "interrupted", p, t0, stop, plots=setup.cfg.train.plots, loggers=loggers,
                   stop={"reason": "interrupted", "step": p.step, "message": message},
                   exit_code=ExitCode.for_signal(stop.signal))


def _resume_command(run: RunDir) -> str:
    """The command that continues this run."""
    launcher = "lrtool" if not dist.is_distributed() else \
        f"torchrun --nproc_per_node={os.environ.get('LOCAL_WORLD_SIZE', dist.world_size())} -m lrtool"
    return f"{launcher} train --resume {run.path}"


def _fail(run: RunDir, p: Progress, t0: float, e: Exception, logs: list[Any], stop: StopFlag, *,
          plots: bool, loggers: Loggers) -> None:
    """End a run that raised: the status first, then the logs (which may fail again), then RunFailed."""
    error = f"{type(e).__name__}: {e}"
    also = ""
    try:
        _finish(run, "failed", p, t0, stop, plots=False, loggers=loggers, error=error)
    except OSError as e2:  # even the status could not be written (a full disk): say so
        also = f"; {one_line(e2)} could not be updated either"
    with stop.shielded():
        flush_quietly(lambda: logs[0].flush(collective=False))  # the other ranks may not be there to reduce with
        for log in logs:
            log.abandon()  # closes without raising again; a torn last row is cut
    if plots:
        _plot_quietly(run, stop)
    hint = (f"after fixing it, continue with: {_resume_command(run)}" if isinstance(e, OSError)
            else f"logs kept in {run.path}")
    raise RunFailed(f"training failed at step {p.step}: {error}{also}; {hint}") from e


def _public(best: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in best.items() if not k.startswith("_")}


def summary_final(run: RunDir) -> dict[str, Any] | None:
    """The last row of epochs.csv as the run's final metrics."""
    read = read_csv_rows(run.path / EPOCHS_CSV) if run.writes else None
    if read is None or not read.rows:
        return None
    last = read.rows[-1]
    return {k: (float(v) if v not in ("", None) else None) if k not in (EPOCH, STEP) else int(v)
            for k, v in last.items() if k != TIME_S}


def flush_quietly(flush: Any) -> None:
    """Log what is pending even when the run is going down."""
    try:
        flush()
    except Exception:  # noqa: BLE001 - the original error matters more
        pass


def plot_run(run: RunDir) -> None:
    """Draw the run's figures from its CSVs (their names go to `run.figures`); a plotting problem
    never costs the run."""
    from .. import plots

    if not run.writes:
        return
    run.figures, run.figures_cut = [], None
    try:
        plots.plot_training(run.path, written=run.figures)
    except Exception as e:  # noqa: BLE001
        run.figures_cut = "failed"
        print(f"lrtool: warning: could not draw the plots: {e}", file=sys.stderr)


def _finish(run: RunDir, status: str, p: Progress, t0: float, flag: StopFlag, *, plots: bool, loggers: Loggers,
            exit_code: int | None = None, **fields: Any) -> dict[str, Any]:
    """Write the run's final summary (never cut by a signal), then its plots (which a second signal skips)."""
    total = time.perf_counter() - t0
    code = ExitCode.for_status(status) if exit_code is None else exit_code
    with flag.shielded():  # the status first: nothing after it may leave the run marked running
        summary = run.update_summary(
            status=status, ended=now_iso(), progress={"epoch": p.epoch, "step": p.step}, best=_public(p.best),
            final=summary_final(run), exit_code=int(code),
            timings={"total_s": round(total, 3), "s_per_step": round(total / max(1, p.step), 6)}, **fields)
    if plots:
        _plot_quietly(run, flag)
    with flag.cuttable():  # after the status a signal may stop the run at once again
        loggers.finish(status, summary)  # last: the plots and summary.json it uploads are final
    return summary


def _plot_quietly(run: RunDir, flag: StopFlag) -> None:
    """The run's plots, skipped by a second signal: the result is already written."""
    try:
        with flag.cuttable():
            plot_run(run)
    except KeyboardInterrupt:  # run.figures keeps those drawn before it
        run.figures_cut = "interrupted"
        print("lrtool: warning: plots skipped (interrupted)", file=sys.stderr)

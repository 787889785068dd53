"""The LR range test (Smith 2017) and the find-lr run around it (suggestions: run/suggest.py).

The sweep sets one LR per optimizer step, smooths the loss with a bias-corrected EMA, stops on
divergence or a non-finite loss, and always puts the model, optimizer and RNG back as they were.
"""

from __future__ import annotations

import copy
import math
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch

from ..errors import one_line
from ..rundir.columns import FIND_COLUMNS, LR_FIND_CSV, VAL_LOSS, find_val_columns
from ..smoothing import ema as smooth  # noqa: F401 - smooth: the range test's smoother
from ..smoothing import ema_step
from . import dist, engine
from .plan import eval_batch_size as _eval_batch_size
from .signals import StopFlag
from .suggest import suggest


def sweep(start_lr: float, end_lr: float, num_iter: int, mode: str = "exp") -> list[float]:
    """The LR of each of `num_iter` steps, hitting `start_lr` and `end_lr` exactly (see `sweep_lr`)."""
    return [sweep_lr(i, start_lr, end_lr, num_iter, mode) for i in range(num_iter)]


def sweep_lr(i: int, start_lr: float, end_lr: float, num_iter: int, mode: str = "exp") -> float:
    """The LR of step i of `num_iter`, computed when needed: the range test holds no list of num_iter LRs.

    exp: start * (end/start) ** (i / (n-1)); linear: start + (end - start) * i / (n-1); the first and last
    step are start_lr and end_lr exactly, whatever the rounding.
    """
    if num_iter < 2:
        raise ValueError("num_iter must be at least 2")
    if mode not in ("exp", "linear"):
        raise ValueError(f"mode: expected one of (exp, linear), got {mode!r}")
    last = num_iter - 1
    if i == 0 or i == last:
        return start_lr if i == 0 else end_lr
    if mode == "exp":
        return start_lr * (end_lr / start_lr) ** (i / last)
    return start_lr + (end_lr - start_lr) * i / last


def diverged(smoothed: float, best: float, threshold: float) -> bool:
    """True when `smoothed` rose more than (threshold - 1) * |best| above the best.

    For positive losses this is the usual `smoothed > threshold * best`; measuring the rise against
    |best| keeps the rule meaningful when losses are negative (e.g. log-likelihood objectives).
    """
    return smoothed - best > (threshold - 1) * abs(best)


@dataclass
class RangeTest:
    """What the sweep recorded and why it stopped."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = "completed"  # completed | diverged | non_finite | interrupted
    stop_step: int | None = None
    message: str = ""

    @property
    def lrs(self) -> list[float]:
        return [r["lr"] for r in self.rows]


def _batches_forever(split: Any, batch_size: int, generator: torch.Generator) -> Iterator:
    shard = dist.sharded()  # under torchrun: this rank's part of each global batch
    while True:
        yielded = False
        for batch in split.batches(batch_size, shuffle=True, generator=generator, drop_last=True, **shard):
            yielded = True
            yield batch
        if not yielded:  # fewer samples than one batch: use what there is
            yield from split.batches(batch_size, shuffle=True, generator=generator, **shard)


def range_test(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss_fn: engine.LossFn,
               train: Any, cfg: Any, *, batch_size: int, precision: engine.Precision,
               generator: torch.Generator, accumulate: int = 1, grad_clip: float | None = None,
               val: Any = None, on_step: Callable[[dict[str, Any]], None] | None = None,
               augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
               should_stop: Callable[[], bool] | None = None, net: Any = None,
               eval_batch_size: int | None = None, val_metrics: Any = None,
               device: torch.device | None = None) -> RangeTest:
    """Run the LR range test and restore every piece of state afterwards, however it ends.

    Args:
        model, optimizer, loss_fn: built for the run; restored bit for bit on return.
        train: the training split (`batches(...)`), or a DataLoader / any re-iterable of batches
            (see data.batches), read pass after pass; its generators are restored afterwards.
        val: the fixed validation subset (a split or a re-iterable of batches), or None.
        cfg: the `find_lr` config section (start_lr, end_lr, num_iter, mode, smooth, diverge_threshold,
            val_every).
        batch_size, accumulate: micro-batch size and micro-batches per optimizer step (one LR each step).
        on_step: called with each recorded row (for progress display).
        augment: applied to each training batch (the run's data augmentation), or None.
        should_stop: asked after each step; True ends the sweep as "interrupted" (SIGINT/SIGTERM/SIGHUP).
        net: what runs forward, when not `model` itself (its DDP wrapper under torchrun, where the
            loss that is smoothed and tested for divergence is the mean over ranks, and every rank
            stops at the same step).
        eval_batch_size: the batch size of the validation passes (data.eval_batch_size); None: 4 x
            batch_size, as in training.
        val_metrics: a metrics.MetricSet measured with val_loss (its columns become val_<column>), or None.
        device: where batches from a DataLoader or re-iterable are moved (default: the model's).

    Returns:
        The rows (step, lr, loss, smoothed_loss[, val_loss, val_<metric>]) and the stop reason.
    """
    sweep_lr(0, cfg.start_lr, cfg.end_lr, cfg.num_iter, cfg.mode)  # a bad num_iter or mode fails before any work
    val_bs = _eval_batch_size(batch_size, eval_batch_size)
    # other param groups keep their ratio to group 0 during the sweep
    base = [g["lr"] for g in optimizer.param_groups]
    ratios = [b / base[0] if base[0] else 1.0 for b in base]

    saved_model = {k: v.detach().clone() for k, v in model.state_dict().items()}
    saved_optim = copy.deepcopy(optimizer.state_dict())
    saved_grads = [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()]
    saved_rng = engine.rng_state()
    was_training = model.training
    from ..data import batches as loaders

    saved_loaders = [loaders.LoaderState(d) for d in (train, val) if d is not None and not hasattr(d, "batches")]
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))

    result = RangeTest()
    beta, avg, best = cfg.smooth, 0.0, math.inf
    batches = _batches_forever(train, batch_size, generator) if hasattr(train, "batches") \
        else loaders.forever(train, device)
    model.train()
    optimizer.zero_grad(set_to_none=True)
    try:
        for i in range(cfg.num_iter):
            lr = sweep_lr(i, cfg.start_lr, cfg.end_lr, cfg.num_iter, cfg.mode)
            for group, ratio in zip(optimizer.param_groups, ratios):
                group["lr"] = lr * ratio
            total = 0.0
            micro = [next(batches) for _ in range(accumulate)]
            samples = sum(len(y) for _, y in micro)
            for j, (x, y) in enumerate(micro):
                if augment is not None:
                    x = augment(x)
                # weighed by samples: k micro-batches equal one batch of the same samples
                weight = len(y) / samples
                with dist.no_sync(net or model, j < accumulate - 1):  # DDP: all-reduce once a step
                    loss, _out = engine.forward_backward(net or model, x, y, loss_fn, precision, weight)
                total = total + loss * weight
            engine.optimizer_step(model, optimizer, precision, grad_clip)
            # the divergence test needs the loss of every step on the host: one sync per step
            loss_value = float(total)
            stop_all = None  # under torchrun: whether any rank was signalled, agreed in the same all-reduce
            if dist.is_distributed():
                mean, stop_all = dist.mean_and_any(torch.tensor([loss_value], dtype=torch.float64),
                                                   should_stop is not None and should_stop())
                loss_value = float(mean[0])
            row: dict[str, Any] = {"step": i, "lr": lr, "loss": loss_value, "smoothed_loss": None}
            if not math.isfinite(loss_value):
                row["smoothed_loss"] = float("nan")
                result.rows.append(row)
                result.stop_reason, result.stop_step = "non_finite", i
                result.message = f"loss became {loss_value} at step {i} (lr {lr:.3g})"
                if on_step:
                    on_step(row)
                break
            avg, smoothed = ema_step(avg, loss_value, beta, i + 1)
            row["smoothed_loss"] = smoothed
            if val is not None and cfg.val_every and (i % cfg.val_every == 0 or i == cfg.num_iter - 1):
                dist.sync_buffers(model)
                val_batches = val.batches(val_bs, shuffle=False, **dist.sharded()) \
                    if hasattr(val, "batches") else loaders.adapted(val, device, "val_loader")
                row[VAL_LOSS], values = engine.evaluate(model, val_batches, loss_fn, precision, val_metrics)
                row.update({f"val_{k}": v for k, v in values.items()})
                model.train()
            result.rows.append(row)
            if on_step:
                on_step(row)
            if i > 0 and diverged(smoothed, best, cfg.diverge_threshold):
                result.stop_reason, result.stop_step = "diverged", i
                result.message = (f"smoothed loss {smoothed:.4g} at step {i} (lr {lr:.3g}) rose more than "
                                  f"{cfg.diverge_threshold:g}x above the best {best:.4g}")
                break
            best = min(best, smoothed)
            if stop_all if stop_all is not None else should_stop is not None and should_stop():
                raise KeyboardInterrupt  # handled below, like a Ctrl-C that arrives mid-step
        else:
            result.message = f"swept all {cfg.num_iter} steps up to end_lr {cfg.end_lr:g} without diverging"
    except KeyboardInterrupt:
        result.stop_reason = "interrupted"
        result.stop_step = len(result.rows)
        done = len(result.rows)
        # where the sweep got to: the last LR it recorded, counted in steps from 1
        where = f"at lr {result.rows[-1]['lr']:.3g} (step {done} of {cfg.num_iter})" if done \
            else f"before its first step (of {cfg.num_iter})"
        result.message = f"interrupted {where}; end_lr {cfg.end_lr:g} not reached"
    finally:
        model.load_state_dict(saved_model)
        optimizer.load_state_dict(saved_optim)
        for p, g in zip(model.parameters(), saved_grads):
            p.grad = g
        batches.close()  # a DataLoader iterator it holds shuts its workers down now, not at GC
        engine.set_rng_state(saved_rng)
        for state in saved_loaders:
            state.restore()
        model.train(was_training)
    return result


# --------------------------------------------------------------------------- the command


def _num_samples(val: Any) -> int | None:
    """Samples in the validation split, or in a DataLoader's dataset (None when unknown)."""
    from ..data.batches import num_samples

    return len(val) if hasattr(val, "subset") else num_samples(val)


def run_find_lr(setup: Any, run: Any, *, config_path: str | None, progress: Any = None) -> dict[str, Any]:
    """Run the range test of `setup` into the run directory `run`; returns summary.json's content.

    Args:
        setup: what build.build() made from the config.
        run: the RunDir, already holding config.yaml.
        config_path: the config file given on the command line (recorded in the summary).
        progress: a rich Progress to show the sweep in, or None.
    """
    import time

    from .. import plots
    from ..loggers import open_loggers
    from ..rundir import now_iso, versions

    cfg = setup.cfg
    fl = cfg.find_lr
    t0 = time.perf_counter()
    val = None
    if fl.val_every and setup.data.val is not None:
        val = setup.data.val
        if hasattr(val, "subset"):  # a split; a DataLoader from the Python API is used whole
            val = val.subset(min(fl.val_samples, len(val)))
    summary: dict[str, Any] = {
        "status": "running", "command": "find-lr", "config": config_path, "started": now_iso(),
        "ended": None, "device": str(setup.device), "seed": cfg.seed, "precision": cfg.train.precision,
        "versions": versions(),
        "sweep": {"start_lr": fl.start_lr, "end_lr": fl.end_lr, "num_iter": fl.num_iter, "mode": fl.mode,
                  "smooth": fl.smooth, "diverge_threshold": fl.diverge_threshold,
                  "batch_size": cfg.data.batch_size, "accumulate": cfg.train.accumulate,
                  "val_every": fl.val_every if val is not None else 0,
                  "val_samples": _num_samples(val) if val is not None else 0},
    }
    group_lrs = [float(g["lr"]) for g in setup.optimizer.param_groups]
    if len(group_lrs) > 1:  # the sweep keeps these LR ratios to group 0; --lr-from keeps them too
        summary["sweep"]["lr_ratios"] = [lr / group_lrs[0] if group_lrs[0] else 1.0 for lr in group_lrs]
        # which parameters each configured group took (--lr-from refuses other groups; the snippet names them)
        matches = [g.get("match") for g in cfg.optimizer.kwargs.get("param_groups") or [] if isinstance(g, dict)]
        if len(matches) == len(group_lrs) - 1:  # find_lr() from Python: torch groups with no match
            summary["sweep"]["group_match"] = matches
    if dist.is_distributed():  # batch_size is per rank
        summary["sweep"].update(world_size=dist.world_size(), global_batch_size=cfg.data.batch_size * dist.world_size())
    run.write_summary(summary)
    loggers = open_loggers(cfg, run, command="find-lr")
    summary.update(run.read_summary())  # what the loggers recorded (the MLflow run id)
    # the range test measures the first configured metric next to val_loss (metric-vs-LR)
    first = setup.metric_names[:1]
    metric_col = setup.metric_columns[0] if first else None
    val_metrics = None
    if val is not None and first:
        from ..metrics import MetricSet

        val_metrics = MetricSet(first, *setup.task, device=setup.device, probabilities=setup.probabilities)
    columns = FIND_COLUMNS + (find_val_columns(metric_col) if val is not None else ())
    task = progress.add_task("range test", total=fl.num_iter) if progress is not None else None
    log = run.csv(LR_FIND_CSV, columns)

    def on_step(row: dict[str, Any]) -> None:
        log.write(row)
        if progress is not None:
            progress.update(task, advance=1, description=f"lr {row['lr']:.2e}  loss {row['loss']:.4g}")

    t_sweep = time.perf_counter()
    stop = StopFlag()  # SIGINT/SIGTERM/SIGHUP end the sweep after the current step, keeping the curve
    # installed until the summary is written: no signal leaves the run marked running
    with stop.installed():
        try:
            result = range_test(setup.model, setup.optimizer, setup.loss_fn, setup.data.train, fl,
                                augment=setup.augment,
                                batch_size=cfg.data.batch_size, precision=setup.precision,
                                generator=setup.generator, accumulate=cfg.train.accumulate,
                                grad_clip=cfg.train.grad_clip, val=val, on_step=on_step,
                                should_stop=lambda: stop.signal is not None, net=setup.net,
                                eval_batch_size=cfg.data.eval_batch_size, val_metrics=val_metrics,
                                device=setup.device)
            if result.stop_reason == "interrupted":
                log.abandon()  # a row cut by the signal is dropped, never left half
            else:
                log.close()
        except Exception as e:
            _fail(run, summary, log, stop, e, loggers)
        sweep_s = time.perf_counter() - t_sweep
        rows = result.rows
        val_col = f"val_{metric_col}" if metric_col else None
        val_rows = [r for r in rows if val_col and r.get(val_col) is not None]
        advice = suggest([r["lr"] for r in rows], [r["smoothed_loss"] for r in rows],
                         diverged_at_end=result.stop_reason in ("diverged", "non_finite"), num_iter=fl.num_iter,
                         val_lrs=[r["lr"] for r in val_rows], val_metric=[r[val_col] for r in val_rows],
                         metric=val_col or "", partial=result.stop_reason == "interrupted")
        summary.update(advice)
        summary["stop"] = {"reason": result.stop_reason, "step": result.stop_step, "message": result.message,
                           "steps_run": len(rows)}
        if result.stop_reason == "interrupted":
            name = stop.name
            summary["stop"].update(signal=name, message=f"stopped by {name}: {result.message}")
        summary["status"] = "interrupted" if result.stop_reason == "interrupted" else "completed"
        summary["ended"] = now_iso()
        summary["timings"] = {"sweep_s": round(sweep_s, 3), "total_s": round(time.perf_counter() - t0, 3),
                              "s_per_step": round(sweep_s / max(1, len(rows)), 5)}
        with stop.shielded():  # the result first: a failing plot, a full disk or a signal never costs it
            run.write_summary(summary)
        if rows and run.writes:  # under torchrun: rank 0 only
            title = f"LR range test: {cfg.model.name} on {cfg.data.name} ({result.stop_reason})"
            try:
                plots.plot_lr_find(rows, advice, run.file("lr_find.png"), title=title, log_x=fl.mode == "exp",
                                   metric=val_col)
            except KeyboardInterrupt:
                print("lrtool: warning: lr_find.png skipped (interrupted)", file=sys.stderr)
            except Exception as e:  # noqa: BLE001 - the result is written; the figure is a view of it
                print(f"lrtool: warning: could not draw {run.file('lr_find.png')}: {one_line(e)}", file=sys.stderr)
        loggers.log_find_lr(rows, advice)
        loggers.finish(summary["status"], summary)
    return summary


def _fail(run: Any, summary: dict[str, Any], log: Any, stop: StopFlag, e: Exception, loggers: Any) -> None:
    """End a range test that raised: the status first, then the log (which may fail again), then RunFailed."""
    from ..errors import RunFailed
    from ..rundir import now_iso

    error = f"{type(e).__name__}: {e}"
    summary.update(status="failed", ended=now_iso(), error=error)
    also = ""
    with stop.shielded():
        try:
            run.write_summary(summary)
        except OSError as e2:  # even the status could not be written (a full disk): say so
            also = f"; {one_line(e2)} could not be updated either"
        log.abandon()  # closes without raising again; a torn last row is cut
    loggers.finish("failed", summary)
    hint = "after fixing it, run find-lr again; " if isinstance(e, OSError) else ""
    raise RunFailed(f"range test failed: {error}{also}; {hint}logs kept in {run.path}") from e

"""The public Python API: the range test on your own model and DataLoader, lrtool's schedules as a torch
scheduler in your own loop, and thin calls of what the command line does.

Everything here is exported from ``lrtool`` itself (``lrtool.find_lr``, ``lrtool.scheduler``, ...).
Bad arguments raise ``lrtool.LrtoolError`` with the CLI's one-line message, naming the key.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from ..errors import LrtoolError
from .range_test import RangeTest, find_lr

if TYPE_CHECKING:  # pragma: no cover - typing only; the functions import them when called
    import pandas as pd
    import torch

    from ..config import Config

__all__ = ["find_lr", "RangeTest", "scheduler", "preview", "compare", "load_config", "train"]


# --------------------------------------------------------------------------- schedules


def _section(spec: str | dict[str, Any], kwargs: dict[str, Any], where: str) -> dict[str, Any]:
    """The `schedule:` section of a name + keyword arguments, or of a dict (+ arguments)."""
    if isinstance(spec, str):
        return {"name": spec, **kwargs}
    if isinstance(spec, dict):
        both = sorted(set(spec) & set(kwargs))
        if both:
            raise LrtoolError(f"{where}: {both[0]} given both in the spec and as an argument; give it once")
        return {**spec, **kwargs}
    raise LrtoolError(f"{where}: spec: expected a schedule name or a schedule section (dict), "
                      f"got {type(spec).__name__}")


def scheduler(optimizer: "torch.optim.Optimizer", spec: str | dict[str, Any], *, steps_per_epoch: int,
              epochs: int, **kwargs: Any) -> "torch.optim.lr_scheduler.LRScheduler":
    """lrtool's schedule as a torch LRScheduler, stepped once per optimizer step.

    ``scheduler(opt, "onecycle", steps_per_epoch=len(loader), epochs=10, max_lr=0.1)`` or
    ``scheduler(opt, {"name": "cosine", "warmup": "1 epoch"}, ...)`` (the config's ``schedule:``
    section: any schedule name, warmup, interval, blocks; see ``lrtool.schedules``). The LR of step k
    is exactly row k of ``preview(...)`` and of ``lrtool preview``; momentum (or Adam's beta1) cycles
    when the schedule cycles it (cyclic, onecycle). Base LRs are the optimizer's group LRs.

    In your loop: ``optimizer.step(); sched.step()`` every step; plateau schedules also take the
    metric once per epoch: ``sched.step(val_loss)`` at the epoch's last step, or
    ``sched.observe(val_loss)`` after it. It saves and resumes with ``state_dict()``/
    ``load_state_dict()`` (plain data: ``torch.load(weights_only=True)`` reads it). Lightning: return
    ``{"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}`` from
    ``configure_optimizers`` (plateau: ``self.lr_schedulers().observe(val_loss)`` in
    ``on_validation_epoch_end``). Hugging Face: ``Trainer(..., optimizers=(opt, sched))``, with
    steps_per_epoch in optimizer steps (batches / gradient_accumulation_steps); it never passes a
    metric, so plateau schedules do not fit it.

    Args:
        optimizer: the optimizer to drive.
        spec: a schedule name (then ``kwargs`` are its arguments) or a ``schedule:`` section dict.
        steps_per_epoch: optimizer steps per epoch (>= 1).
        epochs: epochs of the run (>= 1); durations like "30%" and the default lengths use them.
        **kwargs: schedule arguments (merged into a dict spec; each given once).

    Returns:
        An ``lrtool.run.lr_scheduler.LrtoolScheduler`` (a torch LRScheduler subclass).

    Raises:
        LrtoolError: an unknown schedule or argument, or a plan the schedule cannot run (one line,
        naming the key, e.g. "schedule.max_lr: ...").
    """
    from ..run.lr_scheduler import LrtoolScheduler
    from ..schedules import Plan, resolve_schedule

    spec_ = resolve_schedule(_section(spec, kwargs, "scheduler"))
    return LrtoolScheduler(optimizer, spec_, Plan(steps_per_epoch, epochs))


def preview(spec: str | dict[str, Any], *, steps_per_epoch: int, epochs: int, lr: float | Sequence[float] = 1.0,
            momentum: float | Sequence[float] | None = None, optimizer: Any = None,
            **kwargs: Any) -> "pd.DataFrame":
    """The LR (and momentum) of every optimizer step of a schedule, without training (``lrtool preview``).

    Args:
        spec, steps_per_epoch, epochs, **kwargs: as for ``scheduler``.
        lr: the optimizer's LR (one per param group, or one for all); default 1.0, so the curve reads
            as a factor of it. Ignored when ``optimizer`` is given.
        momentum: the optimizer's momentum or beta1 (enables momentum cycling), or None.
        optimizer: take LRs and momenta from this optimizer's param groups instead.

    Returns:
        A DataFrame with one row per step: step, epoch, lr (group 0), lr/pg<i> with several groups,
        momentum when it cycles. Plateau schedules show the curve before any reduction.

    Raises:
        LrtoolError: as for ``scheduler``.
    """
    import pandas as pd

    from ..schedules import Plan, resolve_schedule
    from ..schedules import preview as rows_of

    if optimizer is not None:
        from ..run.plan import base_momenta

        if not hasattr(optimizer, "param_groups"):  # e.g. the name "Adam": the optimizer itself is needed
            raise LrtoolError(f"preview: optimizer: expected a torch.optim.Optimizer (its param groups give the "
                              f"LRs), got {type(optimizer).__name__} {optimizer!r}; for plain numbers use lr=")

        lrs = [float(g.get("initial_lr", g["lr"])) for g in optimizer.param_groups]
        momenta = base_momenta(optimizer)
    else:
        lrs = [float(v) for v in lr] if isinstance(lr, (list, tuple)) else [float(lr)]
        momenta = None if momentum is None else \
            [float(v) for v in momentum] if isinstance(momentum, (list, tuple)) else [float(momentum)] * len(lrs)
    spec_ = resolve_schedule(_section(spec, kwargs, "preview"))
    return pd.DataFrame(rows_of(spec_, lrs, Plan(steps_per_epoch, epochs), momenta))


# --------------------------------------------------------------------------- what the CLI does


def compare(paths: str | Path | Sequence[str | Path], *, target: str | None = None, metric: str | None = None,
            individual: bool = False, out: str | Path | None = None) -> "pd.DataFrame":
    """Finished (or interrupted) runs side by side: the table of ``lrtool compare --format csv``.

    Args:
        paths: run directories or globs (``"runs/digits-*"``); train and find-lr runs.
        target: "METRIC=VALUE": steps/epochs/seconds each run needed to reach it.
        metric: ranks the rows, best first (a column of the runs: val_acc, val_loss, val_mae, ...);
            None: the runs' own monitor, as `lrtool compare`.
        individual: also list each run of a seed group.
        out: also write comparison.csv/.md and the plots there (as ``lrtool compare --out``); None:
            nothing is written.

    Returns:
        A DataFrame, one row per run or seed group, with the differing config keys as columns.
        Unreadable runs are skipped with a warning (``warnings.warn``).

    Raises:
        LrtoolError: no runs found, a bad metric or target.
    """
    from ..compare import build_comparison, load_runs, machine_table, parse_target, write_outputs

    patterns = [str(paths)] if isinstance(paths, (str, Path)) else [str(p) for p in paths]
    runs, problems = load_runs(patterns)
    for problem in problems:
        warnings.warn(problem, stacklevel=2)
    cmp = build_comparison(runs, target=parse_target(target) if target else None, metric=metric,
                           individual=individual)
    if out is not None:
        write_outputs(cmp, out)
    return machine_table(cmp)


# train's keywords that stand for a command-line option of `lrtool train` (-> the config key it sets)
_OPTION_KEYS = {"epochs": "train.epochs", "device": "device", "loggers": "train.loggers"}
# `lrtool train` options that run several runs or reopen one: the Python API runs one new run per call
_CLI_ONLY = {
    "seeds": "one run per call: pass seed=N (a sweep over seeds is `lrtool train --seeds`)",
    "resume": "resuming is `lrtool train --resume RUN_DIR`",
    "allow_changes": "resuming is `lrtool train --resume RUN_DIR --allow-changes`",
    "jobs": "one run per call: parallel sweeps are `lrtool train --jobs`",
    "launcher": "one run per call: sweeps on Ray are `lrtool train --launcher ray`",
    "member": "one run per call: sweep members are `lrtool train --member`",
}


def _override_items(fn: str, overrides: dict[str, Any] | Sequence[str],
                    options: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """`a.b=value` items (values as YAML/JSON) and, per dotted key, how the caller named it in Python.

    `overrides` maps config keys (`optimizer.lr` or `optimizer__lr`) to values, or is `a.b=value`
    strings; `options` are the keywords of `_OPTION_KEYS` (None: not given).
    """
    items: list[str] = []
    names: dict[str, str] = {}
    if isinstance(overrides, dict):
        for name, value in overrides.items():
            key = str(name).replace("__", ".")
            items.append(f"{key}={json.dumps(value)}")
            if fn == "train":  # its overrides are keywords: name the keyword as written
                names[key] = f"train({name}=...)" if str(name).isidentifier() else f"train(**{{{str(name)!r}: ...}})"
    elif isinstance(overrides, (str, bytes)) or not isinstance(overrides, Iterable):  # "a=b" would be read per letter
        raise LrtoolError(f"{fn}: overrides: expected a dict {{'optimizer.lr': 3e-3}} or a list of 'KEY=VALUE' "
                          f"strings, got {type(overrides).__name__} {overrides!r:.60}")
    else:
        items += [str(item) for item in overrides]
    for name, value in options.items():
        if value is not None:
            items.append(f"{_OPTION_KEYS[name]}={json.dumps(value)}")
            names[_OPTION_KEYS[name]] = f"{fn}({name}=...)"
    return items, names


def _check_keywords(fn: str, overrides: dict[str, Any]) -> None:
    """Refuse keywords that are neither train's options nor config keys, all of them in one line."""
    from ..config import SECTIONS
    from ..registry import did_you_mean, format_choices

    for name in overrides:
        if name in _CLI_ONLY:
            raise LrtoolError(f"{fn}({name}=...): {_CLI_ONLY[name]}")
    unknown = [name for name in overrides if str(name).replace("__", ".").split(".")[0] not in SECTIONS]
    if unknown:
        valid = ["schedule", "lr_from", "out", "verbose", *_OPTION_KEYS]
        named = ", ".join(f"{str(name)!r}{did_you_mean(str(name), [*valid, *SECTIONS])}" for name in unknown)
        raise LrtoolError(f"{fn}: unknown keyword{'s' if len(unknown) > 1 else ''} {named}; valid keywords: "
                          f"{format_choices(valid)}, or a config key as section__key or **{{'section.key': "
                          f"value}} (sections: {format_choices(SECTIONS)})")


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | Sequence[str] = (), *,
                schedule: str | None = None, lr_from: str | Path | None = None, epochs: int | None = None,
                device: str | None = None, loggers: list[str] | None = None) -> "Config":
    """Read, override and validate a config exactly as the CLI does, component arguments included.

    Args:
        path: the YAML file; None: the built-in quickstart defaults.
        overrides: ``{"optimizer.lr": 3e-3}`` (or ``optimizer__lr``) or ``["optimizer.lr=3e-3"]``, as
            ``--set``; a value None (``null``) removes a component's keyword argument.
        schedule: a schedule name replacing the config's (``--schedule``).
        lr_from: a find-lr run directory whose suggestions fill the LRs (``--lr-from``).
        epochs: train.epochs (``--epochs``).
        device: auto, cpu, cuda, cuda:N or mps (``--device``).
        loggers: train.loggers, e.g. ["tensorboard"] (``--logger``).

    Returns:
        The validated Config (pydantic model; ``.to_dict()`` gives plain data).

    Raises:
        LrtoolError: the CLI's one-line message naming the file or the keyword, and the dotted key.
    """
    return _load("load_config", path, overrides, schedule=schedule, lr_from=lr_from,
                 options={"epochs": epochs, "device": device, "loggers": loggers})


def _load(fn: str, path: str | Path | None, overrides: dict[str, Any] | Sequence[str], *, schedule: str | None,
          lr_from: str | Path | None, options: dict[str, Any]) -> "Config":
    """load_config for the API function `fn`, whose keywords name the overrides in messages."""
    from ..config import check_components
    from ..config import load_config as load

    items, names = _override_items(fn, overrides, options)
    cfg = load(path, items, schedule=schedule, lr_from=lr_from,
               origin=lambda key: names.get(key, f"{fn} overrides {key}"))
    check_components(cfg)  # unknown component arguments now, where the CLI finds them before any work starts
    return cfg


def train(config: "str | Path | Config | None" = None, *, schedule: str | None = None,
          lr_from: str | Path | None = None, epochs: int | None = None, device: str | None = None,
          loggers: list[str] | None = None, out: str | Path | None = None, verbose: bool = True,
          **overrides: Any) -> dict[str, Any]:
    """Train as ``lrtool train`` does (same run directory, logs, plots and checkpoints): one run per call.

    Args:
        config: a YAML path, a Config from load_config, or None (the quickstart defaults).
        schedule, lr_from, epochs, device, loggers: as ``--schedule``, ``--lr-from``, ``--epochs``,
            ``--device``, ``--logger`` (with a path or None only).
        out: the run directory (new or empty); None: runs/<config>-<schedule>-<time>.
        verbose: print the one-line progress messages the CLI prints.
        **overrides: config keys as ``--set`` takes them, dotted via ``**{"optimizer.lr": 0.1}`` or
            with ``__`` (``optimizer__lr=0.1``, ``seed=1``); None removes a component's keyword
            argument. With a path or None only. The sweep and resume options of the CLI (seeds,
            resume, jobs, ...) are refused: call train once per run.

    Returns:
        summary.json's content, plus "run_dir" (the run directory's path).

    Raises:
        LrtoolError: a bad config or keyword (one line, naming the keyword); RunFailed: the run failed
        after it started.
    """
    from ..commands.train import run_training
    from ..config import Config

    if isinstance(config, Config):
        given = [k for k, v in {"schedule": schedule, "lr_from": lr_from, "epochs": epochs, "device": device,
                                "loggers": loggers}.items() if v is not None] + list(overrides)
        if given:
            raise LrtoolError(f"train({given[0]}=...): overrides and options need a config path (or None); for a "
                              "Config, pass them to load_config(path, overrides, schedule=..., ...)")
        cfg, stem = config, "python"
    else:
        _check_keywords("train", overrides)
        cfg = _load("train", config, overrides, schedule=schedule, lr_from=lr_from,
                    options={"epochs": epochs, "device": device, "loggers": loggers})
        stem = Path(config).stem if config is not None else "quickstart"
    result = run_training(cfg, out=out, stem=stem, config_path=str(config) if isinstance(config, (str, Path))
                          else None, echo=print if verbose else (lambda line: None))
    return {**result.summary, "run_dir": str(result.run_dir)}

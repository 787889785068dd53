"""`lrtool find-lr`: build the run, make its directory, run the range test."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from . import RunResult


def find_lr(config: Path | None, overrides: list[str], *, out: Path | None,
            progress: Callable[[], Any] | None = None) -> RunResult:
    """Run an LR range test of `config` into a new run directory.

    Args:
        config: the YAML config file, or None for the quickstart defaults.
        overrides: `key=value` items (--set and the dedicated options).
        out: the run directory to create, or None for runs/<stem>-find-lr-<time>.
        progress: makes a rich Progress (a context manager) to show the sweep in, once the run is
            built and its directory made; or None for no display.

    Returns:
        The RunResult; raises LrtoolError for bad input, RunFailed when the sweep fails.
    """
    from ..config import dump_config, load_config
    from ..loggers import check_loggers
    from ..run.build import build
    from ..run.finder import run_find_lr
    from ..rundir import RunDir

    cfg = load_config(config, overrides)
    check_loggers(cfg.train.loggers)  # a missing extra is a usage error, before any work
    # the metrics are measured only with validation (metric-vs-LR): without it torchmetrics is not loaded
    setup = build(cfg, metrics_measured=None if cfg.find_lr.val_every > 0 else False, picks_best=False)
    run = RunDir.create(out, Path(config).stem if config else "quickstart", "find-lr")
    with run.lock("find-lr"):
        run.write_config(dump_config(cfg))
        if setup.data.classes:
            run.write_classes(setup.data.classes)
        config_path = str(config) if config else None
        if progress is None:
            return RunResult(run_find_lr(setup, run, config_path=config_path), run.path)
        with progress() as bar:
            summary = run_find_lr(setup, run, config_path=config_path, progress=bar)
    return RunResult(summary, run.path)

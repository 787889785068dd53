"""`lrtool preview`: the LR (and momentum) curve of a schedule, with no model and no training.

The steps per epoch come from the same plan as `lrtool train` (run/plan.py), over the real training
split: preview builds the dataset on the CPU to count it (so it imports torch and reads the data).
schedule.csv gets every step, written as it is computed; what is kept in memory for the plot and
the terminal is bounded (see `_Envelope`), and so is the number of steps (MAX_PREVIEW_STEPS).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ExitCode, LrtoolError

# schedule.csv of 10 million steps is ~300 MB and a few minutes of work: beyond any real run's length
MAX_PREVIEW_STEPS = 10_000_000
# rows kept for the plot (a few hundred pixels wide) and the terminal curve; a longer run keeps its envelope
MAX_SHOWN_ROWS = 20_000


@dataclass
class PreviewResult:
    """A schedule's curve and where it was written."""

    schedule: str  # canonical name
    interval: str  # step | epoch
    epochs: int
    steps_per_epoch: int
    total_steps: int
    batch_size: int
    # one per optimizer step: step, epoch, lr (+ momentum, lr/pg<i>); over MAX_SHOWN_ROWS steps, the
    # envelope that _Envelope keeps (schedule.csv holds every step)
    rows: list[dict[str, Any]]
    needs_metric: bool  # a plateau schedule: the real curve depends on the metrics
    monitor: str | None
    run_dir: Path
    exit_code: ExitCode = ExitCode.OK
    notes: list[str] = field(default_factory=list)  # warnings about a legal but suspicious plan

    @property
    def lrs(self) -> list[float]:
        return [r["lr"] for r in self.rows]


class _Envelope:
    """The rows to keep of a curve of `total` steps: all of them up to `limit`; beyond, the first and
    last row and the lowest- and highest-LR row of each of limit/2 equal runs of steps, so every
    peak and trough the plot or the terminal can show is kept."""

    def __init__(self, total: int, limit: int = MAX_SHOWN_ROWS):
        self.size = max(1, math.ceil(total / max(1, limit // 2)))
        self.kept: list[dict[str, Any]] = []
        self._bucket: list[dict[str, Any]] = []  # the current run's lowest and highest row (or all)
        self._n = 0

    def add(self, row: dict[str, Any]) -> None:
        if self.size == 1:
            self.kept.append(row)
            return
        if not self.kept and not self._bucket:
            self.kept.append(row)  # the first row: "first lr" is shown
        elif not self._bucket:
            self._bucket = [row, row]
        else:
            lo, hi = self._bucket
            self._bucket = [row if row["lr"] < lo["lr"] else lo, row if row["lr"] > hi["lr"] else hi]
        self._last = row
        self._n += 1
        if self._n == self.size:
            self._flush()

    def _flush(self) -> None:
        for row in sorted({id(r): r for r in self._bucket}.values(), key=lambda r: r["step"]):
            self.kept.append(row)
        self._bucket, self._n = [], 0

    def rows(self) -> list[dict[str, Any]]:
        """The kept rows in step order (the last row included)."""
        if self.size > 1:
            self._flush()
            if self.kept[-1] is not self._last:
                self.kept.append(self._last)
        return self.kept


def preview(config: Path | None, overrides: list[str], *, schedule: str | None, lr_from: Path | None,
            out: Path | None) -> PreviewResult:
    """Compute a schedule's curve for the run `config` describes; write schedule.csv, schedule.png, config.yaml.

    Args:
        config: the YAML file, or None for the quickstart defaults.
        overrides: `key=value` items (--set and the dedicated options).
        schedule: --schedule, or None.
        lr_from: --lr-from (a find-lr run), or None.
        out: the run directory to create, or None for runs/<stem>-preview-<schedule>-<time>.

    Returns:
        The PreviewResult; raises LrtoolError for bad input (more than MAX_PREVIEW_STEPS steps included).
    """
    from .. import plots
    from ..config import dump_config, load_config
    from ..run.build import build_dataset
    from ..run.plan import build_run_schedule, make_plan
    from ..rundir import RunDir
    from ..rundir.columns import SCHEDULE_CSV, is_lr_group, schedule_columns
    from ..schedules import preview_rows, resolve_schedule

    cfg = load_config(config, overrides, schedule=schedule, lr_from=lr_from)
    spec = resolve_schedule(cfg.schedule.model_dump())
    data = build_dataset(cfg)
    plan = make_plan(cfg, data.train)
    if plan.total_steps > MAX_PREVIEW_STEPS:
        raise LrtoolError(f"train.epochs: preview computes every step, and {plan.epochs} epochs x "
                          f"{plan.steps_per_epoch} steps = {plan.total_steps:,} steps; expected at most "
                          f"{MAX_PREVIEW_STEPS:,} (preview fewer epochs with --epochs)")
    sched = build_run_schedule(cfg, plan, has_val=data.val is not None)
    rows = preview_rows(spec, plan.base_lrs, plan.schedule_plan, plan.momenta)
    first = next(rows)
    run = RunDir.create(out, Path(config).stem if config else "quickstart", f"preview-{sched.name}")
    run.write_config(dump_config(cfg))
    columns = schedule_columns("momentum" in first, [k for k in first if is_lr_group(k)])
    shown = _Envelope(plan.total_steps)
    with run.csv(SCHEDULE_CSV, columns) as log:
        for row in itertools.chain([first], rows):
            log.write({k: row.get(k) for k in columns}, flush=False)  # closing flushes
            shown.add(row)
    kept = shown.rows()
    plots.plot_schedule(kept, run.file("schedule.png"), title=f"{sched.name}: {plan.epochs} epochs x "
                        f"{plan.steps_per_epoch} steps", boundaries=sched.boundaries())
    return PreviewResult(schedule=sched.name, interval=sched.interval, epochs=plan.epochs,
                         steps_per_epoch=plan.steps_per_epoch, total_steps=plan.total_steps,
                         batch_size=plan.batch_size, rows=kept, needs_metric=sched.needs_metric,
                         monitor=getattr(sched, "monitor", None), run_dir=run.path, notes=sched.notes)

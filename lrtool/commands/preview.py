"""`lrtool preview`: the LR (and momentum) curve of a schedule, with no model and no training.

The steps per epoch come from the same plan as `lrtool train` (run/plan.py), over the real training
split: preview builds the dataset on the CPU to count it (so it imports torch and reads the data).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ExitCode


@dataclass
class PreviewResult:
    """A schedule's curve and where it was written."""

    schedule: str  # canonical name
    interval: str  # step | epoch
    epochs: int
    steps_per_epoch: int
    total_steps: int
    batch_size: int
    rows: list[dict[str, Any]]  # one per optimizer step: step, epoch, lr (+ momentum, lr/pg<i>)
    needs_metric: bool  # a plateau schedule: the real curve depends on the metrics
    monitor: str | None
    run_dir: Path
    exit_code: ExitCode = ExitCode.OK

    @property
    def lrs(self) -> list[float]:
        return [r["lr"] for r in self.rows]


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
        The PreviewResult; raises LrtoolError for bad input.
    """
    from .. import plots
    from ..config import dump_config, load_config
    from ..run.build import build_dataset
    from ..run.plan import build_run_schedule, make_plan
    from ..rundir import RunDir
    from ..rundir.columns import SCHEDULE_CSV, is_lr_group, schedule_columns
    from ..schedules import preview as schedule_rows
    from ..schedules import resolve_schedule

    cfg = load_config(config, overrides, schedule=schedule, lr_from=lr_from)
    spec = resolve_schedule(cfg.schedule.model_dump())
    plan = make_plan(cfg, build_dataset(cfg).train)
    sched = build_run_schedule(cfg, plan)
    rows = schedule_rows(spec, plan.base_lrs, plan.schedule_plan, plan.momenta)
    run = RunDir.create(out, Path(config).stem if config else "quickstart", f"preview-{sched.name}")
    run.write_config(dump_config(cfg))
    columns = schedule_columns("momentum" in rows[0], [k for k in rows[0] if is_lr_group(k)])
    with run.csv(SCHEDULE_CSV, columns) as log:
        for row in rows:
            log.write({k: row.get(k) for k in columns})
    plots.plot_schedule(rows, run.file("schedule.png"), title=f"{sched.name}: {plan.epochs} epochs x "
                        f"{plan.steps_per_epoch} steps", boundaries=sched.boundaries())
    return PreviewResult(schedule=sched.name, interval=sched.interval, epochs=plan.epochs,
                         steps_per_epoch=plan.steps_per_epoch, total_steps=plan.total_steps,
                         batch_size=plan.batch_size, rows=rows, needs_metric=sched.needs_metric,
                         monitor=getattr(sched, "monitor", None), run_dir=run.path)

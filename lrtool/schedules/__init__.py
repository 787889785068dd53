"""Learning-rate schedules as pure functions of the optimizer step.

A schedule never counts anything behind your back: ``Schedule.lr(step)`` is computed in closed form
from the global optimizer step you pass in (0-based), so preview, logging and resume agree exactly.
Only plateau schedules have state (the metric history), kept in ``state_dict()``. This package is pure
Python + ``math``: ``lrtool preview`` runs without torch.

Where things are: ``section`` (the ``schedule:`` config section, ``--schedule``, ``--lr-from``),
``durations`` (units), ``warmup``, ``expr`` (lr_lambda/scale_fn expressions), ``context`` (how a
builder registers and reads its arguments), the curves by family (``decay``, ``restarts``, ``cyclic``,
``plateau``, ``lambdas``), their names (``torch_names``, ``short_names``), ``plan`` (Plan,
ScheduleSpec, Schedule), ``build`` and ``preview``.

Schedules (interval default; arguments and defaults)
----------------------------------------------------
torch classes, with torch's arguments and defaults (``T_max`` and ``total_steps`` default to the run):
  StepLR (epoch), MultiStepLR (epoch), ExponentialLR (epoch), CosineAnnealingLR (epoch),
  CosineAnnealingWarmRestarts (epoch), CyclicLR (step), OneCycleLR (step), ReduceLROnPlateau (epoch
  only; plus ``monitor``), LambdaLR (epoch), MultiplicativeLR (epoch), LinearLR (epoch), ConstantLR
  (epoch), PolynomialLR (epoch). ``lr_lambda`` and CyclicLR's ``scale_fn`` are arithmetic expression
  strings (see ``_Expr``); the variable is the schedule's clock, spelled ``epoch``, ``step`` or ``t``
  (all the same number, as torch passes ``last_epoch``), ``x`` for ``scale_fn``.
Short names (per-group values may be a number or a list with one per param group):
  constant (epoch): factor=1.0
  step (epoch): step_size=a third of the run, gamma=0.1
  multistep (epoch): milestones=["50%", "75%"], gamma=0.1
  exponential (epoch): gamma, or final_factor=0.01 (the factor reached at the end of the run)
  cosine (step): min_lr=0 (alias eta_min), length=the run; then stays at min_lr
  sgdr (step): cycle=first cycle length (default: `cycles` or 4 cycles fill the run), t_mult=1.0
      (float), decay=1.0 (peak factor per restart), min_lr=0, cycles=None (then stays at min_lr),
      restart_warmup=0 (linear ramp from min_lr at each restart)
  cyclic (step): max_lr=optimizer lr, base_lr=max_lr/4, step_size=half cycle (4 epochs, at most half
      the run), step_size_down=step_size, mode=triangular|triangular2|exp_range, gamma (exp_range;
      default decays the amplitude to 1% over the run), cycle_momentum=on when the optimizer has
      momentum/beta1, base_momentum=0.85, max_momentum=0.95
  onecycle (step): max_lr=optimizer lr, pct_start=0.3, div_factor=25, final_div_factor=1e4,
      anneal_strategy=cos, three_phase=False, momentum 0.95->0.85 (as cyclic); total = the run
  plateau (epoch only): monitor=val_loss (mode min; *acc -> max), mode, factor=0.1, patience=10,
      threshold=1e-4, threshold_mode=rel, cooldown=0, min_lr=0, eps=1e-8 (torch's rules)
  poly (step): power=1.0, min_lr=0, length=the run
  warmup_cosine (step): hold=0 (at the peak after warmup), min_lr=0; its warmup is the common one,
      ``{length: "5%", start_factor: 0.01}`` unless the config sets ``warmup``
"Ends at min_lr at the end of the run" means at the step after the last one, like torch and
"""

from __future__ import annotations

import importlib

from .build import build_schedule
from .context import INTERVALS, SCHEDULES
from .plan import Plan, Schedule, ScheduleSpec
from .preview import preview
from .section import choose_schedule, fill_lr_bounds, resolve_schedule

# importing a names module registers its schedules; the order is the order `lrtool list` and error
# messages show them in: torch classes first, then the short names
for _names in ("torch_names", "short_names"):
    importlib.import_module(f"{__name__}.{_names}")

__all__ = ["INTERVALS", "SCHEDULES", "Plan", "Schedule", "ScheduleSpec", "build_schedule",
           "choose_schedule", "fill_lr_bounds", "preview", "resolve_schedule"]

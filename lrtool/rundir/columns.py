"""Column names of the CSVs in a run directory, and which way each metric improves.

Writers build their headers from these tuples and readers (compare, plots, resume) look cells up by
these names, so a renamed column changes here only. The order is the order on disk.
"""

from __future__ import annotations

# steps.csv (train): one row per optimizer step; optional columns go between LR and time_s
STEP = "step"
EPOCH = "epoch"
LR = "lr"
LOSS = "loss"
MOMENTUM = "momentum"
TIME_S = "time_s"
STEP_COLUMNS = (STEP, EPOCH, LR, LOSS)


def lr_group(i: int) -> str:
    """The steps.csv / schedule.csv column of parameter group i's LR (written when there are several)."""
    return f"lr/pg{i}"


def is_lr_group(column: str) -> bool:
    """Whether a column is a per-group LR column (`lr/pg<i>`)."""
    return column.startswith("lr/pg")


def step_columns(momentum: bool, groups: int) -> tuple[str, ...]:
    """The steps.csv header: step, epoch, lr, loss[, momentum][, lr/pg0..], time_s."""
    return STEP_COLUMNS + ((MOMENTUM,) if momentum else ()) + \
        tuple(lr_group(i) for i in range(groups) if groups > 1) + (TIME_S,)


# epochs.csv (train): one row per finished epoch
TRAIN_LOSS, TRAIN_ACC, VAL_LOSS, VAL_ACC = "train_loss", "train_acc", "val_loss", "val_acc"
EPOCH_COLUMNS = (EPOCH, STEP, LR, TRAIN_LOSS, TRAIN_ACC, VAL_LOSS, VAL_ACC, TIME_S)

# lr_find.csv (find-lr): one row per step of the range test, val columns when it measured them
SMOOTHED_LOSS = "smoothed_loss"
FIND_COLUMNS = (STEP, LR, LOSS, SMOOTHED_LOSS)
FIND_VAL_COLUMNS = (VAL_LOSS, VAL_ACC)

# schedule.csv (schedule preview)
SCHEDULE_COLUMNS = (STEP, EPOCH, LR)


def schedule_columns(momentum: bool, groups: list[str]) -> list[str]:
    """The schedule.csv header: step, epoch, lr[, momentum], then the sorted lr/pg<i> columns given."""
    return list(SCHEDULE_COLUMNS) + ([MOMENTUM] if momentum else []) + sorted(groups)


# the file names of a run directory
STEPS_CSV, EPOCHS_CSV, LR_FIND_CSV, SCHEDULE_CSV = "steps.csv", "epochs.csv", "lr_find.csv", "schedule.csv"
SUMMARY_JSON, CONFIG_YAML = "summary.json", "config.yaml"


def higher_is_better(metric: str) -> bool:
    """The one direction rule: losses go down, everything else (accuracies) goes up."""
    return not metric.endswith("loss")

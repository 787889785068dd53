"""Column names of the CSVs in a run directory, and which way each metric improves.

Writers build their headers from these tuples and readers (compare, plots, resume) look cells up by
these names, so a renamed column changes here only. The order is the order on disk.
"""

from __future__ import annotations

from .. import metrics

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


# epochs.csv (train): one row per finished epoch; a column per split and configured metric
# (lrtool/metrics.py names them: accuracy -> acc, so a classifier's columns are train_acc, val_acc)
TRAIN_LOSS, TRAIN_ACC, VAL_LOSS, VAL_ACC = "train_loss", "train_acc", "val_loss", "val_acc"


def epoch_columns(metric_columns: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The epochs.csv header: epoch, step, lr, train_loss, train_<m>..., val_loss, val_<m>..., time_s.

    Args:
        metric_columns: the configured metrics' short column names (acc, f1, mae, ...), in order.
    """
    per_split = tuple(f"{split}_{m}" for split in ("train", "val") for m in ("loss", *metric_columns))
    return (EPOCH, STEP, LR) + per_split + (TIME_S,)


# the header of a classifier with the default metric (accuracy)
EPOCH_COLUMNS = epoch_columns(("acc",))

# lr_find.csv (find-lr): one row per step of the range test, val columns when it measured them
SMOOTHED_LOSS = "smoothed_loss"
FIND_COLUMNS = (STEP, LR, LOSS, SMOOTHED_LOSS)


def find_val_columns(metric_column: str | None) -> tuple[str, ...]:
    """The range test's validation columns: val_loss and val_<first metric> (val_acc for a classifier)."""
    return (VAL_LOSS,) + ((f"val_{metric_column}",) if metric_column else ())


# schedule.csv (schedule preview)
SCHEDULE_COLUMNS = (STEP, EPOCH, LR)


def schedule_columns(momentum: bool, groups: list[str]) -> list[str]:
    """The schedule.csv header: step, epoch, lr[, momentum], then the sorted lr/pg<i> columns given."""
    return list(SCHEDULE_COLUMNS) + ([MOMENTUM] if momentum else []) + sorted(groups)


# the file names of a run directory
STEPS_CSV, EPOCHS_CSV, LR_FIND_CSV, SCHEDULE_CSV = "steps.csv", "epochs.csv", "lr_find.csv", "schedule.csv"
SUMMARY_JSON, CONFIG_YAML, CLASSES_JSON = "summary.json", "config.yaml", "classes.json"


# which way a column improves: lrtool/metrics.py owns the rule (torch-free at import)
higher_is_better = metrics.higher_is_better

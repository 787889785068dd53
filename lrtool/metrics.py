"""Metrics by name through torchmetrics: names, builders, their columns and which way each improves.

The one owner of metrics. `train.metrics: [accuracy, f1, top5, mae, rmse, r2, ...]` names them; each
becomes a `train_<column>` and `val_<column>` column of epochs.csv (accuracy's column is `acc`, so
`train_acc`/`val_acc` keep their names). The direction table below is torch-free so that rundir and
compare (which must not import torch) rank columns by it; tests/test_metrics.py checks it against
torchmetrics' own `higher_is_better` for every metric. torchmetrics is imported only by `MetricSet`.

Metrics accumulate on the device (torchmetrics' states) and are read back only at log points and at the
end of an epoch; under torchrun `compute()` syncs the states of every rank.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from .errors import LrtoolError, one_line
from .registry import did_you_mean

MULTICLASS, MULTILABEL, REGRESSION = "multiclass", "multilabel", "regression"
TASKS = (MULTICLASS, MULTILABEL, REGRESSION)
CLASSIFICATION = (MULTICLASS, MULTILABEL)
SPLITS = ("train", "val", "test")
THRESHOLD = 0.5  # multi-label decisions: a label is on when its probability exceeds this
# batches a MetricSet gathers before one torchmetrics update: an update costs ~0.3 ms of Python per
# metric whatever the batch size, and every metric here sums its states, so one update over the
# concatenated batches gives the same values as one update per batch
BUFFER = 16


@dataclass(frozen=True)
class Spec:
    """One metric name: its column, the tasks it fits, its direction and a line of help."""

    column: str
    tasks: tuple[str, ...]
    higher_is_better: bool
    help: str


SPECS: dict[str, Spec] = {
    "accuracy": Spec("acc", CLASSIFICATION, True,
                     "fraction right: multiclass top-1; multilabel: labels right at threshold 0.5"),
    "f1": Spec("f1", CLASSIFICATION, True, "F1 score, macro average over classes (labels at threshold 0.5)"),
    "precision": Spec("precision", CLASSIFICATION, True, "precision, macro average over classes or labels"),
    "recall": Spec("recall", CLASSIFICATION, True, "recall, macro average over classes or labels"),
    "exact_match": Spec("exact_match", (MULTILABEL,), True, "samples with every label right (threshold 0.5)"),
    "mae": Spec("mae", (REGRESSION,), False, "mean absolute error"),
    "mse": Spec("mse", (REGRESSION,), False, "mean squared error"),
    "rmse": Spec("rmse", (REGRESSION,), False, "root mean squared error"),
    "r2": Spec("r2", (REGRESSION,), True, "coefficient of determination (R^2), averaged over outputs"),
}
ALIASES = {"acc": "accuracy", "f1_score": "f1", "r2_score": "r2", "subset_accuracy": "exact_match"}
TOP_K = re.compile(r"^top(\d+)$")  # top5: the true class among the 5 highest outputs (multiclass)
DEFAULTS = {MULTICLASS: ("accuracy",), MULTILABEL: ("accuracy",), REGRESSION: ("mae", "rmse")}
# the direction of every column lrtool writes, by its name without the split prefix
_COLUMN_HIGHER = {s.column: s.higher_is_better for s in SPECS.values()}


# --------------------------------------------------------------------------- names, columns, directions


def canonical(name: Any, key: str = "train.metrics") -> str:
    """The metric `name` refers to (accuracy, top5, mae, ...); one-line LrtoolError for an unknown one."""
    text = str(name).strip().lower()
    text = ALIASES.get(text, text)
    if text in SPECS:
        return text
    match = TOP_K.match(text)
    if match and int(match.group(1)) >= 1:
        return "accuracy" if int(match.group(1)) == 1 else text
    choices = [*SPECS, "top<k>"]
    raise LrtoolError(f"{key}: unknown metric {name!r}{did_you_mean(text, choices)}; "
                      f"valid choices: {', '.join(choices)}")


def column(name: str) -> str:
    """The short column name of a canonical metric (accuracy -> acc, top5 -> top5)."""
    return SPECS[name].column if name in SPECS else name


def _tasks(name: str) -> tuple[str, ...]:
    return SPECS[name].tasks if name in SPECS else (MULTICLASS,)


def split_column(col: str) -> tuple[str | None, str]:
    """('val', 'acc') for 'val_acc'; (None, col) when it has no split prefix."""
    for split in SPLITS:
        if col.startswith(split + "_"):
            return split, col[len(split) + 1:]
    return None, col


def higher_is_better(col: str) -> bool:
    """Which way a column improves: losses go down, error metrics (mae, rmse, ...) go down, scores go up.

    Args:
        col: a column or metric name with or without its split prefix (val_acc, train_mae, test_loss, r2).

    Returns:
        True when larger values are better. Columns lrtool does not know keep the old rule: up unless
        the name ends in "loss".
    """
    _split, name = split_column(col)
    if name.endswith("loss"):
        return False
    return _COLUMN_HIGHER.get(name, True)


def is_metric_column(col: str) -> bool:
    """Whether an epochs.csv column is a per-split value (train_/val_<loss or metric>)."""
    split, name = split_column(col)
    return split is not None and bool(name)


def catalog_entries() -> list[list[str]]:
    """[name, help] of every metric name, for `lrtool list`."""
    entries = [[name, f"{spec.help} ({', '.join(spec.tasks)}; column {spec.column})"] for name, spec in SPECS.items()]
    entries.append(["top<k>", "the true class among the k highest outputs, e.g. top5 (multiclass; column top<k>)"])
    return entries


# --------------------------------------------------------------------------- the configured metrics


def resolve(names: Sequence[Any] | None, task: str, num_outputs: int, key: str = "train.metrics") -> list[str]:
    """The canonical metric names of a run: the configured ones, checked against the task, or the defaults.

    Args:
        names: train.metrics (None: the task's defaults; []: loss only).
        task: multiclass | multilabel | regression.
        num_outputs: classes, labels or outputs per sample (top-k needs k < classes).
        key: the config key named in errors.

    Returns:
        Canonical names, without duplicates, in the order given.

    Raises:
        LrtoolError: one line for an unknown metric, one that does not fit the task, or a duplicate column.
    """
    if names is None:
        return list(DEFAULTS[task])
    out: list[str] = []
    for i, given in enumerate(names):
        name = canonical(given, f"{key}[{i}]")
        if task not in _tasks(name):
            fits = [n for n in [*SPECS, "top<k>"] if task in _tasks(n.replace("top<k>", "top5"))]
            raise LrtoolError(f"{key}[{i}]: {given!r} does not fit a {task} task; valid for {task}: "
                              f"{', '.join(fits)}")
        match = TOP_K.match(name)
        if match and int(match.group(1)) > num_outputs:
            raise LrtoolError(f"{key}[{i}]: {given!r} needs at least {match.group(1)} classes, "
                              f"the data has {num_outputs}")
        if name in out:
            raise LrtoolError(f"{key}[{i}]: {given!r} is listed twice")
        out.append(name)
    return out


def check_names(names: Sequence[Any] | None, key: str = "train.metrics") -> None:
    """Check metric names before any data is loaded (the task is checked once the data is known)."""
    if names is None:
        return
    seen: list[str] = []
    for i, given in enumerate(names):
        name = canonical(given, f"{key}[{i}]")
        if name in seen:
            raise LrtoolError(f"{key}[{i}]: {given!r} is listed twice")
        seen.append(name)


def epoch_metrics(names: Iterable[str], splits: Sequence[str] = ("train", "val")) -> list[str]:
    """The per-split columns a run measures: train_loss, train_<m>..., val_loss, val_<m>..."""
    return [f"{split}_{c}" for split in splits for c in ("loss", *(column(n) for n in names))]


def default_monitor(names: Sequence[str], has_val: bool) -> str:
    """What picks best.pt when train.monitor is not set: val_<first metric>, else val_loss; without a
    validation split train_loss (a training metric would reward overfitting)."""
    if not has_val:
        return "train_loss"
    return f"val_{column(names[0])}" if names else "val_loss"


def check_monitor(monitor: str, names: Sequence[str], has_val: bool, key: str = "train.monitor") -> str:
    """`monitor` if the run measures it; else a one-line LrtoolError listing what it measures."""
    measured = epoch_metrics(names, ("train", "val") if has_val else ("train",))
    if monitor in measured:
        return monitor
    why = " (no validation split: set data.val_fraction > 0)" if monitor.startswith("val_") and not has_val else ""
    raise LrtoolError(f"{key}: expected one of the measured metrics ({', '.join(measured)}), got {monitor!r}"
                      f"{why}{did_you_mean(monitor, measured)}")


def check_column_form(col: Any, key: str) -> str:
    """A train_/val_<loss or metric> name, checked in form only (before the run knows its metrics)."""
    split, name = split_column(str(col)) if isinstance(col, str) else (None, "")
    if split in ("train", "val") and name:
        if name == "loss":
            return col
        try:
            if column(canonical(name, key)) == name:
                return col
        except LrtoolError:
            pass
    raise LrtoolError(f"{key}: expected train_<metric> or val_<metric> with <metric> loss or a metric's column "
                      f"({', '.join(['loss', *_COLUMN_HIGHER, 'top<k>'])}), got {col!r}")


# --------------------------------------------------------------------------- torchmetrics


def _build(name: str, task: str, n: int, validate: bool) -> Any:
    """The torchmetrics object for one canonical metric name."""
    from torchmetrics import classification as tc
    from torchmetrics import regression as tr

    common = {"validate_args": validate}
    match = TOP_K.match(name)
    if match:
        return tc.MulticlassAccuracy(num_classes=n, top_k=int(match.group(1)), average="micro", **common)
    if task == MULTICLASS:
        cls = {"accuracy": tc.MulticlassAccuracy, "f1": tc.MulticlassF1Score,
               "precision": tc.MulticlassPrecision, "recall": tc.MulticlassRecall}[name]
        return cls(num_classes=n, average="micro" if name == "accuracy" else "macro", **common)
    if task == MULTILABEL:
        if name == "exact_match":
            return tc.MultilabelExactMatch(num_labels=n, threshold=THRESHOLD, **common)
        cls = {"accuracy": tc.MultilabelAccuracy, "f1": tc.MultilabelF1Score,
               "precision": tc.MultilabelPrecision, "recall": tc.MultilabelRecall}[name]
        return cls(num_labels=n, threshold=THRESHOLD, average="micro" if name == "accuracy" else "macro",
                   **common)
    if name == "mae":
        return tr.MeanAbsoluteError()
    if name in ("mse", "rmse"):
        return tr.MeanSquaredError(squared=name == "mse", num_outputs=1)
    return tr.R2Score(multioutput="uniform_average")


def build_metric(name: str, task: str, num_outputs: int, *, validate: bool = False) -> Any:
    """A torchmetrics Metric for a canonical name and task (for tests and callers outside a run).

    Args:
        name: a canonical metric name (see `resolve`).
        task: multiclass | multilabel | regression.
        num_outputs: classes, labels or outputs per sample.
        validate: torchmetrics' validate_args (its checks read values back to the host: off in the loop).

    Returns:
        The torchmetrics.Metric.
    """
    return _build(name, task, num_outputs, validate)


class MetricSet:
    """The running metrics of one split (train, val or test) of a run, on the run's device.

    `update` takes the model output and the target as the loss saw them; it never reads back to the
    host (torchmetrics' argument checks, which do, run once on the first batch: `check_batch`).
    """

    def __init__(self, names: Sequence[str], task: str, num_outputs: int, device: Any = "cpu",
                 probabilities: bool = False):
        """Args: names (canonical), task, num_outputs; probabilities: multi-label outputs are
        probabilities (BCELoss) rather than logits."""
        self.names, self.task, self.num_outputs = list(names), task, num_outputs
        self.probabilities = probabilities
        self.metrics = {column(n): _build(n, task, num_outputs, False).to(device) for n in self.names}
        self.loaded = False  # states put back from a checkpoint (torchmetrics counts no update for them)
        self._pending: list[tuple[Any, Any]] = []  # batches not yet handed to torchmetrics

    def preds(self, out: Any) -> Any:
        """The output as the metrics take it: multi-label decisions already made (0/1), regression in fp32.

        torchmetrics decides whether multi-label outputs are logits by checking their range, a host read
        per batch; the loss already says which they are, so the threshold is applied here instead.
        """
        out = out.detach()
        if self.task == MULTILABEL:
            cut = THRESHOLD if self.probabilities else 0.0  # sigmoid(x) > 0.5  <=>  x > 0
            return (out > cut).long()
        return out.float() if self.task == REGRESSION else out

    def update(self, out: Any, y: Any) -> None:
        """Add one batch (stays on the device; handed to torchmetrics every BUFFER batches)."""
        if not self.metrics:
            return
        y = y.detach()
        self._pending.append((self.preds(out), y.long() if self.task == MULTILABEL
                              else hard_targets(y) if self.task == MULTICLASS else y))
        if len(self._pending) >= BUFFER:
            self._flush()

    def _flush(self) -> None:
        """One torchmetrics update over the pending batches."""
        if not self._pending:
            return
        import torch

        preds = torch.cat([p for p, _ in self._pending])
        target = torch.cat([t for _, t in self._pending])
        self._pending.clear()
        for m in self.metrics.values():
            m.update(preds, target)

    def compute(self) -> dict[str, float]:
        """Each metric's value over everything added since the last reset (a host read; syncs under torchrun)."""
        self._flush()
        values = {}
        for col, m in self.metrics.items():
            if m.update_count == 0 and not self.loaded:  # nothing measured (yet): not a number
                values[col] = float("nan")
                continue
            try:
                with warnings.catch_warnings():  # states put back from a checkpoint count no update
                    warnings.filterwarnings("ignore", message=".*compute.*before the ..update", category=UserWarning)
                    values[col] = float(m.compute())
            except (RuntimeError, ValueError):  # nothing added yet, or too few samples (r2)
                values[col] = float("nan")
        return values

    def reset(self) -> None:
        self.loaded = False
        self._pending.clear()
        for m in self.metrics.values():
            m.reset()

    def state(self) -> dict[str, dict[str, Any]]:
        """The metrics' states summed over every rank (for a checkpoint); all ranks must call it."""
        self._flush()
        out = {}
        for col, m in self.metrics.items():
            with m.sync_context():
                out[col] = {k: v.detach().clone() if hasattr(v, "clone") else list(v)
                            for k, v in m.metric_state.items()}
        return out

    def load_state(self, state: dict[str, dict[str, Any]], zero: bool = False) -> None:
        """Put checkpointed states back (`zero`: start empty, as ranks > 0 do: rank 0 carries the sums)."""
        self.reset()
        if zero:
            return
        self.loaded = True
        for col, saved in (state or {}).items():
            m = self.metrics.get(col)
            if m is None:
                continue
            for k, v in saved.items():
                current = getattr(m, k)
                setattr(m, k, v.to(current.device) if hasattr(v, "to") and hasattr(current, "device") else v)


def hard_targets(y: Any) -> Any:
    """Class probabilities (soft targets (N, C, ...), a multiclass run with CrossEntropyLoss) as their most
    probable class, the class indices torchmetrics' multiclass metrics take; other targets as they are."""
    return y.argmax(dim=1) if y.is_floating_point() and y.dim() >= 2 else y


def check_batch(names: Sequence[str], task: str, num_outputs: int, out: Any, y: Any,
                key: str = "train.metrics", library: bool = True) -> None:
    """Raise a one-line LrtoolError when the first batch's targets or outputs do not fit the metrics.

    Args:
        names: the canonical metric names of the run.
        task: the task the metrics were built for.
        num_outputs: classes, labels or outputs per sample.
        out, y: the model output and the targets of one real batch.
        key: the config key named in errors.
        library: also run torchmetrics' own argument checks on the batch (imports torchmetrics).
    """
    if not names:
        return
    what = f"{y.dtype} targets of shape {tuple(y.shape[1:])} per sample"
    first = names[0]
    if task == MULTICLASS:
        if y.is_floating_point() or y.dim() != 1:
            hint = "; multi-hot targets need data.task: multilabel" if y.dim() == 2 else ""
            raise LrtoolError(f"{key}: {first} for single-label classes needs one integer class index per "
                              f"sample, got {what}{hint}")
        low, high = int(y.min()), int(y.max())  # once, before training: a host read is fine here
        if low < 0 or high >= num_outputs:
            raise LrtoolError(f"{key}: {first} needs class indices in 0..{num_outputs - 1}, got "
                              f"{low if low < 0 else high}")
    elif tuple(y.shape) != tuple(out.shape):
        raise LrtoolError(f"{key}: {first} for a {task} task needs targets shaped like the model output "
                          f"{tuple(out.shape[1:])} per sample, got {what}")
    if not library:
        return
    probe = MetricSet([], task, num_outputs)
    for name in names:  # torchmetrics' own checks, once, on CPU copies
        metric = _build(name, task, num_outputs, True)
        try:
            metric.update(probe.preds(out.detach().cpu()), y.detach().cpu().long() if task == MULTILABEL
                          else y.detach().cpu())
        except (RuntimeError, ValueError) as err:
            raise LrtoolError(f"{key}: {name} does not fit the first batch (outputs {tuple(out.shape)}, "
                              f"{what}): {one_line(err)}") from err


def task_of(data: Any) -> tuple[str, int]:
    """(task, output width) of a dataset: `Data.task` where the data layer sets it, else multiclass."""
    task = getattr(data, "task", None)
    if task is not None and not isinstance(task, str):
        return task.kind, int(task.num_outputs)
    return MULTICLASS, int(data.num_classes)

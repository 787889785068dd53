"""The task a dataset poses (multiclass, multilabel, regression) and the output width it asks of the model.

The data layer is the one owner of this fact: it is read from the targets (or set by `data.task`), and the
model (output width), the loss check and the default metrics all take it from `Data.task`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import LrtoolError

MULTICLASS = "multiclass"
MULTILABEL = "multilabel"
REGRESSION = "regression"
TASKS = (MULTICLASS, MULTILABEL, REGRESSION)


@dataclass(frozen=True)
class Task:
    """What the targets mean and how many outputs per sample the model must give.

    kind: `multiclass` (targets: class indices, int64, shape (N,)), `multilabel` (targets: multi-hot
    float32, shape (N, num_labels)) or `regression` (targets: real values, float32, shape (N, num_outputs)).
    num_outputs: the model's output width: classes, labels or real values per sample.
    """

    kind: str
    num_outputs: int

    def __post_init__(self) -> None:
        if self.kind not in TASKS:
            raise ValueError(f"Task.kind: expected one of ({', '.join(TASKS)}), got {self.kind!r}")
        if isinstance(self.num_outputs, bool) or not isinstance(self.num_outputs, int) or self.num_outputs < 1:
            raise ValueError(f"Task.num_outputs: expected a positive integer, got {self.num_outputs!r}")

    @property
    def num_classes(self) -> int | None:
        """Classes of a multiclass task, else None."""
        return self.num_outputs if self.kind == MULTICLASS else None

    @property
    def num_labels(self) -> int | None:
        """Labels of a multilabel task, else None."""
        return self.num_outputs if self.kind == MULTILABEL else None

    @property
    def target_dtype(self) -> torch.dtype:
        """The dtype targets have in batches: int64 class indices, float32 otherwise."""
        return torch.int64 if self.kind == MULTICLASS else torch.float32

    def describe(self) -> str:
        """e.g. 'multiclass (10 classes)', for messages."""
        unit = {MULTICLASS: "classes", MULTILABEL: "labels", REGRESSION: "outputs"}[self.kind]
        return f"{self.kind} ({self.num_outputs} {unit})"


def infer_task(y: torch.Tensor, kind: str | None = None, *, num_classes: int | None = None,
               key: str = "data.task") -> Task:
    """The task posed by the targets `y` (all of them, shape (N, ...)), or checked against `kind` when given.

    Integer targets of shape (N,) are class indices (multiclass, max + 1 classes unless `num_classes`);
    0/1 targets of shape (N, L) are multi-hot (multilabel); other real-valued targets are regression.

    Args:
        y: the targets of the whole set (or of every split together).
        kind: the task the config asks for (`data.task`), or None to infer it.
        num_classes: the number of classes when the data knows it (e.g. a Dataset's `classes`).
        key: the config key named in errors.

    Returns:
        The Task; raises LrtoolError when `kind` does not fit the targets.
    """
    if kind is not None and kind not in TASKS:
        raise LrtoolError(f"{key}: expected one of ({', '.join(TASKS)}), got {kind!r}")
    integral = not (y.is_floating_point() or y.is_complex())
    per_sample = y.shape[1:]
    if kind is None:
        if integral and y.dim() == 1:
            kind = MULTICLASS
        elif y.dim() == 2 and y.numel() and bool(((y == 0) | (y == 1)).all()):
            kind = MULTILABEL
        elif integral:
            raise LrtoolError(f"{key}: integer targets of shape {tuple(per_sample)} per sample fit no task "
                              f"(class indices are one integer per sample); set {key} to one of "
                              f"({', '.join(TASKS)})")
        else:
            kind = REGRESSION
    if kind == MULTICLASS:
        whole = y.is_floating_point() and bool((y == y.round()).all())
        if y.dim() != 1 or not (integral or whole):
            hint = "; class probabilities (soft targets) need no data.task: CrossEntropyLoss takes them as they are" \
                if y.is_floating_point() and y.dim() == 2 else ""
            raise LrtoolError(f"{key}: multiclass needs one integer class index per sample, got "
                              f"{y.dtype} targets of shape {tuple(per_sample)} per sample{hint}")
        if y.numel() and int(y.min()) < 0:
            raise LrtoolError(f"{key}: class indices must be >= 0, got {int(y.min())}")
        seen = int(y.max()) + 1 if y.numel() else 1
        if num_classes is not None and seen > num_classes:
            raise LrtoolError(f"{key}: class indices must be in 0..{num_classes - 1}, got {seen - 1}")
        return Task(MULTICLASS, max(seen, num_classes or 0, 1))
    if kind == MULTILABEL:
        if y.dim() != 2 or not bool(((y == 0) | (y == 1)).all()):
            raise LrtoolError(f"{key}: multilabel needs multi-hot 0/1 targets of shape (num_labels,) per sample, "
                              f"got {y.dtype} targets of shape {tuple(per_sample)} per sample")
        return Task(MULTILABEL, int(y.shape[1]))
    return Task(REGRESSION, int(torch.Size(per_sample).numel()) if y.dim() > 1 else 1)


def as_targets(y: torch.Tensor, task: Task) -> torch.Tensor:
    """`y` in the dtype and shape the task's batches carry (class indices long; real values float32).

    A 1-D regression target becomes (N, 1), so it lines up with the model's (batch, 1) output: MSELoss on
    (batch, 1) against (batch,) would silently broadcast to (batch, batch).
    """
    if task.kind == MULTICLASS:
        return y.to(torch.int64)
    y = y.to(torch.float32)
    return y.unsqueeze(1) if task.kind == REGRESSION and y.dim() == 1 else y

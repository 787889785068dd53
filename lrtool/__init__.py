"""lrtool: LR range tests, schedules and experiment runs for PyTorch.

From Python (each name is imported on first use, so ``import lrtool`` stays instant and torch-free)::

    import lrtool
    result = lrtool.find_lr(model, optimizer, criterion, train_loader)   # -> RangeTest
    result.lr, result.suggestions, result.plot()
    sched = lrtool.scheduler(optimizer, "onecycle", steps_per_epoch=len(train_loader), epochs=10,
                             max_lr=result.onecycle.max_lr)              # a torch LRScheduler

Also ``preview`` and ``compare`` (DataFrames), ``load_config`` and ``train`` (what the CLI runs).
Bad input raises ``LrtoolError`` with the CLI's one-line message.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import LrtoolError, RunFailed

__version__ = "0.1.0"

__all__ = ["find_lr", "RangeTest", "scheduler", "preview", "compare", "load_config", "train", "LrtoolScheduler",
           "LrtoolError", "RunFailed", "__version__"]
# the names lrtool.api holds; the others are the compare package, the scheduler class and the errors
_API = frozenset(__all__) - {"compare", "LrtoolScheduler", "LrtoolError", "RunFailed", "__version__"}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs; at run time __getattr__ imports them
    from .api import (
        RangeTest,
        find_lr,
        load_config,
        preview,
        scheduler,
        train,
    )
    from .schedules.torch_scheduler import LrtoolScheduler


def __getattr__(name: str) -> Any:
    """Import the public API on first use (torch, pandas and matplotlib load only then)."""
    if name in _API:
        value = getattr(importlib.import_module(".api", __name__), name)
    elif name == "compare":  # the compare package is callable: lrtool.compare(paths) is api.compare
        value = importlib.import_module(".compare", __name__)
    elif name == "LrtoolScheduler":
        value = importlib.import_module(".schedules.torch_scheduler", __name__).LrtoolScheduler
    else:
        raise AttributeError(f"module 'lrtool' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

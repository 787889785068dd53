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
import sys
import types
from typing import Any

from .errors import LrtoolError, RunFailed

__version__ = "0.1.0"

__all__ = ["find_lr", "RangeTest", "scheduler", "preview", "compare", "load_config", "train", "LrtoolScheduler",
           "LrtoolError", "RunFailed", "__version__"]
# the names lrtool.api holds; the others are the compare package, the scheduler class and the errors
_API = frozenset(__all__) - {"compare", "LrtoolScheduler", "LrtoolError", "RunFailed", "__version__"}

def __getattr__(name: str) -> Any:
    """Import the public API on first use (torch, pandas and matplotlib load only then).

    By name (importlib), not by import statement: rundir reads __version__ from here, and the
    layer contracts (pyproject.toml) must not see lower layers depending on the API above them.
    """
    if name in _API:
        value = getattr(importlib.import_module(".api", __name__), name)
    elif name == "compare":  # the compare package is callable: lrtool.compare(paths) is api.compare
        value = importlib.import_module(".compare", __name__)
    elif name == "LrtoolScheduler":
        value = importlib.import_module(".run.lr_scheduler", __name__).LrtoolScheduler
    else:
        raise AttributeError(f"module 'lrtool' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _CallablePackage(types.ModuleType):
    """The compare package, callable: `lrtool.compare(paths, ...)` is the Python API's compare()."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return importlib.import_module(".api", __name__).compare(*args, **kwargs)


class _Lrtool(types.ModuleType):
    """This package's module: when the import system binds the compare subpackage to `lrtool.compare`
    (however it was imported), the package becomes callable too, so both meanings of the name hold."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "compare" and type(value) is types.ModuleType:
            value.__class__ = _CallablePackage  # a ModuleType subclass: the documented way to extend a module
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Lrtool

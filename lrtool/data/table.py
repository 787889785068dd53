"""Tabular data: a CSV or Parquet file read through pandas (`table`), and scikit-learn's embedded tabular sets.

Features are the numeric columns (standardised later with train-split statistics, in normalise.prepare);
a categorical target (strings, or integers under classification) is mapped to class indices 0..K-1 in
sorted order, and the mapping travels with the data (`Raw.classes`) into the run directory.
pandas and scikit-learn are imported by the builders, not at module level (they cost seconds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import checks
from ..errors import LrtoolError, one_line
from .sources import KEY, arg
from .splits import Raw
from .task import MULTICLASS, REGRESSION

SUFFIXES = (".csv", ".parquet", ".pq")


def _columns(key: str, value: Any) -> list[str]:
    """A column name or a list of them."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise checks.fail(key, "a column name or a non-empty list of column names", value)
    return names


def _file(key: str, value: Any) -> Path:
    """The path of a .csv or .parquet file (whether it exists is checked when it is read)."""
    if not isinstance(value, str) or not value:
        raise checks.fail(key, "the path of a .csv or .parquet file", value)
    path = Path(value).expanduser()
    if path.suffix.lower() not in SUFFIXES:
        raise checks.fail(key, f"a file ending in one of ({', '.join(SUFFIXES)})", value)
    return path


def _read(path: Path) -> Any:
    """The file as a pandas DataFrame; one-line errors for missing or unreadable files."""
    import pandas as pd

    if not path.is_file():
        raise LrtoolError(f"{arg('path')}: no such file '{path}'")
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except ImportError as e:
        raise LrtoolError(f"{arg('path')}: reading '{path}' needs a Parquet engine: pip install pyarrow "
                          f"({one_line(e)})") from None
    except Exception as e:  # noqa: BLE001 - pandas raises many kinds for a malformed file
        raise LrtoolError(f"{arg('path')}: cannot read '{path}': {one_line(e, with_type=True)}") from None


@checks.takes(path=_file, features=checks.optional(_columns))
def table(*, seed: int, val_fraction: float, task: str | None, path: Path, target: str | list[str],
          features: list[str] | None = None) -> Raw:
    """Rows of a CSV/Parquet file: `target` column(s) to predict from the numeric `features` (default: all others).

    A non-numeric target (or an integer one, unless data.task is regression) is a classification target;
    a list of 0/1 target columns is multilabel; real-valued targets are regression (data.task overrides).
    """
    target = _columns(arg("target"), target)  # data.target, injected (so not checked by checks.takes)
    frame = _read(path)
    available = [str(c) for c in frame.columns]
    targets = [target] if isinstance(target, str) else list(target)
    for name, wanted in (("target", targets), ("features", features or [])):
        missing = [c for c in wanted if c not in frame.columns]
        if missing:
            raise LrtoolError(f"{arg(name)}: no column(s) ({', '.join(missing)}) in '{path}'; "
                              f"available columns: ({', '.join(available)})")
    features = features if features is not None else [c for c in available if c not in targets]
    numeric = [c for c in available if _is_numeric(frame[c])]
    bad = [c for c in features if c not in numeric]
    if bad:
        raise LrtoolError(f"{arg('features')}: column(s) ({', '.join(bad)}) in '{path}' are not numeric; "
                          f"numeric columns: ({', '.join(c for c in numeric if c not in targets)})")
    if not features:
        raise LrtoolError(f"{arg('features')}: no feature columns left in '{path}' besides the target")
    holes = [c for c in features + targets if frame[c].isna().any()]
    if holes:
        raise LrtoolError(f"{arg('path')}: missing values in column(s) ({', '.join(holes)}) of '{path}'; "
                          "fill or drop them first")
    x = torch.tensor(frame[features].to_numpy(dtype=np.float32))
    if len(targets) == 1 and (not _is_numeric(frame[targets[0]]) or task == MULTICLASS or (
            task is None and _is_integer(frame[targets[0]]))):
        codes, classes = _encode(frame[targets[0]], targets[0])
        return Raw(train=(x, torch.from_numpy(codes)), num_classes=len(classes), task=MULTICLASS, classes=classes)
    bad = [c for c in targets if not _is_numeric(frame[c])]
    if bad:
        raise LrtoolError(f"{arg('target')}: column(s) ({', '.join(bad)}) are not numeric; several target "
                          "columns must be 0/1 labels (multilabel) or real values (regression)")
    y = torch.tensor(frame[targets].to_numpy(dtype=np.float32))
    return Raw(train=(x, y[:, 0] if len(targets) == 1 else y))


def _is_numeric(column: Any) -> bool:
    """Numbers or booleans (what a model can take as a feature)."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return is_numeric_dtype(column.dtype) or is_bool_dtype(column.dtype)


def _is_integer(column: Any) -> bool:
    """Integer or boolean labels: classes unless data.task says regression."""
    from pandas.api.types import is_bool_dtype, is_integer_dtype

    return is_integer_dtype(column.dtype) or is_bool_dtype(column.dtype)


def _encode(column: Any, name: str) -> tuple[np.ndarray, list[Any]]:
    """Class indices of a label column (sorted unique values) and the labels in index order."""
    values = column.to_numpy()
    try:
        classes, codes = np.unique(values, return_inverse=True)
    except TypeError:  # mixed types (numbers and strings) do not sort: compare them as text
        classes, codes = np.unique(values.astype(str), return_inverse=True)
    if len(classes) < 2:
        raise LrtoolError(f"{arg('target')}: column '{name}' has {len(classes)} distinct value(s); "
                          "classification needs at least 2")
    return codes.astype(np.int64), [c.item() if hasattr(c, "item") else c for c in classes]


def _sklearn(loader: str, task: str) -> Raw:
    """One of scikit-learn's embedded tabular sets (shipped with the package: no download)."""
    try:
        import sklearn.datasets
    except ImportError as e:
        raise LrtoolError(f"{KEY.get()}.name: this dataset needs scikit-learn ({one_line(e)})") from None
    bunch = getattr(sklearn.datasets, loader)()
    x = torch.from_numpy(np.asarray(bunch.data, dtype=np.float32))
    if task == REGRESSION:
        return Raw(train=(x, torch.from_numpy(np.asarray(bunch.target, dtype=np.float32))), task=REGRESSION)
    classes = [str(c) for c in bunch.target_names]
    return Raw(train=(x, torch.from_numpy(np.asarray(bunch.target, dtype=np.int64))), num_classes=len(classes),
               task=MULTICLASS, classes=classes)


def _builtin(loader: str, task: str) -> Any:
    """The builder of one scikit-learn set."""

    def build(*, seed: int, val_fraction: float) -> Raw:
        return _sklearn(loader, task)

    build.__doc__ = f"scikit-learn's {loader.removeprefix('load_')} set ({task})"
    return build


breast_cancer = _builtin("load_breast_cancer", MULTICLASS)
wine = _builtin("load_wine", MULTICLASS)
iris = _builtin("load_iris", MULTICLASS)
diabetes = _builtin("load_diabetes", REGRESSION)

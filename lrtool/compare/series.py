"""The curves of compare's overlay plots: one line per run, a mean ± std band per seed group."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from ..rundir import columns as C
from ..smoothing import beta_for_span, ema
from .facts import loss_column
from .load import Run, _num, _rows
from .render import _isnum
from .table import Comparison, _labels

# --------------------------------------------------------------------------- plots


def _x_label(x: str) -> str:
    """Axis label for --x."""
    return {"step": "optimizer step", "epoch": "epoch", "time": "time (s)"}[x]


def _steps_x(run: Run, x: str) -> pd.Series | None:
    """The x values of steps.csv rows for --x."""
    df = run.steps
    if x == "step":
        return df[C.STEP] if C.STEP in df else None
    if x == "time":
        return df[C.TIME_S] if C.TIME_S in df else None
    spe = _num(run.summary.steps_per_epoch)
    if not math.isfinite(spe) and _rows(run.epochs) and C.STEP in run.epochs:
        first_epoch = float(run.epochs[C.EPOCH].iloc[0])
        spe = float(run.epochs[C.STEP].iloc[0]) / first_epoch if first_epoch > 0 else math.nan
    if math.isfinite(spe) and spe > 0 and C.STEP in df:
        return (df[C.STEP] + 1) / spe  # the last step of epoch 1 lands on 1.0, like epochs.csv
    return df[C.EPOCH] + 1 if C.EPOCH in df else None


def _epochs_x(run: Run, x: str) -> pd.Series | None:
    """The x values of epochs.csv rows for --x."""
    col = {"step": C.STEP, "epoch": C.EPOCH, "time": C.TIME_S}[x]
    return run.epochs[col] if col in run.epochs else None


def smooth_loss(loss: pd.Series) -> pd.Series:
    """Debiased EMA over a window that grows with the run, so short and long runs both read well."""
    span = max(1, min(100, len(loss) // 25))
    return pd.Series(ema(loss.astype(float).tolist(), beta_for_span(span)), index=loss.index)


def _curve(run: Run, source: str, ycol: str, x: str, smooth: bool = False) -> pd.DataFrame | None:
    """DataFrame(align, x, y) of one run: aligned on step (steps.csv) or epoch (epochs.csv)."""
    df = run.steps if source == "steps" else run.epochs
    if not _rows(df) or ycol not in df or not df[ycol].notna().any():
        return None
    xs = _steps_x(run, x) if source == "steps" else _epochs_x(run, x)
    align = C.STEP if source == "steps" else C.EPOCH
    if xs is None or align not in df:
        return None
    y = smooth_loss(df[ycol]) if smooth else df[ycol].astype(float)
    out = pd.DataFrame({"align": df[align].astype(float), "x": xs.astype(float), "y": y})
    return out.dropna(subset=["x"]).drop_duplicates("align", keep="last")


def _series(cmp: Comparison, source: str, ycol: str, x: str, smooth: bool = False) -> list[dict[str, Any]]:
    """One plotted series per plain run, one mean line with a ±1 std band per seed group."""
    out = []
    for group, label in zip(cmp.groups, _labels(cmp.groups)):
        runs = [r for r in group if r.command == "train"]
        curves = [(r, c) for r in runs if (c := _curve(r, source, ycol, x, smooth)) is not None]
        if not curves:
            continue
        if len(group) == 1:
            c = curves[0][1]
            out.append({"label": group[0].name, "x": c["x"].tolist(), "y": c["y"].tolist()})
            continue
        # runs of a group share their steps/epochs; align on those, and average x (time) too
        ys = pd.concat([c.set_index("align")["y"] for _, c in curves], axis=1)
        xs = pd.concat([c.set_index("align")["x"] for _, c in curves], axis=1)
        mean, std = ys.mean(axis=1), ys.std(axis=1, ddof=1).fillna(0.0)
        order = xs.mean(axis=1).sort_index()
        out.append({"label": f"{label}, mean ± std", "x": order.tolist(),
                    "y": mean.reindex(order.index).tolist(),
                    "band": ((mean - std).reindex(order.index).tolist(),
                             (mean + std).reindex(order.index).tolist()),
                    "members": ([(c["x"].tolist(), c["y"].tolist()) for _, c in curves]
                                if cmp.individual else [])})
    return out


def write_plots(cmp: Comparison, out: Path, x: str = "step") -> list[str]:
    """Overlay plots of what the runs have; returns the file names written.

    Args:
        cmp: the comparison.
        out: the output directory.
        x: x axis of the train plots: step, epoch or time.

    Returns:
        Names of the PNGs written (lr, train_loss, val_acc, val_loss, lr_find), only for data present.
    """
    from .. import plots

    written = []
    xl = _x_label(x)
    specs = [("lr.png", "steps", C.LR, False, "learning rate", "Learning rate"),
             ("train_loss.png", "steps", C.LOSS, True, "training loss (smoothed)", "Training loss"),
             ("val_acc.png", "epochs", C.VAL_ACC, False, "validation accuracy", "Validation accuracy"),
             ("val_loss.png", "epochs", C.VAL_LOSS, False, "validation loss", "Validation loss")]
    for name, source, ycol, smooth, ylabel, title in specs:
        series = _series(cmp, source, ycol, x, smooth)
        if series:
            plots.plot_overlay(series, out / name, xlabel=xl, ylabel=ylabel, title=title,
                               log_y=ycol == C.LR, markers=source == "epochs")
            written.append(name)
    curves = []
    for r in cmp.runs:
        if r.command != "find-lr" or not _rows(r.lr_find) or C.LR not in r.lr_find:
            continue
        df = r.lr_find
        sugg = {k: (float(v.lr), float(v.loss)) for k, v in (r.summary.suggestions or {}).items()
                if v is not None and _isnum(_num(v.lr)) and _isnum(_num(v.loss))}
        curves.append({"label": r.name, "lr": df[C.LR].astype(float).tolist(),
                       "loss": df[loss_column(df)].astype(float).tolist(), "suggestions": sugg})
    if curves:
        log_x = all(r.config.get("find_lr.mode", "exp") == "exp" for r in cmp.runs if r.command == "find-lr")
        plots.plot_lr_find_overlay(curves, out / "lr_find.png", log_x=log_x)
        written.append("lr_find.png")
    return written

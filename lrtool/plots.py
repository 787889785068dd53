"""Every matplotlib figure lrtool draws, rendered headless (Agg) to PNG files."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from .rundir import atomic_write, read_csv_frame
from .rundir import columns as C
from .smoothing import ema

MARKERS = {"steepest": ("tab:red", "v"), "valley": ("tab:green", "o"), "valley_trimmed": ("tab:olive", "o"),
           "minimum": ("tab:purple", "s")}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)  # no display needed, ever
    import matplotlib.pyplot as plt

    return plt


def _finite(xs: Sequence[Any]) -> list[float]:
    return [float(x) if x is not None and x == x and math.isfinite(float(x)) else math.nan for x in xs]


def _save(fig: Any, path: Path) -> None:
    """Write the figure as PNG; a reader never sees half a PNG."""
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"), fsync=False)


def plot_schedule(rows: list[dict[str, Any]], path: Path, title: str = "",
                  boundaries: Sequence[tuple[int, str]] = ()) -> None:
    """LR (and momentum) vs optimizer step, with phase boundaries and restarts marked."""
    plt = _pyplot()
    has_mom = any(C.MOMENTUM in r for r in rows)
    fig, axes = plt.subplots(2 if has_mom else 1, 1, figsize=(7, 5.5 if has_mom else 3.6), sharex=True,
                             squeeze=False)
    ax = axes[0][0]
    steps = [r[C.STEP] for r in rows]
    groups = sorted({k for r in rows for k in r if C.is_lr_group(k)})
    for g in groups or [C.LR]:
        ax.plot(steps, [r.get(g) for r in rows], lw=1.6, label=g if groups else C.LR)
    for i, (step, label) in enumerate(boundaries):
        ax.axvline(step, color="grey", ls=":", lw=0.8, label="phase boundary / restart" if i == 0 else None)
    ax.set_ylabel("learning rate")
    ax.set_title(title or "learning-rate schedule")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    if has_mom:
        ax2 = axes[1][0]
        ax2.plot(steps, [r.get(C.MOMENTUM) for r in rows], color="tab:orange", lw=1.6, label="momentum")
        ax2.set_ylabel("momentum / beta1")
        ax2.grid(True, alpha=0.3)
        ax2.legend(fontsize=8)
    axes[-1][0].set_xlabel("optimizer step")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_training(run_dir: Path, written: list[str] | None = None) -> list[str]:
    """lr.png, loss.png and metrics.png of a train run, drawn from its steps.csv and epochs.csv.

    Args:
        run_dir: the run directory.
        written: a list each figure's name is appended to once it is saved, so a caller whose drawing
            is stopped part way (a signal, an error) still knows which figures are there.

    Returns:
        The names of the figures written (those whose CSV has rows).
    """
    run_dir = Path(run_dir)
    plt = _pyplot()
    written = [] if written is None else written
    steps = read_csv_frame(run_dir / C.STEPS_CSV)
    if steps is not None and len(steps):
        rows = steps.to_dict("records")
        plot_schedule(rows, run_dir / "lr.png", title="learning rate used at each step")
        written.append("lr.png")
        fig, ax = plt.subplots(figsize=(7, 3.8))
        loss = steps[C.LOSS]
        ax.plot(steps[C.STEP], loss, color="tab:blue", alpha=0.3, lw=1, label="loss")
        ax.plot(steps[C.STEP], ema(list(loss)), color="tab:blue", lw=2, label="smoothed (EMA 0.9)")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("training loss")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        _save(fig, run_dir / "loss.png")
        plt.close(fig)
        written.append("loss.png")
    epochs = read_csv_frame(run_dir / C.EPOCHS_CSV)
    if epochs is not None and len(epochs):
        # one panel for the losses, then one per metric the run measured (its columns say which)
        names = [c[len("train_"):] for c in epochs.columns if c.startswith("train_") and c != C.TRAIN_LOSS]
        panels = ["loss", *names]
        fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), squeeze=False)
        for ax, name in zip(axes[0], panels):
            for col, style in ((f"train_{name}", "-"), (f"val_{name}", "--")):
                if col in epochs and epochs[col].notna().any():
                    ax.plot(epochs[C.EPOCH], epochs[col], style, marker="o", ms=3, label=col)
            ax.set_xlabel("epoch")
            ax.set_ylabel(_METRIC_LABELS.get(name, name))
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
        fig.tight_layout()
        _save(fig, run_dir / "metrics.png")
        plt.close(fig)
        written.append("metrics.png")
    return written


# axis labels of the columns lrtool writes (others show their column name)
_METRIC_LABELS = {"loss": "loss", "acc": "accuracy", "f1": "F1 score", "mae": "mean absolute error",
                  "mse": "mean squared error", "rmse": "root mean squared error", "r2": "R^2"}


def metric_label(col: str) -> str:
    """'validation accuracy' for val_acc, 'training mae' style labels for the others."""
    split, _, name = col.partition("_")
    where = {"val": "validation", "train": "training", "test": "test"}.get(split, split)
    return f"{where} {_METRIC_LABELS.get(name, name)}"


def plot_lr_find(rows: list[dict[str, Any]], result: dict[str, Any], path: Path, title: str = "",
                 log_x: bool = True, metric: str | None = C.VAL_ACC) -> None:
    """Loss vs LR (raw and smoothed) with the suggestions and CLR bounds; the metric vs LR when measured."""
    _save(lr_find_figure(rows, result, title=title, log_x=log_x, metric=metric), path)


def lr_find_figure(rows: list[dict[str, Any]], result: dict[str, Any], *, title: str = "", log_x: bool = True,
                   ax: Any = None, metric: str | None = C.VAL_ACC) -> Any:
    """The range-test figure of plot_lr_find, returned (a Jupyter cell shows it) instead of saved.

    Args:
        rows: the lr_find.csv rows (step, lr, loss, smoothed_loss, optional val_loss/val_<metric>).
        result: the suggestions, as in summary.json.
        title: the figure title.
        log_x: log-scaled LR axis (the exp sweep).
        ax: draw the loss panel on this matplotlib Axes (no metric panel); None: a new figure.
        metric: the validation column measured during the sweep (val_acc, val_mae, ...), or None.

    Returns:
        The matplotlib Figure.
    """
    # a bare Figure, not pyplot: no global state, no backend switch in the user's notebook
    from matplotlib.figure import Figure

    val = [r for r in rows if metric and r.get(metric) is not None and math.isfinite(r[metric])]
    own = ax is None
    if own:
        fig = Figure(figsize=(7, 6.5 if val else 4.2))
        axes = fig.subplots(2 if val else 1, 1, sharex=True, squeeze=False)
        ax = axes[0][0]
    else:
        fig, val, axes = ax.figure, [], [[ax]]
    lrs = [r[C.LR] for r in rows]
    ax.plot(lrs, _finite([r[C.LOSS] for r in rows]), color="tab:blue", alpha=0.25, lw=1, label="loss")
    ax.plot(lrs, _finite([r[C.SMOOTHED_LOSS] for r in rows]), color="tab:blue", lw=2, label="smoothed loss")
    for name, s in (result.get("suggestions") or {}).items():
        if s:
            color, marker = MARKERS[name]
            ax.plot([s["lr"]], [s["loss"]], marker=marker, color=color, ms=9, ls="none",
                    label=f"{name}: {s['lr']:.2g}")
    clr = result.get("clr")
    if clr:
        ax.axvspan(clr["base_lr"], clr["max_lr"], color="tab:orange", alpha=0.12,
                   label=f"cyclic {clr['base_lr']:.2g}..{clr['max_lr']:.2g}")
    smoothed = [v for v in _finite([r[C.SMOOTHED_LOSS] for r in rows]) if not math.isnan(v)]
    if smoothed:  # keep the diverging tail from squashing the interesting part of the curve
        lo, first, top = min(smoothed), smoothed[0], max(smoothed)
        span = (first - lo) or (top - lo) or abs(lo) or 1.0
        ax.set_ylim(lo - 0.1 * span, min(top, first + 0.5 * span) + 0.1 * span)
    if log_x:
        ax.set_xscale("log")
    ax.set_ylabel("training loss")
    ax.set_title(title or "LR range test")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    if val:
        ax2 = axes[1][0]
        ax2.plot([r[C.LR] for r in val], [r[metric] for r in val], "o-", color="tab:green",
                 label=metric_label(metric))
        ax2.set_ylabel(metric_label(metric))
        ax2.grid(True, which="both", alpha=0.3)
        ax2.legend(fontsize=8)
        if log_x:
            ax2.set_xscale("log")
        axes[-1][0].set_xlabel("learning rate")
    else:
        ax.set_xlabel("learning rate")
    if own:  # a caller's figure keeps the caller's layout
        fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- compare overlays


def _overlay_style(i: int) -> dict[str, Any]:
    """Colour by index; past ten runs the line style changes so colours stay distinguishable."""
    return {"color": f"C{i % 10}", "ls": ("-", "--", ":", "-.")[(i // 10) % 4]}


def _clip_top(ax: Any, ys: list[list[float]]) -> None:
    """Keep one diverging run from squashing every other curve to a flat line."""
    finite = [[v for v in y if math.isfinite(v)] for y in ys]
    finite = [sorted(y) for y in finite if y]
    if not finite:
        return
    lo = min(y[0] for y in finite)
    typical = max(y[int(0.9 * (len(y) - 1))] for y in finite)
    top = max(y[-1] for y in finite)
    if top > lo + 3 * (typical - lo) and typical > lo:
        ax.set_ylim(lo - 0.05 * (typical - lo), typical + 0.3 * (typical - lo))


def plot_overlay(series: list[dict[str, Any]], path: Path, *, xlabel: str, ylabel: str, title: str = "",
                 log_y: bool = False, markers: bool = False) -> None:
    """Curves of several runs on one axis, with a legend and labelled axes.

    Args:
        series: one dict per run or seed group: label, x, y; optionally band = (low, high)
            (drawn shaded around a group's mean line) and members = [(x, y), ...] (drawn faint).
        path: the PNG to write.
        xlabel, ylabel, title: axis labels and title.
        log_y: log-scale y axis (learning rates), used only when every value is positive.
        markers: mark each point (per-epoch curves: a run with one finished epoch still shows).
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    all_y: list[list[float]] = []
    for i, s in enumerate(series):
        style = _overlay_style(i)
        y = _finite(s["y"])
        all_y.append(y)
        for mx, my in s.get("members") or []:
            ax.plot(mx, _finite(my), color=style["color"], lw=0.8, alpha=0.35)
        ax.plot(s["x"], y, lw=1.8, marker="o" if markers else None, ms=3.5, label=s["label"], **style)
        if s.get("band"):
            low, high = s["band"]
            ax.fill_between(s["x"], _finite(low), _finite(high), color=style["color"], alpha=0.18, lw=0)
    values = [v for y in all_y for v in y if math.isfinite(v)]
    if log_y and values and min(values) > 0 and max(values) / min(values) > 20:
        ax.set_yscale("log")
    elif not log_y:
        _clip_top(ax, all_y)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    _save(fig, path)
    plt.close(fig)


def plot_lr_find_overlay(curves: list[dict[str, Any]], path: Path, *, title: str = "LR range tests",
                         log_x: bool = True) -> None:
    """Loss vs LR of several range tests, each run's suggestions marked on its own curve.

    Args:
        curves: one dict per run: label, lr, loss (smoothed), suggestions = {name: (lr, loss)}.
        path: the PNG to write.
        title: figure title.
        log_x: log-scale LR axis (exponential sweeps).
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    firsts, lows, tops = [], [], []
    for i, c in enumerate(curves):
        style = _overlay_style(i)
        loss = _finite(c["loss"])
        ax.plot(c["lr"], loss, lw=1.8, label=c["label"], **style)
        for name, (lr, value) in (c.get("suggestions") or {}).items():
            marker = MARKERS.get(name, ("black", "x"))[1]
            ax.plot([lr], [value], marker=marker, ms=9, ls="none", color=style["color"],
                    markeredgecolor="black", label=f"{c['label']} {name}: {lr:.2g}")
        finite = [v for v in loss if math.isfinite(v)]
        if finite:
            firsts.append(finite[0])
            lows.append(min(finite))
            tops.append(max(finite))
    if lows:  # as in plot_lr_find: the diverging tails would hide where the curves differ
        lo, first, top = min(lows), max(firsts), max(tops)
        span = (first - lo) or (top - lo) or abs(lo) or 1.0
        ax.set_ylim(lo - 0.1 * span, min(top, first + 0.5 * span) + 0.1 * span)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss (smoothed)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    _save(fig, path)
    plt.close(fig)

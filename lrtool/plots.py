"""Every matplotlib figure lrtool draws, rendered headless (Agg) to PNG files."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

MARKERS = {"steepest": ("tab:red", "v"), "valley": ("tab:green", "o"), "minimum": ("tab:purple", "s")}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)  # no display needed, ever
    import matplotlib.pyplot as plt

    return plt


def _finite(xs: Sequence[Any]) -> list[float]:
    return [float(x) if x is not None and x == x and math.isfinite(float(x)) else math.nan for x in xs]


def _save(fig: Any, path: Path) -> None:
    import os

    tmp = Path(path).with_name(f".{Path(path).name}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    os.replace(tmp, path)  # a reader never sees half a PNG


def plot_lr_find(rows: list[dict[str, Any]], result: dict[str, Any], path: Path, title: str = "",
                 log_x: bool = True) -> None:
    """Loss vs LR (raw and smoothed) with the suggestions and CLR bounds; accuracy vs LR when measured."""
    plt = _pyplot()
    val = [r for r in rows if r.get("val_acc") is not None]
    fig, axes = plt.subplots(2 if val else 1, 1, figsize=(7, 6.5 if val else 4.2), sharex=True, squeeze=False)
    ax = axes[0][0]
    lrs = [r["lr"] for r in rows]
    ax.plot(lrs, _finite([r["loss"] for r in rows]), color="tab:blue", alpha=0.25, lw=1, label="loss")
    ax.plot(lrs, _finite([r["smoothed_loss"] for r in rows]), color="tab:blue", lw=2, label="smoothed loss")
    for name, s in (result.get("suggestions") or {}).items():
        if s:
            color, marker = MARKERS[name]
            ax.plot([s["lr"]], [s["loss"]], marker=marker, color=color, ms=9, ls="none",
                    label=f"{name}: {s['lr']:.2g}")
    clr = result.get("clr")
    if clr:
        ax.axvspan(clr["base_lr"], clr["max_lr"], color="tab:orange", alpha=0.12,
                   label=f"cyclic {clr['base_lr']:.2g}..{clr['max_lr']:.2g}")
    smoothed = [v for v in _finite([r["smoothed_loss"] for r in rows]) if not math.isnan(v)]
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
        ax2.plot([r["lr"] for r in val], [r["val_acc"] for r in val], "o-", color="tab:green",
                 label="validation accuracy")
        ax2.set_ylabel("validation accuracy")
        ax2.grid(True, which="both", alpha=0.3)
        ax2.legend(fontsize=8)
        if log_x:
            ax2.set_xscale("log")
        axes[-1][0].set_xlabel("learning rate")
    else:
        ax.set_xlabel("learning rate")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)

"""The one loss smoother: the bias-corrected EMA of the LR range test (Smith 2017; fastai's recorder).

avg_t = beta * avg_{t-1} + (1 - beta) * x_t and smoothed_t = avg_t / (1 - beta**t), so the first
value is the loss itself rather than a value pulled towards zero. A leaf module (no torch, no
matplotlib): the range test, the run plots and compare's overlays all call it.
"""

from __future__ import annotations

import math
from typing import Sequence


def ema_step(avg: float, loss: float, beta: float, t: int) -> tuple[float, float]:
    """One step of the bias-corrected EMA: returns (avg_t, smoothed_t) for the t-th loss (t from 1)."""
    avg = beta * avg + (1 - beta) * loss
    return avg, (avg / (1 - beta**t) if beta > 0 else loss)


def ema(values: Sequence[float | None], beta: float = 0.9) -> list[float]:
    """Bias-corrected EMA of `values`; a missing or non-finite value gives NaN and is skipped.

    Args:
        values: the raw series (e.g. the loss at each step).
        beta: the smoothing factor in [0, 1); 0 returns the values unchanged.

    Returns:
        The smoothed series, as long as `values`.
    """
    avg, t, out = 0.0, 0, []
    for v in values:
        if v is None or not math.isfinite(v):
            out.append(math.nan)
            continue
        t += 1
        avg, smoothed = ema_step(avg, float(v), beta, t)
        out.append(smoothed)
    return out


def beta_for_span(span: float) -> float:
    """The beta of an EMA over `span` points (pandas' `span`: alpha = 2 / (span + 1))."""
    return 1.0 - 2.0 / (max(1.0, span) + 1.0)

"""Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter; torch's CosineAnnealingWarmRestarts)."""

from __future__ import annotations

import math

from .context import Ctx
from .decay import cosine_value
from .plan import Curve


def sgdr(ctx: Ctx, first: float, mult: float, decay: float, floors: list[float],
         cycles: int | None, rewarm: float) -> Curve:
    """Cosine with warm restarts: cycle i lasts first * mult**i and peaks at base * decay**i."""
    base = ctx.base_lrs

    def start(i: int) -> float:
        """Where cycle i begins."""
        return first * i if mult == 1 else first * (mult ** i - 1) / (mult - 1)

    def locate(u: int) -> tuple[int, float, float]:
        """(cycle index, position in it, its length) for clock u."""
        if mult == 1:
            i = int(u // first)
        else:  # closed form, then nudged: float log may land one cycle off
            i = int(math.log(1 + u * (mult - 1) / first, mult))
        while i > 0 and start(i) > u:
            i -= 1
        while start(i + 1) <= u:
            i += 1
        return i, u - start(i), first * mult ** i

    def lr(u: int) -> list[float]:
        i, t_cur, t_i = locate(u)
        if cycles is not None and i >= cycles:
            return list(floors)
        peaks = [b * decay ** i for b in base] if decay != 1 else base
        if i > 0 and t_cur < rewarm:
            return [f + (p - f) * t_cur / rewarm for p, f in zip(peaks, floors)]
        if i > 0 and rewarm:
            t_cur, t_i = t_cur - rewarm, t_i - rewarm
        return [cosine_value(p, f, t_cur, t_i) for p, f in zip(peaks, floors)]

    marks, i = [], 1
    while start(i) < ctx.span and (cycles is None or i <= cycles):
        marks.append((start(i), "floor" if cycles is not None and i == cycles else f"restart {i}"))
        i += 1
    return Curve(lr, marks=marks)

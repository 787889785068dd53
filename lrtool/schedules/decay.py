"""Decay curves, pure functions of the schedule's clock u: step, milestones, exponential, cosine
annealing and polynomial (torch's StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, PolynomialLR)."""

from __future__ import annotations

import bisect
import math
from typing import Any

from .context import Ctx, periodic_marks
from .plan import Curve


def step_decay(ctx: Ctx, size: int, gamma: float, given: bool = True) -> Curve:
    """base * gamma ** (u // size) — StepLR; a size the user gave must fit in the run."""
    if given and size >= ctx.span:
        raise ctx.fail("step_size", f"step_size {ctx.units(size)} is not shorter than the run "
                                    f"({ctx.run_text()}): the LR would never change")
    base = ctx.base_lrs
    return Curve(lambda u: [b * gamma ** (u // size) for b in base],
                 marks=periodic_marks(size, ctx.span, f"decay x{gamma:g}"))


def milestone_decay(ctx: Ctx, milestones: Any, gamma: float, given: bool = True) -> Curve:
    """base * gamma ** (milestones passed) — MultiStepLR (repeats count twice, as in torch).

    Milestones the user gave must fall inside the run; default ones that do not (tiny runs) are dropped.
    """
    if not isinstance(milestones, (list, tuple)) or not milestones:
        raise ctx.fail("milestones", f"expected a non-empty list of positions, got {milestones!r}")
    ms = sorted(ctx.duration("milestones", m, whole=True, zero_ok=True) for m in milestones)
    if not given:
        ms = [m for m in ms if m < ctx.span]
    elif ms[-1] >= ctx.span:
        raise ctx.fail("milestones", f"milestone {ms[-1]} is beyond the last {ctx.unit} of the run "
                                     f"({ctx.unit}s 0..{ctx.span - 1}"
                                     f"{' counted after warmup' if ctx.after_warmup else ''})")
    base = ctx.base_lrs
    return Curve(lambda u: [b * gamma ** bisect.bisect_right(ms, u) for b in base],
                 marks=[(m, f"decay x{gamma:g}") for m in sorted(set(ms))])


def exp_decay(ctx: Ctx, gamma: float) -> Curve:
    """base * gamma ** u — ExponentialLR."""
    base = ctx.base_lrs
    return Curve(lambda u: [b * gamma ** u for b in base])


def cosine_value(peak: float, floor: float, u: float, length: float) -> float:
    """Cosine from `peak` at u=0 to `floor` at u=length, written as torch writes it."""
    return floor + (peak - floor) * (1 + math.cos(math.pi * u / length)) / 2


def cosine(ctx: Ctx, floors: list[float], length: float, clamp: bool) -> Curve:
    """Cosine annealing over `length`; torch's CosineAnnealingLR keeps going (clamp=False)."""
    base = ctx.base_lrs

    def lr(u: int) -> list[float]:
        if clamp and u >= length:
            return list(floors)
        return [cosine_value(b, f, u, length) for b, f in zip(base, floors)]
    marks = [(length, "floor")] if length < ctx.span else []
    return Curve(lr, marks=marks)


def poly(ctx: Ctx, floors: list[float], length: float, power: float) -> Curve:
    """floor + (base - floor) * (1 - min(u, length) / length) ** power — PolynomialLR, poly."""
    base = ctx.base_lrs
    marks = [(length, "floor")] if length < ctx.span else []
    return Curve(lambda u: [f + (b - f) * (1.0 - min(length, u) / length) ** power
                             for b, f in zip(base, floors)], marks=marks)

"""Smith's cyclical learning rates (torch's CyclicLR) and the 1cycle policy (torch's OneCycleLR);
momentum cycles inversely to the LR."""

from __future__ import annotations

import math
from typing import Any, Callable

from .context import Ctx, periodic_marks
from .expr import Expr
from .plan import Curve


def clr_scale(ctx: Ctx, mode: str, gamma: float, scale_fn: Any, scale_mode: Any
              ) -> tuple[Callable[[float], float], str]:
    """CyclicLR's amplitude scale and what it is evaluated on (cycle number or iterations)."""
    if scale_fn is not None:
        expr = Expr(scale_fn, ("x",), ctx.k("scale_fn"))
        mode_of_x = ctx.choice("scale_mode", scale_mode, ("cycle", "iterations"))
        return (lambda x: expr(f"x={x:g}", x=x)), mode_of_x
    if mode == "triangular":
        return (lambda x: 1.0), "cycle"
    if mode == "triangular2":
        return (lambda x: 1 / (2.0 ** (x - 1))), "cycle"
    return (lambda x: gamma ** x), "iterations"


def cyclic(ctx: Ctx, bases: list[float], tops: list[float], up: float, down: float,
           scale: Callable[[float], float], scale_mode: str,
           momenta: tuple[list[float], list[float]] | None) -> Curve:
    """Smith's cyclical LR (torch CyclicLR's formula); momentum cycles inversely."""
    for i, (b, t) in enumerate(zip(bases, tops)):
        if b >= t:
            group = f" of param group {i}" if ctx.groups > 1 else ""
            raise ctx.fail("base_lr", f"base_lr {b:g}{group} must be below max_lr {t:g}")
    total = float(up) + float(down)
    ratio = float(up) / total

    def position(u: int) -> tuple[float, float]:
        """(height in the cycle 0..1, amplitude scale) at clock u, exactly as torch computes them."""
        cycle = math.floor(1 + u / total)
        x = 1.0 + u / total - cycle
        height = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
        return height, scale(cycle if scale_mode == "cycle" else u)

    def lr(u: int) -> list[float]:
        height, s = position(u)
        return [b + (t - b) * height * s for b, t in zip(bases, tops)]

    def momentum(u: int) -> list[float]:
        height, s = position(u)
        return [t - (t - b) * height * s for b, t in zip(*momenta)]

    marks = periodic_marks(total, ctx.span, "peak", offset=up - total)
    marks += periodic_marks(total, ctx.span, "cycle start")
    return Curve(lr, momentum if momenta else None, marks=sorted(marks))


def one_cycle_args(ctx: Ctx, pct_start: Any, anneal_strategy: Any, three_phase: Any, div_factor: Any,
                   final_div_factor: Any) -> tuple[float, str, bool, float, float]:
    """OneCycleLR's shape arguments, in one_cycle's order (the torch class and the short name share them)."""
    return (ctx.number("pct_start", pct_start, lo=0, hi=1),
            ctx.choice("anneal_strategy", anneal_strategy, ("cos", "linear")),
            ctx.flag("three_phase", three_phase),
            ctx.number("div_factor", div_factor, lo=0, lo_open=True),
            ctx.number("final_div_factor", final_div_factor, lo=0, lo_open=True))


def one_cycle(ctx: Ctx, tops: list[float], total: int, pct: float, strategy: str, three: bool,
              div: float, final_div: float, momenta: tuple[list[float], list[float]] | None,
              total_arg: str) -> Curve:
    """torch OneCycleLR's phases, evaluated at clock u."""
    if total < ctx.span:
        raise ctx.fail(total_arg, f"one-cycle total_steps={total} is shorter than the run "
                                  f"({ctx.run_text()})")
    if float(pct * total) - 1 == 0:
        raise ctx.fail("pct_start", "pct_start x total = 1 leaves the warm-up phase no length "
                                    "(torch divides by zero); use a larger pct_start")
    initial = [t / div for t in tops]
    lowest = [i / final_div for i in initial]
    if momenta:
        m_base, m_top = momenta
    else:
        m_base = m_top = [0.0] * ctx.groups
    # (phase end, lr from, lr to, momentum from, momentum to), as torch lays them out
    if three:
        phases = [(float(pct * total) - 1, initial, tops, m_top, m_base),
                  (float(2 * pct * total) - 2, tops, initial, m_base, m_top),
                  (total - 1, initial, lowest, m_top, m_top)]
    else:
        phases = [(float(pct * total) - 1, initial, tops, m_top, m_base),
                  (total - 1, tops, lowest, m_base, m_top)]

    def anneal(a: float, b: float, frac: float) -> float:
        if strategy == "cos":
            return b + (a - b) / 2.0 * (math.cos(math.pi * frac) + 1)
        return (b - a) * frac + a

    def locate(u: int) -> tuple[int, float]:
        """(phase index, fraction through it)."""
        begin = 0.0
        for i, phase in enumerate(phases):
            if u <= phase[0] or i == len(phases) - 1:
                return i, (u - begin) / (phase[0] - begin)
            begin = phase[0]
        raise AssertionError("unreachable")

    def lr(u: int) -> list[float]:
        i, frac = locate(u)
        return [anneal(a, b, frac) for a, b in zip(phases[i][1], phases[i][2])]

    def momentum(u: int) -> list[float]:
        i, frac = locate(u)
        return [anneal(a, b, frac) for a, b in zip(phases[i][3], phases[i][4])]

    labels = ["peak", "annihilation"]
    marks = [(math.floor(p[0]) + 1, labels[i]) for i, p in enumerate(phases[:-1])
             if 0 < math.floor(p[0]) + 1 < ctx.span]
    return Curve(lr, momentum if momenta else None, marks=marks)

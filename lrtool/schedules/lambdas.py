"""LambdaLR and MultiplicativeLR with the factor given as a safe expression in the clock."""

from __future__ import annotations

import math
from typing import Any

from ..errors import LrtoolError
from .context import Ctx
from .expr import Expr
from .plan import Curve


def lambda_curve(ctx: Ctx, lr_lambda: Any, multiplicative: bool) -> Curve:
    """LambdaLR (base * f(u)) or MultiplicativeLR (lr(u-1) * f(u)), with f a safe expression."""
    fns = ctx.expressions("lr_lambda", lr_lambda, ("epoch", "step", "t"))
    cache: list[list[float]] = []  # lr per clock value; deterministic, so purity is kept

    def factor(fn: Expr, u: int) -> float:
        value = fn(f"{ctx.unit}={u}", epoch=u, step=u, t=u)
        if not math.isfinite(value) or value < 0:
            raise LrtoolError(f"{fn.key}: {fn.text!r} gives {value!r} at {ctx.unit}={u}; "
                              f"expected a finite factor >= 0")
        return value

    def lr(u: int) -> list[float]:
        while len(cache) <= u:
            n = len(cache)
            if not multiplicative:
                cache.append([b * factor(fn, n) for b, fn in zip(ctx.base_lrs, fns)])
            elif n == 0:  # torch's first step leaves the optimizer's lr alone
                cache.append(list(ctx.base_lrs))
            else:
                cache.append([prev * factor(fn, n) for prev, fn in zip(cache[-1], fns)])
        return list(cache[u])

    lr(ctx.span - 1)  # evaluate the whole run now: a bad expression fails before training
    return Curve(lr)

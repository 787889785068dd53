"""The torch scheduler classes by their own names, with torch's arguments and defaults.

Registered before the short names: the order is the one ``lrtool list`` and error messages show.
"""

from __future__ import annotations

from typing import Any

from .context import Ctx, register
from .cyclic import clr_scale, cyclic, one_cycle, one_cycle_args
from .decay import cosine, exp_decay, milestone_decay, poly, step_decay
from .lambdas import lambda_curve
from .plan import Curve
from .plateau import MONITORS, plateau
from .restarts import sgdr


@register("StepLR")
def _torch_step(ctx: Ctx, step_size: Any, gamma: Any = 0.1) -> Curve:
    """torch StepLR: multiply by gamma every step_size epochs."""
    return step_decay(ctx, ctx.duration("step_size", step_size, whole=True),
                      ctx.number("gamma", gamma, lo=0, lo_open=True))


@register("MultiStepLR")
def _torch_multistep(ctx: Ctx, milestones: Any, gamma: Any = 0.1) -> Curve:
    """torch MultiStepLR: multiply by gamma at each milestone."""
    return milestone_decay(ctx, milestones, ctx.number("gamma", gamma, lo=0, lo_open=True))


@register("ExponentialLR")
def _torch_exponential(ctx: Ctx, gamma: Any) -> Curve:
    """torch ExponentialLR: multiply by gamma every epoch."""
    return exp_decay(ctx, ctx.number("gamma", gamma, lo=0, lo_open=True))


@register("CosineAnnealingLR")
def _torch_cosine(ctx: Ctx, T_max: Any = None, eta_min: Any = 0.0) -> Curve:
    """torch CosineAnnealingLR (T_max defaults to the run); past T_max it rises again, like torch."""
    length = ctx.span if T_max is None else ctx.duration("T_max", T_max)
    return cosine(ctx, [ctx.number("eta_min", eta_min, lo=0)] * ctx.groups, length, clamp=False)


@register("CosineAnnealingWarmRestarts")
def _torch_warm_restarts(ctx: Ctx, T_0: Any, T_mult: Any = 1, eta_min: Any = 0.0) -> Curve:
    """torch CosineAnnealingWarmRestarts: cycles of T_0 * T_mult**i."""
    return sgdr(ctx, ctx.duration("T_0", T_0, whole=True), ctx.whole("T_mult", T_mult, lo=1), 1.0,
                [ctx.number("eta_min", eta_min, lo=0)] * ctx.groups, None, 0)


@register("CyclicLR", interval="step")
def _torch_cyclic(ctx: Ctx, base_lr: Any, max_lr: Any, step_size_up: Any = 2000,
                  step_size_down: Any = None, mode: Any = "triangular", gamma: Any = 1.0,
                  scale_fn: Any = None, scale_mode: Any = "cycle", cycle_momentum: Any = True,
                  base_momentum: Any = 0.8, max_momentum: Any = 0.9) -> Curve:
    """torch CyclicLR: triangular cycles between base_lr and max_lr, momentum inverse."""
    up = ctx.duration("step_size_up", step_size_up)
    down = up if step_size_down is None else ctx.duration("step_size_down", step_size_down)
    mode = ctx.choice("mode", mode, ("triangular", "triangular2", "exp_range"))
    scale, scale_mode = clr_scale(ctx, mode, ctx.number("gamma", gamma, lo=0, lo_open=True),
                                  scale_fn, scale_mode)
    curve = cyclic(ctx, ctx.per_group("base_lr", base_lr, lo=0), ctx.per_group("max_lr", max_lr, lo=0),
                   up, down, scale, scale_mode,
                   ctx.momenta(cycle_momentum, base_momentum, max_momentum, explicit_default=True))
    if scale_fn is not None:  # evaluate the whole run now: a bad expression fails before training
        for u in range(ctx.span):
            curve.lr(u)
    return curve


@register("OneCycleLR", interval="step")
def _torch_onecycle(ctx: Ctx, max_lr: Any, total_steps: Any = None, epochs: Any = None,
                    steps_per_epoch: Any = None, pct_start: Any = 0.3, anneal_strategy: Any = "cos",
                    cycle_momentum: Any = True, base_momentum: Any = 0.85, max_momentum: Any = 0.95,
                    div_factor: Any = 25.0, final_div_factor: Any = 1e4,
                    three_phase: Any = False) -> Curve:
    """torch OneCycleLR (total_steps defaults to the run)."""
    if total_steps is not None:
        total, total_arg = ctx.duration("total_steps", total_steps, whole=True), "total_steps"
    elif epochs is not None or steps_per_epoch is not None:
        if epochs is None or steps_per_epoch is None:
            raise ctx.fail("epochs", "give both epochs and steps_per_epoch, or total_steps, or neither "
                                     "(then the cycle spans the run)")
        total = ctx.whole("epochs", epochs, lo=1) * ctx.whole("steps_per_epoch", steps_per_epoch, lo=1)
        total_arg = "epochs"
    else:
        total, total_arg = ctx.span, "total_steps"
    return one_cycle(
        ctx, ctx.per_group("max_lr", max_lr, lo=0, lo_open=True), total,
        *one_cycle_args(ctx, pct_start, anneal_strategy, three_phase, div_factor, final_div_factor),
        ctx.momenta(cycle_momentum, base_momentum, max_momentum, explicit_default=True), total_arg)


@register("ReduceLROnPlateau", intervals=("epoch",))
def _torch_plateau(ctx: Ctx, mode: Any = "min", factor: Any = 0.1, patience: Any = 10,
                   threshold: Any = 1e-4, threshold_mode: Any = "rel", cooldown: Any = 0,
                   min_lr: Any = 0.0, eps: Any = 1e-8, monitor: Any = None) -> Curve:
    """torch ReduceLROnPlateau; `monitor` (lrtool's) defaults to val_loss (min) or val_acc (max)."""
    mode = ctx.choice("mode", mode, ("min", "max"))
    if monitor is None:
        monitor = "val_loss" if mode == "min" else "val_acc"
    monitor = ctx.choice("monitor", monitor, MONITORS)
    return plateau(ctx, monitor, mode, factor, patience, threshold, threshold_mode, cooldown,
                   min_lr, eps)


@register("LambdaLR")
def _torch_lambda(ctx: Ctx, lr_lambda: Any) -> Curve:
    """torch LambdaLR: base lr times an expression in epoch (e.g. '0.5 ** (epoch // 3)')."""
    return lambda_curve(ctx, lr_lambda, multiplicative=False)


@register("MultiplicativeLR")
def _torch_multiplicative(ctx: Ctx, lr_lambda: Any) -> Curve:
    """torch MultiplicativeLR: previous lr times an expression in epoch (from epoch 1 on)."""
    return lambda_curve(ctx, lr_lambda, multiplicative=True)


@register("LinearLR")
def _torch_linear(ctx: Ctx, start_factor: Any = 1.0 / 3, end_factor: Any = 1.0,
                  total_iters: Any = 5) -> Curve:
    """torch LinearLR: factor from start_factor to end_factor over total_iters."""
    s = ctx.number("start_factor", start_factor, lo=0, lo_open=True, hi=1)
    e = ctx.number("end_factor", end_factor, lo=0, hi=1)
    n = ctx.duration("total_iters", total_iters, whole=True)
    base = ctx.base_lrs
    marks = [(n, "ramp end")] if n < ctx.span else []
    return Curve(lambda u: [b * (s + (e - s) * min(n, u) / n) for b in base], marks=marks)


@register("ConstantLR")
def _torch_constant(ctx: Ctx, factor: Any = 1.0 / 3, total_iters: Any = 5) -> Curve:
    """torch ConstantLR: base lr times factor until total_iters, then base lr."""
    f = ctx.number("factor", factor, lo=0, hi=1)
    n = ctx.duration("total_iters", total_iters, whole=True)
    base = ctx.base_lrs
    marks = [(n, "factor off")] if n < ctx.span else []
    return Curve(lambda u: [b * (f if u < n else 1.0) for b in base], marks=marks)


@register("PolynomialLR")
def _torch_poly(ctx: Ctx, total_iters: Any = 5, power: Any = 1.0) -> Curve:
    """torch PolynomialLR: base * (1 - min(t, total_iters) / total_iters) ** power."""
    return poly(ctx, [0.0] * ctx.groups, ctx.duration("total_iters", total_iters, whole=True),
                ctx.number("power", power, lo=0))

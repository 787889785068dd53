"""lrtool's short names (cosine, onecycle, ...): the common schedules with defaults that fit the run."""

from __future__ import annotations

from typing import Any

from ..rundir.columns import higher_is_better
from .context import Ctx, register
from .cyclic import clr_scale, cyclic, one_cycle, one_cycle_args
from .decay import cosine, cosine_value, exp_decay, milestone_decay, poly, step_decay
from .durations import round_half_up
from .plan import Curve
from .plateau import MONITORS, plateau
from .restarts import sgdr
from .warmup import DEFAULT_WARMUP_START


@register("constant", "const", "fixed")
def _short_constant(ctx: Ctx, factor: Any = 1.0) -> Curve:
    """The optimizer's lr (times factor) for the whole run."""
    f = ctx.number("factor", factor, lo=0)
    base = ctx.base_lrs
    return Curve(lambda u: [b * f for b in base])


@register("step")
def _short_step(ctx: Ctx, step_size: Any = None, gamma: Any = 0.1) -> Curve:
    """Multiply by gamma every step_size (default: a third of the run, so two decays)."""
    size = max(1, round_half_up(ctx.span / 3)) if step_size is None else \
        ctx.duration("step_size", step_size, whole=True)
    return step_decay(ctx, size, ctx.number("gamma", gamma, lo=0, lo_open=True),
                      given=step_size is not None)


@register("multistep", "multi_step")
def _short_multistep(ctx: Ctx, milestones: Any = None, gamma: Any = 0.1) -> Curve:
    """Multiply by gamma at each milestone (default 50% and 75% of the run)."""
    return milestone_decay(ctx, ["50%", "75%"] if milestones is None else milestones,
                           ctx.number("gamma", gamma, lo=0, lo_open=True), given=milestones is not None)


@register("exponential", "exp")
def _short_exponential(ctx: Ctx, gamma: Any = None, final_factor: Any = None) -> Curve:
    """Multiply by gamma every unit; by default gamma reaches final_factor=0.01 at the end of the run."""
    if gamma is not None and final_factor is not None:
        raise ctx.fail("final_factor", "set gamma or final_factor, not both")
    if gamma is None:
        ff = ctx.number("final_factor", 0.01 if final_factor is None else final_factor,
                        lo=0, lo_open=True)
        gamma = ff ** (1.0 / ctx.span)
    return exp_decay(ctx, ctx.number("gamma", gamma, lo=0, lo_open=True))


@register("cosine", "cos", interval="step")
def _short_cosine(ctx: Ctx, min_lr: Any = None, eta_min: Any = None, length: Any = None) -> Curve:
    """Cosine from the optimizer's lr to min_lr over the run (or `length`), then min_lr."""
    length = ctx.span if length is None else ctx.duration("length", length)
    return cosine(ctx, ctx.floor(min_lr, eta_min), length, clamp=True)


@register("sgdr", "cosine_restarts", interval="step")
def _short_sgdr(ctx: Ctx, cycle: Any = None, t_mult: Any = 1.0, decay: Any = 1.0,
                min_lr: Any = None, eta_min: Any = None, cycles: Any = None,
                restart_warmup: Any = 0) -> Curve:
    """Cosine with warm restarts: float t_mult, peak decay per restart, cycle limit, re-warmup."""
    mult = ctx.number("t_mult", t_mult, lo=1)
    limit = None if cycles is None else ctx.whole("cycles", cycles, lo=1)
    if cycle is None:  # `cycles` (or 4) cycles fill the run exactly
        n = limit or 4
        first = ctx.span / n if mult == 1 else ctx.span * (mult - 1) / (mult ** n - 1)
    else:
        first = ctx.duration("cycle", cycle)
    rewarm = ctx.duration("restart_warmup", restart_warmup, zero_ok=True)
    if rewarm and rewarm >= first * mult:
        raise ctx.fail("restart_warmup", f"restart_warmup {ctx.units(rewarm)} is not shorter than "
                                         f"the second cycle ({ctx.units(first * mult)})")
    return sgdr(ctx, first, mult, ctx.number("decay", decay, lo=0, lo_open=True),
                ctx.floor(min_lr, eta_min), limit, rewarm)


@register("cyclic", "clr", interval="step")
def _short_cyclic(ctx: Ctx, base_lr: Any = None, max_lr: Any = None, step_size: Any = None,
                  step_size_down: Any = None, mode: Any = "triangular", gamma: Any = None,
                  cycle_momentum: Any = None, base_momentum: Any = 0.85,
                  max_momentum: Any = 0.95) -> Curve:
    """Smith's cyclical LR from base_lr (default max_lr / 4) to max_lr (default the optimizer's lr)."""
    tops = list(ctx.base_lrs) if max_lr is None else ctx.per_group("max_lr", max_lr, lo=0, lo_open=True)
    bases = [t / 4 for t in tops] if base_lr is None else ctx.per_group("base_lr", base_lr, lo=0)
    if step_size is None:  # Smith: a half cycle of 2-10 epochs; keep at least one full cycle
        four_epochs = 4 if ctx.unit == "epoch" else 4 * ctx.plan.steps_per_epoch
        up: float = max(1, min(four_epochs, ctx.span // 2))
    else:
        up = ctx.duration("step_size", step_size)
    down = up if step_size_down is None else ctx.duration("step_size_down", step_size_down)
    mode = ctx.choice("mode", mode, ("triangular", "triangular2", "exp_range"))
    if gamma is not None and mode != "exp_range":
        raise ctx.fail("gamma", f"gamma only applies to mode exp_range, not {mode}")
    g = 0.01 ** (1.0 / ctx.span) if gamma is None else ctx.number("gamma", gamma, lo=0, lo_open=True)
    scale, scale_mode = clr_scale(ctx, mode, g, None, "cycle")
    return cyclic(ctx, bases, tops, up, down, scale, scale_mode,
                  ctx.momenta(cycle_momentum, base_momentum, max_momentum, explicit_default=False))


@register("onecycle", "one_cycle", "1cycle", interval="step")
def _short_onecycle(ctx: Ctx, max_lr: Any = None, pct_start: Any = 0.3, div_factor: Any = 25.0,
                    final_div_factor: Any = 1e4, anneal_strategy: Any = "cos",
                    three_phase: Any = False, cycle_momentum: Any = None,
                    base_momentum: Any = 0.85, max_momentum: Any = 0.95) -> Curve:
    """Smith's 1cycle over the run peaking at max_lr (default: the optimizer's lr), as OneCycleLR."""
    tops = list(ctx.base_lrs) if max_lr is None else ctx.per_group("max_lr", max_lr, lo=0, lo_open=True)
    return one_cycle(
        ctx, tops, ctx.span,
        *one_cycle_args(ctx, pct_start, anneal_strategy, three_phase, div_factor, final_div_factor),
        ctx.momenta(cycle_momentum, base_momentum, max_momentum, explicit_default=False), "pct_start")


@register("plateau", "reduce_on_plateau", intervals=("epoch",))
def _short_plateau(ctx: Ctx, monitor: Any = "val_loss", mode: Any = None, factor: Any = 0.1,
                   patience: Any = 10, threshold: Any = 1e-4, threshold_mode: Any = "rel",
                   cooldown: Any = 0, min_lr: Any = 0.0, eps: Any = 1e-8) -> Curve:
    """Multiply by factor when `monitor` stops improving for `patience` epochs (torch's rules)."""
    monitor = ctx.choice("monitor", monitor, MONITORS)
    if mode is None:
        mode = "max" if higher_is_better(monitor) else "min"
    return plateau(ctx, monitor, mode, factor, patience, threshold, threshold_mode, cooldown,
                   min_lr, eps)


@register("poly", "polynomial", interval="step")
def _short_poly(ctx: Ctx, power: Any = 1.0, min_lr: Any = None, eta_min: Any = None,
                length: Any = None) -> Curve:
    """Polynomial decay from the optimizer's lr to min_lr over the run (or `length`)."""
    length = ctx.span if length is None else ctx.duration("length", length)
    return poly(ctx, ctx.floor(min_lr, eta_min), length, ctx.number("power", power, lo=0))


@register("warmup_cosine", interval="step",
          default_warmup={"length": "5%", "start_factor": DEFAULT_WARMUP_START})
def _short_warmup_cosine(ctx: Ctx, hold: Any = 0, min_lr: Any = None, eta_min: Any = None) -> Curve:
    """Linear warmup (the common `warmup`, default 5%), optional hold at the peak, cosine to min_lr."""
    held = ctx.duration("hold", hold, zero_ok=True)
    if held >= ctx.span:
        raise ctx.fail("hold", f"hold {ctx.units(held)} leaves no room for the cosine decay "
                               f"({ctx.run_text()})")
    floors, base, length = ctx.floor(min_lr, eta_min), ctx.base_lrs, ctx.span - held

    def lr(u: int) -> list[float]:
        if u < held:
            return list(base)
        if u - held >= length:
            return list(floors)
        return [cosine_value(b, f, u - held, length) for b, f in zip(base, floors)]
    return Curve(lr, marks=[(held, "decay start")] if held else [])

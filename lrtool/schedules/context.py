"""What a schedule builder is given and how it registers: the one place where schedule arguments are checked.

A builder is ``fn(ctx, **arguments) -> Curve``; its signature is the schedule's arguments (names are
checked by ``check_arguments``/``check_required``), and it reads every value through ``Ctx``, whose
validators name the dotted config key. Names and plain values go through lrtool.checks, the one checker
every component uses, so a schedule's mistakes read like any other component's. The plan arrives in
the schedule's own unit (``Ctx.span``).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

from .. import checks
from ..errors import LrtoolError
from ..registry import Registry
from .durations import parse_duration, to_units
from .expr import Expr
from .plan import Curve, Plan

SCHEDULES = Registry("schedule")
INTERVALS = ("epoch", "step")
REJECTED_TORCH_ARGS = {
    "last_epoch": "lrtool computes the LR from the step itself (resume restores it)",
    "verbose": "lrtool logs the LR itself",
    "optimizer": "set by lrtool itself",
}


@dataclass
class Kind:
    """A registry entry: the builder plus what resolve/build must know about it."""

    fn: Callable[..., Curve]
    interval: str
    intervals: tuple[str, ...] = INTERVALS
    default_warmup: dict[str, Any] | None = None


def register(name: str, *aliases: str, interval: str = "epoch",
             intervals: tuple[str, ...] = INTERVALS, default_warmup: dict[str, Any] | None = None,
             help: str = "") -> Callable[[Callable[..., Curve]], Callable[..., Curve]]:
    """Register a builder `fn(ctx, **kwargs) -> Curve`; its signature is the schedule's arguments."""

    def deco(fn: Callable[..., Curve]) -> Callable[..., Curve]:
        first = help or (inspect.getdoc(fn) or "").split("\n")[0]
        SCHEDULES.add(name, Kind(fn, interval, intervals, default_warmup), *aliases,
                      help=f"{first} {_signature_text(fn, interval)}")
        return fn
    return deco


def _signature_text(fn: Callable[..., Curve], interval: str) -> str:
    """`lrtool list`'s account of a schedule's arguments, their defaults and its default unit:
    "Arguments: cycle, t_mult=1.0, ...; durations in steps." (no default shown: required, or set from the run)."""
    def yaml(value: Any) -> str:  # as the config spells it
        return str(value).lower() if isinstance(value, bool) else str(value)

    args = [p.name if p.default in (None, inspect.Parameter.empty) else f"{p.name}={yaml(p.default)}"
            for p in list(inspect.signature(fn).parameters.values())[1:]]
    return f"Arguments: {', '.join(args)}; durations in {interval}s." if args else f"Durations in {interval}s."


def check_arguments(canonical: str, kwargs: dict[str, Any], key: str) -> None:
    """Raise for arguments `canonical` does not take, naming `key.<arg>` and the valid ones."""
    kind: Kind = SCHEDULES.get(canonical)
    checks.check_kwargs(kind.fn, kwargs, key, injected=("ctx",), owner=canonical, refused=REJECTED_TORCH_ARGS,
                 hint="arguments of another schedule go in a block named after it")


def check_required(canonical: str, kwargs: dict[str, Any], key: str) -> None:
    """Raise for a required argument of `canonical` that no flat key or block gives."""
    checks.check_required(SCHEDULES.get(canonical).fn, kwargs, key, injected=("ctx",), owner=canonical)


class Ctx:
    """What a builder sees: base LRs, the span in its unit, and validators naming dotted keys."""

    def __init__(self, *, name: str, base_lrs: list[float], base_momenta: list[float] | None,
                 plan: Plan, unit: str, span: int, after_warmup: bool, key: str,
                 keys: dict[str, str]):
        self.name = name
        self.base_lrs = base_lrs
        self.groups = len(base_lrs)
        self.base_momenta = base_momenta
        self.plan = plan
        self.unit = unit
        self.span = span  # units the schedule runs for (after warmup)
        self.after_warmup = after_warmup
        self._key = key
        self._keys = keys
        self.notes: list[str] = []  # legal but suspicious choices (warn), as "dotted.key: why"

    def k(self, arg: str) -> str:
        """The dotted config key of argument `arg`."""
        return self._keys.get(arg, f"{self._key}.{arg}")

    def fail(self, arg: str, msg: str) -> LrtoolError:
        """A one-line error about argument `arg`."""
        return LrtoolError(f"{self.k(arg)}: {msg}")

    def warn(self, arg: str, msg: str) -> None:
        """Note a plan that is possible but almost certainly not meant (printed, and kept in summary.json)."""
        self.notes.append(f"{self.k(arg)}: {msg}")

    def units(self, n: float) -> str:
        """'3 epochs', '1 step'."""
        return f"{n:g} {self.unit}{'' if n == 1 else 's'}"

    def run_text(self) -> str:
        """How long the schedule runs, for messages."""
        return f"the run has {self.units(self.span)}" + (" after warmup" if self.after_warmup else "")

    def number(self, arg: str, value: Any, lo: float | None = None, hi: float | None = None,
               lo_open: bool = False) -> float:
        """A finite real number in [lo, hi] (or (lo, hi] with lo_open)."""
        return checks.number(self.k(arg), value, lo, hi, lo_open=lo_open)

    def whole(self, arg: str, value: Any, lo: int = 0) -> int:
        """A whole number >= lo (2.0 is accepted as 2)."""
        return checks.whole(self.k(arg), value, lo)

    def choice(self, arg: str, value: Any, choices: tuple[str, ...]) -> str:
        """One of `choices`."""
        return checks.choice(self.k(arg), value, choices)

    def flag(self, arg: str, value: Any) -> bool:
        """True or false."""
        return checks.flag(self.k(arg), value)

    def per_group(self, arg: str, value: Any, lo: float | None = None, lo_open: bool = False,
                  hi: float | None = None) -> list[float]:
        """A number for every param group, or one list entry per group."""
        if isinstance(value, (list, tuple)):
            if len(value) != self.groups:
                raise self.fail(arg, f"expected a number or a list of {self.groups} (one per param "
                                     f"group), got a list of {len(value)}")
            return [self.number(f"{arg}", v, lo=lo, hi=hi, lo_open=lo_open) for v in value]
        return [self.number(arg, value, lo=lo, hi=hi, lo_open=lo_open)] * self.groups

    def duration(self, arg: str, value: Any, *, whole: bool = False, zero_ok: bool = False) -> float:
        """A length or position in the schedule's unit (the rule is in the durations module)."""
        num, unit = parse_duration(value, self.k(arg))
        n = to_units(num, unit, self.unit, self.plan.steps_per_epoch, self.span)
        converted = "" if unit is None else f" (= {self.units(n)})"
        if n < 0 or (n == 0 and not zero_ok):
            raise self.fail(arg, f"expected a positive duration, got {value!r}{converted}")
        if whole and n != int(n):
            raise self.fail(arg, f"expected a whole number of {self.unit}s, got {value!r}")
        return int(n) if whole or unit is not None or isinstance(value, int) else float(n)

    def momenta(self, cycle: Any, base: Any, top: Any, explicit_default: bool
                ) -> tuple[list[float], list[float]] | None:
        """(base, max) momentum per group when momentum cycles, else None.

        `explicit_default` is torch's rule (cycling on unless turned off, an error without momentum);
        short names turn it on only when the optimizer has a momentum or beta1 to cycle.
        """
        if cycle is None:
            cycle = explicit_default or self.base_momenta is not None
        if not self.flag("cycle_momentum", cycle):
            return None
        if self.base_momenta is None:
            raise self.fail("cycle_momentum", "the optimizer has no momentum or beta1 to cycle; "
                                              "set cycle_momentum: false")
        return (self.per_group("base_momentum", base, lo=0, hi=1),
                self.per_group("max_momentum", top, lo=0, hi=1))

    def expressions(self, arg: str, value: Any, variables: tuple[str, ...]) -> list[Expr]:
        """One expression per param group from a string or a list of strings."""
        if isinstance(value, (list, tuple)):
            if len(value) != self.groups:
                raise self.fail(arg, f"expected one expression or a list of {self.groups} (one per "
                                     f"param group), got a list of {len(value)}")
            return [Expr(v, variables, f"{self.k(arg)}[{i}]") for i, v in enumerate(value)]
        return [Expr(value, variables, self.k(arg))] * self.groups

    def floor(self, min_lr: Any, eta_min: Any) -> list[float]:
        """The floor LR per group from `min_lr` or its torch spelling `eta_min`, below each group's LR.

        lrtool's decays (cosine, sgdr, poly, warmup_cosine) fall from the optimizer's LR to the floor: a
        floor at or above it would make them rise instead. (torch's CosineAnnealingLR allows that; its
        eta_min is checked where torch's rules apply, not here.)
        """
        if min_lr is not None and eta_min is not None:
            raise self.fail("eta_min", "set min_lr or eta_min, not both")
        arg = "eta_min" if eta_min is not None else "min_lr"
        floors = self.per_group(arg, eta_min if eta_min is not None else 0.0 if min_lr is None else min_lr, lo=0)
        for i, (f, b) in enumerate(zip(floors, self.base_lrs)):
            if f >= b:
                group = f" of param group {i}" if self.groups > 1 else ""
                raise self.fail(arg, f"expected a floor below the optimizer's lr{group} ({b:g}), got {f:g}; "
                                     f"the LR would rise to it instead of decaying")
        return floors


# Marks only label plots; a run of a billion epochs must not build a billion of them.
MAX_MARKS = 1000


def periodic_marks(period: float, limit: int, label: str, offset: float = 0.0
                   ) -> list[tuple[float, str]]:
    """Positions offset + k*period (k >= 1) that fall inside [0, limit), the first MAX_MARKS of them."""
    marks, k = [], 1
    while offset + k * period < limit and len(marks) < MAX_MARKS:
        marks.append((offset + k * period, label))
        k += 1
    return marks

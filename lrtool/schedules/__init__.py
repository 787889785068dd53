"""Learning-rate schedules as pure functions of the optimizer step.

A schedule never counts anything behind your back: ``Schedule.lr(step)`` is computed in closed form
from the global optimizer step you pass in (0-based), so preview, logging and resume agree exactly.
Only plateau schedules have state (the metric history), kept in ``state_dict()``. This module is pure
Python + ``math``: ``lrtool preview`` runs without torch.

The ``schedule:`` config section
--------------------------------
* ``name`` picks the schedule: a short name (``cosine``, ``onecycle``, ...) or a torch class name
  (``StepLR``, ...), case-insensitive. ``--schedule X`` (the ``name`` argument of
  ``resolve_schedule``) overrides it.
* A key that names a schedule (``step:``, ``onecycle:``, ``OneCycleLR:``, any alias) is a *block*:
  the arguments of that schedule, so one config can carry several and ``--schedule`` switches between
  them. Every other key besides ``name``, ``interval`` and ``warmup`` is a *flat* argument of the
  schedule named by ``name``. No schedule has an argument spelled like a schedule name, so the two
  never mix up.
* The chosen schedule X gets the flat arguments only when X is also ``name``, plus its block ``X:``;
  one argument set in both places is an error. The flat arguments and every block are checked against
  their own schedule even when another one is chosen, so a typo fails before training.
* ``interval`` (``epoch`` | ``step``) and ``warmup`` are common to all schedules; a block may carry
  its own ``interval``/``warmup`` that override the common ones for that schedule. Without
  ``interval`` each schedule uses its natural unit (see the table below).
* torch's ``last_epoch``/``verbose``/``optimizer`` are rejected: lrtool derives them itself.

Units and durations
-------------------
The schedule's clock counts its ``interval`` units: with ``epoch`` the LR changes only at epoch
boundaries (epoch = step // steps_per_epoch) and equals torch's scheduler stepped once per epoch;
with ``step`` it equals torch's scheduler stepped once per optimizer step.
Every duration or position (step_size, milestones, T_max, T_0, cycle lengths, hold, warmup, ...):

* a plain number is in the schedule's ``interval`` unit, used as given (torch semantics);
* a string states its unit: ``"500 steps"``, ``"2 epochs"``, ``"30%"`` (of the span the schedule
  runs over). It is converted to the schedule's unit and rounded to the nearest whole unit.

Warmup (in front of any schedule, plateau included)
---------------------------------------------------
``warmup: {epochs: 1, start_factor: 0.1}``; the length is exactly one of ``steps``, ``epochs`` or
``length`` (a duration as above; ``"5%"`` is of the whole run); the start is ``start_factor`` (default
0.01) times the LR the schedule begins with, or an absolute ``start_lr`` (a number or one per param
group). ``warmup: "2 epochs"`` is short for ``{length: "2 epochs"}``; ``warmup: 0`` turns it off.
The ramp is linear in optimizer steps whatever the interval (a staircase would defeat its purpose):
lr = start + (target - start) * step / W, so step W is the first step of the schedule proper.

Warmup is a *prefix*: the schedule's clock starts at 0 when warmup ends, and all of its durations and
positions count from there; "the whole run" (default lengths, ``"%"``) means the part after warmup.
So cosine still starts at its peak and still ends at its floor at the end of training, and milestones
``[25, 55]`` behind a 5-epoch warmup fire at epochs 30 and 60. With ``interval: epoch`` the clock
stays on real epoch boundaries: the epoch in which warmup ends is the schedule's epoch 0. A plateau
schedule ignores metrics of epochs that ended inside the warmup.

Schedules (interval default; arguments and defaults)
----------------------------------------------------
torch classes, with torch's arguments and defaults (``T_max`` and ``total_steps`` default to the run):
  StepLR (epoch), MultiStepLR (epoch), ExponentialLR (epoch), CosineAnnealingLR (epoch),
  CosineAnnealingWarmRestarts (epoch), CyclicLR (step), OneCycleLR (step), ReduceLROnPlateau (epoch
  only; plus ``monitor``), LambdaLR (epoch), MultiplicativeLR (epoch), LinearLR (epoch), ConstantLR
  (epoch), PolynomialLR (epoch). ``lr_lambda`` and CyclicLR's ``scale_fn`` are arithmetic expression
  strings (see ``_Expr``); the variable is the schedule's clock, spelled ``epoch``, ``step`` or ``t``
  (all the same number, as torch passes ``last_epoch``), ``x`` for ``scale_fn``.
Short names (per-group values may be a number or a list with one per param group):
  constant (epoch): factor=1.0
  step (epoch): step_size=a third of the run, gamma=0.1
  multistep (epoch): milestones=["50%", "75%"], gamma=0.1
  exponential (epoch): gamma, or final_factor=0.01 (the factor reached at the end of the run)
  cosine (step): min_lr=0 (alias eta_min), length=the run; then stays at min_lr
  sgdr (step): cycle=first cycle length (default: `cycles` or 4 cycles fill the run), t_mult=1.0
      (float), decay=1.0 (peak factor per restart), min_lr=0, cycles=None (then stays at min_lr),
      restart_warmup=0 (linear ramp from min_lr at each restart)
  cyclic (step): max_lr=optimizer lr, base_lr=max_lr/4, step_size=half cycle (4 epochs, at most half
      the run), step_size_down=step_size, mode=triangular|triangular2|exp_range, gamma (exp_range;
      default decays the amplitude to 1% over the run), cycle_momentum=on when the optimizer has
      momentum/beta1, base_momentum=0.85, max_momentum=0.95
  onecycle (step): max_lr=optimizer lr, pct_start=0.3, div_factor=25, final_div_factor=1e4,
      anneal_strategy=cos, three_phase=False, momentum 0.95->0.85 (as cyclic); total = the run
  plateau (epoch only): monitor=val_loss (mode min; *acc -> max), mode, factor=0.1, patience=10,
      threshold=1e-4, threshold_mode=rel, cooldown=0, min_lr=0, eps=1e-8 (torch's rules)
  poly (step): power=1.0, min_lr=0, length=the run
  warmup_cosine (step): hold=0 (at the peak after warmup), min_lr=0; its warmup is the common one,
      ``{length: "5%", start_factor: 0.01}`` unless the config sets ``warmup``
"Ends at min_lr at the end of the run" means at the step after the last one, like torch and
transformers: the last step still learns a little.
"""

from __future__ import annotations

import ast
import bisect
import inspect
import math
import operator
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import LrtoolError
from ..registry import Registry, check_kwargs, did_you_mean, format_choices
from ..rundir.columns import higher_is_better

SCHEDULES = Registry("schedule")
INTERVALS = ("epoch", "step")
_COMMON_KEYS = ("interval", "warmup")
_WARMUP_LENGTH_KEYS = ("steps", "epochs", "length")
_WARMUP_KEYS = (*_WARMUP_LENGTH_KEYS, "start_factor", "start_lr")
_DEFAULT_WARMUP_START = 0.01
_REJECTED_TORCH_ARGS = {
    "last_epoch": "lrtool computes the LR from the step itself (resume restores it)",
    "verbose": "lrtool logs the LR itself",
    "optimizer": "set by lrtool itself",
}
_MONITORS = ("val_loss", "val_acc", "train_loss", "train_acc")


# ----------------------------------------------------------------------------------------------
# Public data types

@dataclass(frozen=True)
class Plan:
    """How long the run is, in optimizer steps (not micro-batches)."""

    steps_per_epoch: int
    epochs: int

    def __post_init__(self) -> None:
        for name in ("steps_per_epoch", "epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise LrtoolError(f"{name}: expected a positive whole number, got {value!r}")

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.epochs


@dataclass
class ScheduleSpec:
    """The resolved choice: which schedule, its arguments, its interval and warmup."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    interval: str | None = None  # None: the schedule's natural unit
    warmup: dict[str, Any] | None = None
    # argument -> dotted config key it came from, so build errors name the right line
    keys: dict[str, str] = field(default_factory=dict)


@dataclass
class _Kind:
    """A registry entry: the builder plus what resolve/build must know about it."""

    fn: Callable[..., "_Curve"]
    interval: str
    intervals: tuple[str, ...] = INTERVALS
    default_warmup: dict[str, Any] | None = None


@dataclass
class _Curve:
    """What a builder returns: LR (and momentum) per group as functions of the schedule's clock."""

    lr: Callable[[int], list[float]]
    momentum: Callable[[int], list[float]] | None = None
    marks: list[tuple[float, str]] = field(default_factory=list)  # (clock position, label)
    plateau: "_Plateau | None" = None
    monitor: str | None = None


# ----------------------------------------------------------------------------------------------
# Durations

_DURATION_RE = re.compile(
    r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(steps?|epochs?|%)?\s*$", re.IGNORECASE)
_DURATION_HELP = ("a number (in the schedule's interval unit) or a string like '500 steps', "
                  "'2 epochs', '30%'")


def _parse_duration(value: Any, key: str) -> tuple[float, str | None]:
    """(number, unit) of a duration; unit is 'step', 'epoch', '%' or None for a plain number."""
    if isinstance(value, bool) or value is None:
        raise LrtoolError(f"{key}: expected {_DURATION_HELP}, got {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise LrtoolError(f"{key}: expected a non-negative duration, got {value!r}")
        return value, None
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match:
            unit = match.group(2)
            unit = None if unit is None else "%" if unit == "%" else unit.lower().rstrip("s")
            return float(match.group(1)), unit
    raise LrtoolError(f"{key}: expected {_DURATION_HELP}, got {value!r}")


def _round(x: float) -> int:
    """Round half up (Python's round() goes to even, which surprises in configs)."""
    return int(math.floor(x + 0.5))


def _to_units(num: float, unit: str | None, target: str, spe: int, whole: float) -> float:
    """Convert a parsed duration into `target` units ('step'|'epoch'); `whole` is what 100% means."""
    if unit is None:
        return num
    if unit == "%":
        return _round(num / 100.0 * whole)
    if unit == target:
        return _round(num)
    return _round(num / spe) if unit == "step" else _round(num * spe)


# ----------------------------------------------------------------------------------------------
# Safe arithmetic expressions (lr_lambda, scale_fn)

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_CMPOPS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
# name -> (function, min args, max args or None)
_FUNCS: dict[str, tuple[Callable[..., Any], int, int | None]] = {
    "min": (min, 2, None), "max": (max, 2, None), "abs": (abs, 1, 1), "exp": (math.exp, 1, 1),
    "log": (math.log, 1, 2), "sqrt": (math.sqrt, 1, 1), "cos": (math.cos, 1, 1),
    "sin": (math.sin, 1, 1), "floor": (math.floor, 1, 1), "ceil": (math.ceil, 1, 1),
}
_CONSTS = {"pi": math.pi, "e": math.e}
_MAX_EXPR_CHARS = 500


def _real(x: Any) -> float:
    """Every intermediate is a float: no huge ints (10**10**10 would hang) and no complex numbers."""
    if isinstance(x, complex):
        raise ValueError("result is not a real number")
    return float(x)


class _Expr:
    """An arithmetic expression string, parsed once and checked against a whitelist of node types.

    Allowed: numbers, + - * / // % **, unary -/+, comparisons, and/or/not, ``a if cond else b``,
    the given variable names, constants pi and e, functions min max abs exp log sqrt cos sin floor
    ceil. Everything else (attributes, subscripts, other calls, strings, lambdas) is refused.
    """

    def __init__(self, text: Any, variables: tuple[str, ...], key: str):
        self.key = key
        self.variables = variables
        if isinstance(text, bool) or not isinstance(text, (str, int, float)):
            raise LrtoolError(f"{key}: expected an arithmetic expression string, got {text!r}")
        self.text = str(text)
        if len(self.text) > _MAX_EXPR_CHARS:
            raise LrtoolError(f"{key}: expression longer than {_MAX_EXPR_CHARS} characters")
        try:
            tree = ast.parse(self.text.strip(), mode="eval")
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            msg = getattr(exc, "msg", None) or type(exc).__name__
            raise LrtoolError(f"{key}: invalid expression {self.text!r}: {msg}") from None
        self._fn = self._compile(tree.body)

    def _refuse(self, node: ast.AST, what: str) -> LrtoolError:
        """The one-line error for a node outside the whitelist."""
        allowed = (f"numbers, + - * / // % **, comparisons, 'a if c else b', names "
                   f"{'/'.join(self.variables)}, pi, e, functions {' '.join(_FUNCS)}")
        return LrtoolError(f"{self.key}: {ast.unparse(node)!r} is not allowed ({what}) in "
                           f"{self.text!r}; allowed: {allowed}")

    def _compile(self, node: ast.AST) -> Callable[[dict[str, float]], float]:
        """Turn an AST node into a closure over the variable values."""
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise self._refuse(node, "only numbers are allowed as constants")
            value = float(node.value)
            return lambda env: value
        if isinstance(node, ast.Name):
            if node.id in self.variables:
                name = node.id
                return lambda env: env[name]
            if node.id in _CONSTS:
                value = _CONSTS[node.id]
                return lambda env: value
            hint = did_you_mean(node.id, (*self.variables, *_CONSTS))
            raise self._refuse(node, f"unknown name{hint}")
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            op, left, right = _BINOPS[type(node.op)], self._compile(node.left), self._compile(node.right)
            return lambda env: _real(op(left(env), right(env)))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
            inner = self._compile(node.operand)
            if isinstance(node.op, ast.USub):
                return lambda env: -inner(env)
            if isinstance(node.op, ast.Not):
                return lambda env: float(not inner(env))
            return inner
        if isinstance(node, ast.Compare) and all(type(o) in _CMPOPS for o in node.ops):
            ops = [_CMPOPS[type(o)] for o in node.ops]
            parts = [self._compile(node.left)] + [self._compile(c) for c in node.comparators]

            def compare(env: dict[str, float]) -> float:
                values = [p(env) for p in parts]
                return float(all(op(a, b) for op, a, b in zip(ops, values, values[1:])))
            return compare
        if isinstance(node, ast.BoolOp):
            parts = [self._compile(v) for v in node.values]
            if isinstance(node.op, ast.And):
                return lambda env: float(all(p(env) for p in parts))
            return lambda env: float(any(p(env) for p in parts))
        if isinstance(node, ast.IfExp):
            test, body, orelse = (self._compile(n) for n in (node.test, node.body, node.orelse))
            return lambda env: body(env) if test(env) else orelse(env)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCS:
                raise self._refuse(node, f"calling {ast.unparse(node.func)!r}")
            if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
                raise self._refuse(node, "only plain positional arguments")
            fn, lo, hi = _FUNCS[node.func.id]
            if len(node.args) < lo or (hi is not None and len(node.args) > hi):
                count = f"{lo}" + ("" if hi == lo else f" to {hi or 'any'}")
                raise self._refuse(node, f"{node.func.id} takes {count} arguments")
            args = [self._compile(a) for a in node.args]
            return lambda env: _real(fn(*(a(env) for a in args)))
        if isinstance(node, ast.Attribute):
            raise self._refuse(node, "attribute access")
        raise self._refuse(node, f"{type(node).__name__.lower()} expressions")

    def __call__(self, at: str, **values: float) -> float:
        """Evaluate with the variable values; `at` names the point for error messages."""
        try:
            result = float(self._fn({k: float(v) for k, v in values.items()}))
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise LrtoolError(f"{self.key}: {self.text!r} fails at {at}: {exc}") from None
        return result


# ----------------------------------------------------------------------------------------------
# Builder context: the plan in the schedule's unit, and validators that name the config key

class _Ctx:
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

    def k(self, arg: str) -> str:
        """The dotted config key of argument `arg`."""
        return self._keys.get(arg, f"{self._key}.{arg}")

    def fail(self, arg: str, msg: str) -> LrtoolError:
        """A one-line error about argument `arg`."""
        return LrtoolError(f"{self.k(arg)}: {msg}")

    def units(self, n: float) -> str:
        """'3 epochs', '1 step'."""
        return f"{n:g} {self.unit}{'' if n == 1 else 's'}"

    def run_text(self) -> str:
        """How long the schedule runs, for messages."""
        return f"the run has {self.units(self.span)}" + (" after warmup" if self.after_warmup else "")

    def number(self, arg: str, value: Any, lo: float | None = None, hi: float | None = None,
               lo_open: bool = False) -> float:
        """A finite real number in [lo, hi] (or (lo, hi] with lo_open)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(arg, f"expected a number, got {value!r}")
        below = lo is not None and (value <= lo if lo_open else value < lo)
        if below or (hi is not None and value > hi):
            lo_text = "" if lo is None else f"{'>' if lo_open else '>='} {lo:g}"
            hi_text = "" if hi is None else f"<= {hi:g}"
            bounds = " and ".join(t for t in (lo_text, hi_text) if t)
            raise self.fail(arg, f"expected a number {bounds}, got {value!r}")
        return float(value)

    def whole(self, arg: str, value: Any, lo: int = 0) -> int:
        """A whole number >= lo (2.0 is accepted as 2)."""
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or value != int(value) or value < lo):
            raise self.fail(arg, f"expected a whole number >= {lo}, got {value!r}")
        return int(value)

    def choice(self, arg: str, value: Any, choices: tuple[str, ...]) -> str:
        """One of `choices`."""
        if value not in choices:
            hint = did_you_mean(str(value), choices)
            raise self.fail(arg, f"expected one of ({', '.join(choices)}), got {value!r}{hint}")
        return value

    def flag(self, arg: str, value: Any) -> bool:
        """A boolean."""
        if not isinstance(value, bool):
            raise self.fail(arg, f"expected true or false, got {value!r}")
        return value

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
        """A length or position in the schedule's unit (see the module docstring for the rule)."""
        num, unit = _parse_duration(value, self.k(arg))
        n = _to_units(num, unit, self.unit, self.plan.steps_per_epoch, self.span)
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

    def expressions(self, arg: str, value: Any, variables: tuple[str, ...]) -> list[_Expr]:
        """One expression per param group from a string or a list of strings."""
        if isinstance(value, (list, tuple)):
            if len(value) != self.groups:
                raise self.fail(arg, f"expected one expression or a list of {self.groups} (one per "
                                     f"param group), got a list of {len(value)}")
            return [_Expr(v, variables, f"{self.k(arg)}[{i}]") for i, v in enumerate(value)]
        return [_Expr(value, variables, self.k(arg))] * self.groups

    def floor(self, min_lr: Any, eta_min: Any) -> list[float]:
        """The floor LR per group from `min_lr` or its torch spelling `eta_min`."""
        if min_lr is not None and eta_min is not None:
            raise self.fail("eta_min", "set min_lr or eta_min, not both")
        if eta_min is not None:
            return self.per_group("eta_min", eta_min, lo=0)
        return self.per_group("min_lr", 0.0 if min_lr is None else min_lr, lo=0)


def _periodic_marks(period: float, limit: int, label: str, offset: float = 0.0
                    ) -> list[tuple[float, str]]:
    """Positions offset + k*period (k >= 1) that fall inside [0, limit)."""
    marks, k = [], 1
    while offset + k * period < limit:
        marks.append((offset + k * period, label))
        k += 1
    return marks


# ----------------------------------------------------------------------------------------------
# Shared formulas (each a small pure function of the clock u)

def _step_decay(ctx: _Ctx, size: int, gamma: float, given: bool = True) -> _Curve:
    """base * gamma ** (u // size) — StepLR; a size the user gave must fit in the run."""
    if given and size >= ctx.span:
        raise ctx.fail("step_size", f"step_size {ctx.units(size)} is not shorter than the run "
                                    f"({ctx.run_text()}): the LR would never change")
    base = ctx.base_lrs
    return _Curve(lambda u: [b * gamma ** (u // size) for b in base],
                  marks=_periodic_marks(size, ctx.span, f"decay x{gamma:g}"))


def _milestone_decay(ctx: _Ctx, milestones: Any, gamma: float, given: bool = True) -> _Curve:
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
    return _Curve(lambda u: [b * gamma ** bisect.bisect_right(ms, u) for b in base],
                  marks=[(m, f"decay x{gamma:g}") for m in sorted(set(ms))])


def _exp_decay(ctx: _Ctx, gamma: float) -> _Curve:
    """base * gamma ** u — ExponentialLR."""
    base = ctx.base_lrs
    return _Curve(lambda u: [b * gamma ** u for b in base])


def _cosine_value(peak: float, floor: float, u: float, length: float) -> float:
    """Cosine from `peak` at u=0 to `floor` at u=length, written as torch writes it."""
    return floor + (peak - floor) * (1 + math.cos(math.pi * u / length)) / 2


def _cosine(ctx: _Ctx, floors: list[float], length: float, clamp: bool) -> _Curve:
    """Cosine annealing over `length`; torch's CosineAnnealingLR keeps going (clamp=False)."""
    base = ctx.base_lrs

    def lr(u: int) -> list[float]:
        if clamp and u >= length:
            return list(floors)
        return [_cosine_value(b, f, u, length) for b, f in zip(base, floors)]
    marks = [(length, "floor")] if length < ctx.span else []
    return _Curve(lr, marks=marks)


def _poly(ctx: _Ctx, floors: list[float], length: float, power: float) -> _Curve:
    """floor + (base - floor) * (1 - min(u, length) / length) ** power — PolynomialLR, poly."""
    base = ctx.base_lrs
    marks = [(length, "floor")] if length < ctx.span else []
    return _Curve(lambda u: [f + (b - f) * (1.0 - min(length, u) / length) ** power
                             for b, f in zip(base, floors)], marks=marks)


def _sgdr(ctx: _Ctx, first: float, mult: float, decay: float, floors: list[float],
          cycles: int | None, rewarm: float) -> _Curve:
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
        return [_cosine_value(p, f, t_cur, t_i) for p, f in zip(peaks, floors)]

    marks, i = [], 1
    while start(i) < ctx.span and (cycles is None or i <= cycles):
        marks.append((start(i), "floor" if cycles is not None and i == cycles else f"restart {i}"))
        i += 1
    return _Curve(lr, marks=marks)


def _cyclic(ctx: _Ctx, bases: list[float], tops: list[float], up: float, down: float,
            scale: Callable[[float], float], scale_mode: str,
            momenta: tuple[list[float], list[float]] | None) -> _Curve:
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

    marks = _periodic_marks(total, ctx.span, "peak", offset=up - total)
    marks += _periodic_marks(total, ctx.span, "cycle start")
    return _Curve(lr, momentum if momenta else None, marks=sorted(marks))


def _onecycle(ctx: _Ctx, tops: list[float], total: int, pct: float, strategy: str, three: bool,
              div: float, final_div: float, momenta: tuple[list[float], list[float]] | None,
              total_arg: str) -> _Curve:
    """torch OneCycleLR's phases, evaluated at clock u."""
    if total < ctx.span:
        raise ctx.fail(total_arg, f"one-cycle total_steps={total} is shorter than the run "
                                  f"({ctx.run_text()})")
    if float(pct * total) - 1 == 0:
        raise ctx.fail("pct_start", f"pct_start x total = 1 leaves the warm-up phase no length "
                                    f"(torch divides by zero); use a larger pct_start")
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
    return _Curve(lr, momentum if momenta else None, marks=marks)


class _Plateau:
    """ReduceLROnPlateau's rules over a metric history; lr(u) depends only on metrics before u."""

    def __init__(self, base_lrs: list[float], mode: str, factor: float, patience: int,
                 threshold: float, threshold_mode: str, cooldown: int, min_lrs: list[float],
                 eps: float):
        self.base_lrs = list(base_lrs)
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.min_lrs, self.eps = cooldown, min_lrs, eps
        self.reset()

    def reset(self) -> None:
        """Forget every metric."""
        self.history: list[list[float]] = []  # [clock epoch, metric]
        self.best = math.inf if self.mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.lrs = list(self.base_lrs)
        self.changed_at: list[int] = []  # clock epochs whose metric lowered the LR...
        self.changed_to: list[list[float]] = []  # ...and the LRs from the next epoch on

    def _better(self, a: float) -> bool:
        """torch's improvement test, threshold included."""
        if self.mode == "min":
            edge = self.best * (1.0 - self.threshold) if self.threshold_mode == "rel" \
                else self.best - self.threshold
            return a < edge
        edge = self.best * (self.threshold + 1.0) if self.threshold_mode == "rel" \
            else self.best + self.threshold
        return a > edge

    def observe(self, u: int, metric: float) -> None:
        """Metric at the end of clock epoch u; an epoch seen before is replaced (re-run after resume)."""
        if self.history and u <= self.history[-1][0]:
            kept = [h for h in self.history if h[0] < u]
            self.reset()
            for e, m in kept:
                self._step(int(e), m)
        self._step(u, float(metric))

    def _step(self, u: int, current: float) -> None:
        """One ReduceLROnPlateau.step(), in torch's order."""
        self.history.append([u, current])
        if self._better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            new = list(self.lrs)
            for i, old in enumerate(self.lrs):
                candidate = max(old * self.factor, self.min_lrs[i])
                if old - candidate > self.eps:
                    new[i] = candidate
            if new != self.lrs:
                self.lrs = new
                self.changed_at.append(u)
                self.changed_to.append(list(new))
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    def lr(self, u: int) -> list[float]:
        """LRs during clock epoch u: reductions decided at the end of earlier epochs."""
        i = bisect.bisect_left(self.changed_at, u)
        return list(self.changed_to[i - 1]) if i else list(self.base_lrs)


def _plateau(ctx: _Ctx, monitor: str, mode: str, factor: Any, patience: Any, threshold: Any,
             threshold_mode: Any, cooldown: Any, min_lr: Any, eps: Any) -> _Curve:
    """Validate torch's ReduceLROnPlateau arguments and wrap a _Plateau."""
    state = _Plateau(
        ctx.base_lrs, mode=ctx.choice("mode", mode, ("min", "max")),
        factor=ctx.number("factor", factor, lo=0, hi=1),
        patience=ctx.whole("patience", patience), threshold=ctx.number("threshold", threshold, lo=0),
        threshold_mode=ctx.choice("threshold_mode", threshold_mode, ("rel", "abs")),
        cooldown=ctx.whole("cooldown", cooldown), min_lrs=ctx.per_group("min_lr", min_lr, lo=0),
        eps=ctx.number("eps", eps, lo=0))
    if state.factor >= 1.0:
        raise ctx.fail("factor", f"expected a factor below 1 (the LR is multiplied by it), "
                                 f"got {factor!r}")
    return _Curve(state.lr, plateau=state, monitor=monitor)


def _lambda(ctx: _Ctx, lr_lambda: Any, multiplicative: bool) -> _Curve:
    """LambdaLR (base * f(u)) or MultiplicativeLR (lr(u-1) * f(u)), with f a safe expression."""
    fns = ctx.expressions("lr_lambda", lr_lambda, ("epoch", "step", "t"))
    cache: list[list[float]] = []  # lr per clock value; deterministic, so purity is kept

    def factor(fn: _Expr, u: int) -> float:
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
    return _Curve(lr)


# ----------------------------------------------------------------------------------------------
# The registry: torch classes by their own names, then the short names

def _schedule(name: str, *aliases: str, interval: str = "epoch",
              intervals: tuple[str, ...] = INTERVALS, default_warmup: dict[str, Any] | None = None,
              help: str = "") -> Callable[[Callable[..., _Curve]], Callable[..., _Curve]]:
    """Register a builder `fn(ctx, **kwargs) -> _Curve`; its signature is the schedule's arguments."""

    def deco(fn: Callable[..., _Curve]) -> Callable[..., _Curve]:
        SCHEDULES.add(name, _Kind(fn, interval, intervals, default_warmup), *aliases,
                      help=help or (inspect.getdoc(fn) or "").split("\n")[0])
        return fn
    return deco


@_schedule("StepLR")
def _torch_step(ctx: _Ctx, step_size: Any, gamma: Any = 0.1) -> _Curve:
    """torch StepLR: multiply by gamma every step_size epochs."""
    return _step_decay(ctx, ctx.duration("step_size", step_size, whole=True),
                       ctx.number("gamma", gamma, lo=0, lo_open=True))


@_schedule("MultiStepLR")
def _torch_multistep(ctx: _Ctx, milestones: Any, gamma: Any = 0.1) -> _Curve:
    """torch MultiStepLR: multiply by gamma at each milestone."""
    return _milestone_decay(ctx, milestones, ctx.number("gamma", gamma, lo=0, lo_open=True))


@_schedule("ExponentialLR")
def _torch_exponential(ctx: _Ctx, gamma: Any) -> _Curve:
    """torch ExponentialLR: multiply by gamma every epoch."""
    return _exp_decay(ctx, ctx.number("gamma", gamma, lo=0, lo_open=True))


@_schedule("CosineAnnealingLR")
def _torch_cosine(ctx: _Ctx, T_max: Any = None, eta_min: Any = 0.0) -> _Curve:
    """torch CosineAnnealingLR (T_max defaults to the run); past T_max it rises again, like torch."""
    length = ctx.span if T_max is None else ctx.duration("T_max", T_max)
    return _cosine(ctx, [ctx.number("eta_min", eta_min, lo=0)] * ctx.groups, length, clamp=False)


@_schedule("CosineAnnealingWarmRestarts")
def _torch_warm_restarts(ctx: _Ctx, T_0: Any, T_mult: Any = 1, eta_min: Any = 0.0) -> _Curve:
    """torch CosineAnnealingWarmRestarts: cycles of T_0 * T_mult**i."""
    return _sgdr(ctx, ctx.duration("T_0", T_0, whole=True), ctx.whole("T_mult", T_mult, lo=1), 1.0,
                 [ctx.number("eta_min", eta_min, lo=0)] * ctx.groups, None, 0)


def _clr_scale(ctx: _Ctx, mode: str, gamma: float, scale_fn: Any, scale_mode: Any
               ) -> tuple[Callable[[float], float], str]:
    """CyclicLR's amplitude scale and what it is evaluated on (cycle number or iterations)."""
    if scale_fn is not None:
        expr = _Expr(scale_fn, ("x",), ctx.k("scale_fn"))
        mode_of_x = ctx.choice("scale_mode", scale_mode, ("cycle", "iterations"))
        return (lambda x: expr(f"x={x:g}", x=x)), mode_of_x
    if mode == "triangular":
        return (lambda x: 1.0), "cycle"
    if mode == "triangular2":
        return (lambda x: 1 / (2.0 ** (x - 1))), "cycle"
    return (lambda x: gamma ** x), "iterations"


@_schedule("CyclicLR", interval="step")
def _torch_cyclic(ctx: _Ctx, base_lr: Any, max_lr: Any, step_size_up: Any = 2000,
                  step_size_down: Any = None, mode: Any = "triangular", gamma: Any = 1.0,
                  scale_fn: Any = None, scale_mode: Any = "cycle", cycle_momentum: Any = True,
                  base_momentum: Any = 0.8, max_momentum: Any = 0.9) -> _Curve:
    """torch CyclicLR: triangular cycles between base_lr and max_lr, momentum inverse."""
    up = ctx.duration("step_size_up", step_size_up)
    down = up if step_size_down is None else ctx.duration("step_size_down", step_size_down)
    mode = ctx.choice("mode", mode, ("triangular", "triangular2", "exp_range"))
    scale, scale_mode = _clr_scale(ctx, mode, ctx.number("gamma", gamma, lo=0, lo_open=True),
                                   scale_fn, scale_mode)
    curve = _cyclic(ctx, ctx.per_group("base_lr", base_lr, lo=0), ctx.per_group("max_lr", max_lr, lo=0),
                    up, down, scale, scale_mode,
                    ctx.momenta(cycle_momentum, base_momentum, max_momentum, explicit_default=True))
    if scale_fn is not None:  # evaluate the whole run now: a bad expression fails before training
        for u in range(ctx.span):
            curve.lr(u)
    return curve


@_schedule("OneCycleLR", interval="step")
def _torch_onecycle(ctx: _Ctx, max_lr: Any, total_steps: Any = None, epochs: Any = None,
                    steps_per_epoch: Any = None, pct_start: Any = 0.3, anneal_strategy: Any = "cos",
                    cycle_momentum: Any = True, base_momentum: Any = 0.85, max_momentum: Any = 0.95,
                    div_factor: Any = 25.0, final_div_factor: Any = 1e4,
                    three_phase: Any = False) -> _Curve:
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
    return _onecycle(
        ctx, ctx.per_group("max_lr", max_lr, lo=0, lo_open=True), total,
        ctx.number("pct_start", pct_start, lo=0, hi=1),
        ctx.choice("anneal_strategy", anneal_strategy, ("cos", "linear")),
        ctx.flag("three_phase", three_phase),
        ctx.number("div_factor", div_factor, lo=0, lo_open=True),
        ctx.number("final_div_factor", final_div_factor, lo=0, lo_open=True),
        ctx.momenta(cycle_momentum, base_momentum, max_momentum, explicit_default=True), total_arg)


@_schedule("ReduceLROnPlateau", intervals=("epoch",))
def _torch_plateau(ctx: _Ctx, mode: Any = "min", factor: Any = 0.1, patience: Any = 10,
                   threshold: Any = 1e-4, threshold_mode: Any = "rel", cooldown: Any = 0,
                   min_lr: Any = 0.0, eps: Any = 1e-8, monitor: Any = None) -> _Curve:
    """torch ReduceLROnPlateau; `monitor` (lrtool's) defaults to val_loss (min) or val_acc (max)."""
    mode = ctx.choice("mode", mode, ("min", "max"))
    if monitor is None:
        monitor = "val_loss" if mode == "min" else "val_acc"
    monitor = ctx.choice("monitor", monitor, _MONITORS)
    return _plateau(ctx, monitor, mode, factor, patience, threshold, threshold_mode, cooldown,
                    min_lr, eps)


@_schedule("LambdaLR")
def _torch_lambda(ctx: _Ctx, lr_lambda: Any) -> _Curve:
    """torch LambdaLR: base lr times an expression in epoch (e.g. '0.5 ** (epoch // 3)')."""
    return _lambda(ctx, lr_lambda, multiplicative=False)


@_schedule("MultiplicativeLR")
def _torch_multiplicative(ctx: _Ctx, lr_lambda: Any) -> _Curve:
    """torch MultiplicativeLR: previous lr times an expression in epoch (from epoch 1 on)."""
    return _lambda(ctx, lr_lambda, multiplicative=True)


@_schedule("LinearLR")
def _torch_linear(ctx: _Ctx, start_factor: Any = 1.0 / 3, end_factor: Any = 1.0,
                  total_iters: Any = 5) -> _Curve:
    """torch LinearLR: factor from start_factor to end_factor over total_iters."""
    s = ctx.number("start_factor", start_factor, lo=0, lo_open=True, hi=1)
    e = ctx.number("end_factor", end_factor, lo=0, hi=1)
    n = ctx.duration("total_iters", total_iters, whole=True)
    base = ctx.base_lrs
    marks = [(n, "ramp end")] if n < ctx.span else []
    return _Curve(lambda u: [b * (s + (e - s) * min(n, u) / n) for b in base], marks=marks)


@_schedule("ConstantLR")
def _torch_constant(ctx: _Ctx, factor: Any = 1.0 / 3, total_iters: Any = 5) -> _Curve:
    """torch ConstantLR: base lr times factor until total_iters, then base lr."""
    f = ctx.number("factor", factor, lo=0, hi=1)
    n = ctx.duration("total_iters", total_iters, whole=True)
    base = ctx.base_lrs
    marks = [(n, "factor off")] if n < ctx.span else []
    return _Curve(lambda u: [b * (f if u < n else 1.0) for b in base], marks=marks)


@_schedule("PolynomialLR")
def _torch_poly(ctx: _Ctx, total_iters: Any = 5, power: Any = 1.0) -> _Curve:
    """torch PolynomialLR: base * (1 - min(t, total_iters) / total_iters) ** power."""
    return _poly(ctx, [0.0] * ctx.groups, ctx.duration("total_iters", total_iters, whole=True),
                 ctx.number("power", power, lo=0))


@_schedule("constant", "const", "fixed")
def _short_constant(ctx: _Ctx, factor: Any = 1.0) -> _Curve:
    """The optimizer's lr (times factor) for the whole run."""
    f = ctx.number("factor", factor, lo=0)
    base = ctx.base_lrs
    return _Curve(lambda u: [b * f for b in base])


@_schedule("step")
def _short_step(ctx: _Ctx, step_size: Any = None, gamma: Any = 0.1) -> _Curve:
    """Multiply by gamma every step_size (default: a third of the run, so two decays)."""
    size = max(1, _round(ctx.span / 3)) if step_size is None else \
        ctx.duration("step_size", step_size, whole=True)
    return _step_decay(ctx, size, ctx.number("gamma", gamma, lo=0, lo_open=True),
                       given=step_size is not None)


@_schedule("multistep", "multi_step")
def _short_multistep(ctx: _Ctx, milestones: Any = None, gamma: Any = 0.1) -> _Curve:
    """Multiply by gamma at each milestone (default 50% and 75% of the run)."""
    return _milestone_decay(ctx, ["50%", "75%"] if milestones is None else milestones,
                            ctx.number("gamma", gamma, lo=0, lo_open=True), given=milestones is not None)


@_schedule("exponential", "exp")
def _short_exponential(ctx: _Ctx, gamma: Any = None, final_factor: Any = None) -> _Curve:
    """Multiply by gamma every unit; by default gamma reaches final_factor=0.01 at the end of the run."""
    if gamma is not None and final_factor is not None:
        raise ctx.fail("final_factor", "set gamma or final_factor, not both")
    if gamma is None:
        ff = ctx.number("final_factor", 0.01 if final_factor is None else final_factor,
                        lo=0, lo_open=True)
        gamma = ff ** (1.0 / ctx.span)
    return _exp_decay(ctx, ctx.number("gamma", gamma, lo=0, lo_open=True))


@_schedule("cosine", "cos", interval="step")
def _short_cosine(ctx: _Ctx, min_lr: Any = None, eta_min: Any = None, length: Any = None) -> _Curve:
    """Cosine from the optimizer's lr to min_lr over the run (or `length`), then min_lr."""
    length = ctx.span if length is None else ctx.duration("length", length)
    return _cosine(ctx, ctx.floor(min_lr, eta_min), length, clamp=True)


@_schedule("sgdr", "cosine_restarts", interval="step")
def _short_sgdr(ctx: _Ctx, cycle: Any = None, t_mult: Any = 1.0, decay: Any = 1.0,
                min_lr: Any = None, eta_min: Any = None, cycles: Any = None,
                restart_warmup: Any = 0) -> _Curve:
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
    return _sgdr(ctx, first, mult, ctx.number("decay", decay, lo=0, lo_open=True),
                 ctx.floor(min_lr, eta_min), limit, rewarm)


@_schedule("cyclic", "clr", interval="step")
def _short_cyclic(ctx: _Ctx, base_lr: Any = None, max_lr: Any = None, step_size: Any = None,
                  step_size_down: Any = None, mode: Any = "triangular", gamma: Any = None,
                  cycle_momentum: Any = None, base_momentum: Any = 0.85,
                  max_momentum: Any = 0.95) -> _Curve:
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
    scale, scale_mode = _clr_scale(ctx, mode, g, None, "cycle")
    return _cyclic(ctx, bases, tops, up, down, scale, scale_mode,
                   ctx.momenta(cycle_momentum, base_momentum, max_momentum, explicit_default=False))


@_schedule("onecycle", "one_cycle", "1cycle", interval="step")
def _short_onecycle(ctx: _Ctx, max_lr: Any = None, pct_start: Any = 0.3, div_factor: Any = 25.0,
                    final_div_factor: Any = 1e4, anneal_strategy: Any = "cos",
                    three_phase: Any = False, cycle_momentum: Any = None,
                    base_momentum: Any = 0.85, max_momentum: Any = 0.95) -> _Curve:
    """Smith's 1cycle over the run peaking at max_lr (default: the optimizer's lr), as OneCycleLR."""
    tops = list(ctx.base_lrs) if max_lr is None else ctx.per_group("max_lr", max_lr, lo=0, lo_open=True)
    return _onecycle(
        ctx, tops, ctx.span, ctx.number("pct_start", pct_start, lo=0, hi=1),
        ctx.choice("anneal_strategy", anneal_strategy, ("cos", "linear")),
        ctx.flag("three_phase", three_phase),
        ctx.number("div_factor", div_factor, lo=0, lo_open=True),
        ctx.number("final_div_factor", final_div_factor, lo=0, lo_open=True),
        ctx.momenta(cycle_momentum, base_momentum, max_momentum, explicit_default=False),
        "pct_start")


@_schedule("plateau", "reduce_on_plateau", intervals=("epoch",))
def _short_plateau(ctx: _Ctx, monitor: Any = "val_loss", mode: Any = None, factor: Any = 0.1,
                   patience: Any = 10, threshold: Any = 1e-4, threshold_mode: Any = "rel",
                   cooldown: Any = 0, min_lr: Any = 0.0, eps: Any = 1e-8) -> _Curve:
    """Multiply by factor when `monitor` stops improving for `patience` epochs (torch's rules)."""
    monitor = ctx.choice("monitor", monitor, _MONITORS)
    if mode is None:
        mode = "max" if higher_is_better(monitor) else "min"
    return _plateau(ctx, monitor, mode, factor, patience, threshold, threshold_mode, cooldown,
                    min_lr, eps)


@_schedule("poly", "polynomial", interval="step")
def _short_poly(ctx: _Ctx, power: Any = 1.0, min_lr: Any = None, eta_min: Any = None,
                length: Any = None) -> _Curve:
    """Polynomial decay from the optimizer's lr to min_lr over the run (or `length`)."""
    length = ctx.span if length is None else ctx.duration("length", length)
    return _poly(ctx, ctx.floor(min_lr, eta_min), length, ctx.number("power", power, lo=0))


@_schedule("warmup_cosine", interval="step",
           default_warmup={"length": "5%", "start_factor": _DEFAULT_WARMUP_START})
def _short_warmup_cosine(ctx: _Ctx, hold: Any = 0, min_lr: Any = None, eta_min: Any = None) -> _Curve:
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
        return [_cosine_value(b, f, u - held, length) for b, f in zip(base, floors)]
    return _Curve(lr, marks=[(held, "decay start")] if held else [])


# ----------------------------------------------------------------------------------------------
# Resolve: config section -> ScheduleSpec

def _check_args(canonical: str, kwargs: dict[str, Any], key: str) -> None:
    """Raise for arguments `canonical` does not take, naming `key.<arg>` and the valid ones."""
    kind: _Kind = SCHEDULES.get(canonical)
    check_kwargs(kind.fn, kwargs, key, injected=("ctx",), owner=canonical, refused=_REJECTED_TORCH_ARGS,
                 hint="arguments of another schedule go in a block named after it")


def _interval_value(raw: Any, key: str) -> str:
    """'epoch' or 'step' (any case)."""
    value = raw.lower() if isinstance(raw, str) else raw
    if value not in INTERVALS:
        raise LrtoolError(f"{key}: expected one of ({', '.join(INTERVALS)}), got {raw!r}"
                          f"{did_you_mean(str(raw), INTERVALS)}")
    return value


def _resolve_interval(raw: Any, kind: _Kind, canonical: str, key: str) -> str:
    """The interval: given (checked against what the schedule allows) or the schedule's default."""
    if raw is None:
        return kind.interval
    value = _interval_value(raw, key)
    if value not in kind.intervals:
        raise LrtoolError(f"{key}: {canonical} runs per {' or '.join(kind.intervals)} only, got "
                          f"{raw!r} (a block '{canonical}: {{interval: {kind.intervals[0]}}}' can "
                          f"override a common interval)")
    return value


def _normalize_warmup(raw: Any, key: str) -> dict[str, Any] | None:
    """Check the warmup section; None when there is no warmup."""
    if raw is None or raw is False or (not isinstance(raw, bool) and raw == 0):
        return None
    if isinstance(raw, (int, float, str)) and not isinstance(raw, bool):
        raw = {"length": raw}
    if not isinstance(raw, dict):
        raise LrtoolError(f"{key}: expected a mapping like {{epochs: 1, start_factor: 0.1}} or a "
                          f"duration, got {raw!r}")
    for k in raw:
        if k not in _WARMUP_KEYS:
            raise LrtoolError(f"{key}.{k}: unknown warmup setting{did_you_mean(str(k), _WARMUP_KEYS)}; "
                              f"valid: {', '.join(_WARMUP_KEYS)}")
    lengths = [k for k in _WARMUP_LENGTH_KEYS if k in raw]
    if len(lengths) != 1:
        raise LrtoolError(f"{key}: give exactly one of steps, epochs, length; got "
                          f"{', '.join(lengths) or 'none'}")
    which = lengths[0]
    num, unit = _parse_duration(raw[which], f"{key}.{which}")
    if which != "length" and unit is not None:
        raise LrtoolError(f"{key}.{which}: expected a number, got {raw[which]!r} "
                          f"(use length: for a duration with a unit)")
    if which == "steps" and num != int(num):
        raise LrtoolError(f"{key}.steps: expected a whole number, got {raw[which]!r}")
    if "start_factor" in raw and "start_lr" in raw:
        raise LrtoolError(f"{key}: set start_factor or start_lr, not both")
    out = {which: raw[which]}
    if "start_lr" in raw:
        values = raw["start_lr"] if isinstance(raw["start_lr"], (list, tuple)) else [raw["start_lr"]]
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise LrtoolError(f"{key}.start_lr: expected a number >= 0 (or one per param group), "
                                  f"got {raw['start_lr']!r}")
        out["start_lr"] = raw["start_lr"]
    else:
        f = raw.get("start_factor", _DEFAULT_WARMUP_START)
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 <= f <= 1:
            raise LrtoolError(f"{key}.start_factor: expected a number in [0, 1], got {f!r}")
        out["start_factor"] = f
    return None if num == 0 else out


def resolve_schedule(section: dict | None, name: str | None = None,
                     key: str = "schedule") -> ScheduleSpec:
    """Pick and check the schedule a config section describes.

    Args:
        section: the ``schedule`` section (after ``--set`` overrides); see the module docstring.
        name: a schedule name that overrides ``section["name"]`` (``--schedule``).
        key: the section's dotted key, for error messages.

    Returns:
        The resolved ScheduleSpec (canonical name, merged kwargs, interval, normalized warmup).

    Raises:
        LrtoolError: one line naming the dotted key, for unknown names, unknown or missing
        arguments, a bad interval or warmup.
    """
    section = {} if section is None else section
    if not isinstance(section, dict):
        raise LrtoolError(f"{key}: expected a mapping with name: and the schedule's arguments, "
                          f"got {section!r}")
    flat: dict[str, Any] = {}
    blocks: dict[str, tuple[str, dict[str, Any]]] = {}
    for k, v in section.items():
        if k == "name" or k in _COMMON_KEYS:
            continue
        canonical = SCHEDULES.canonical(k) if isinstance(k, str) else None
        if canonical is None:
            flat[str(k)] = v
            continue
        if v is not None and not isinstance(v, dict):
            raise LrtoolError(f"{key}.{k}: the arguments of schedule {canonical} must be a mapping, "
                              f"got {v!r}")
        if canonical in blocks:
            raise LrtoolError(f"{key}.{k}: schedule {canonical} already has a block "
                              f"'{key}.{blocks[canonical][0]}'")
        blocks[canonical] = (str(k), v or {})

    section_name = section.get("name")
    section_canonical = None
    if section_name is not None:
        if not isinstance(section_name, str):
            raise LrtoolError(f"{key}.name: expected a schedule name, got {section_name!r}")
        SCHEDULES.get(section_name, key=f"{key}.name")  # raises with the valid names
        section_canonical = SCHEDULES.canonical(section_name)
    if name is not None:
        SCHEDULES.get(name, key="--schedule")
        chosen = SCHEDULES.canonical(name)
    elif section_canonical is not None:
        chosen = section_canonical
    else:
        raise LrtoolError(f"{key}.name: missing; expected one of: {format_choices(SCHEDULES.names())}")
    assert chosen is not None

    # lint everything the config holds, not just the chosen schedule
    if flat and section_canonical is None:
        raise LrtoolError(f"{key}.{next(iter(flat))}: no {key}.name says which schedule this argument "
                          f"belongs to")
    if section_canonical is not None:
        _check_args(section_canonical, flat, key)
    for canonical, (bk, bv) in blocks.items():
        args = {a: v for a, v in bv.items() if a not in _COMMON_KEYS}
        _check_args(canonical, args, f"{key}.{bk}")
    for where, holder in [(key, section), *((f"{key}.{bk}", bv) for bk, bv in blocks.values())]:
        if holder.get("interval") is not None:
            _interval_value(holder["interval"], f"{where}.interval")
        _normalize_warmup(holder.get("warmup"), f"{where}.warmup")

    kwargs: dict[str, Any] = {}
    keys: dict[str, str] = {}
    if chosen == section_canonical:
        kwargs.update(flat)
        keys.update({a: f"{key}.{a}" for a in flat})
    interval_raw, interval_key = section.get("interval"), f"{key}.interval"
    warmup_present, warmup_raw, warmup_key = "warmup" in section, section.get("warmup"), f"{key}.warmup"
    if chosen in blocks:
        bk, bv = blocks[chosen]
        for a, v in bv.items():
            if a == "interval":
                interval_raw, interval_key = v, f"{key}.{bk}.interval"
            elif a == "warmup":
                warmup_present, warmup_raw, warmup_key = True, v, f"{key}.{bk}.warmup"
            elif a in kwargs:
                raise LrtoolError(f"{key}.{bk}.{a}: also set as {key}.{a}; set it in one place")
            else:
                kwargs[a] = v
                keys[a] = f"{key}.{bk}.{a}"
    own_block = blocks.get(chosen, (None,))[0]
    _check_required(chosen, kwargs, f"{key}.{own_block}" if chosen != section_canonical and own_block
                    else key)

    kind: _Kind = SCHEDULES.get(chosen)
    interval = _resolve_interval(interval_raw, kind, chosen, interval_key)
    warmup = _normalize_warmup(warmup_raw, warmup_key)
    if not warmup_present and kind.default_warmup is not None:
        warmup = dict(kind.default_warmup)
    keys.update({"interval": interval_key, "warmup": warmup_key})
    return ScheduleSpec(chosen, kwargs, interval, warmup, keys)


def _check_required(canonical: str, kwargs: dict[str, Any], key: str) -> None:
    """Raise for a required argument of `canonical` that no flat key or block gives."""
    kind: _Kind = SCHEDULES.get(canonical)
    for p in list(inspect.signature(kind.fn).parameters.values())[1:]:
        if p.default is inspect.Parameter.empty and p.name not in kwargs:
            raise LrtoolError(f"{key}.{p.name}: required by {canonical}, missing")


# ----------------------------------------------------------------------------------------------
# Build: ScheduleSpec + plan -> Schedule

def _warmup_steps(warmup: dict[str, Any], interval: str, plan: Plan, key: str) -> int:
    """The warmup length in optimizer steps (a plain number is in the schedule's interval unit)."""
    which = next(k for k in _WARMUP_LENGTH_KEYS if k in warmup)
    num, unit = _parse_duration(warmup[which], f"{key}.{which}")
    if which == "steps":
        unit = "step"
    elif which == "epochs":
        unit = "epoch"
    elif unit is None:
        unit = interval
    if unit == "%":
        return _round(num / 100.0 * plan.total_steps)
    return _round(num * plan.steps_per_epoch) if unit == "epoch" else _round(num)


class Schedule:
    """A built schedule: LR and momentum of every param group as pure functions of the step.

    Attributes:
        name: the canonical schedule name.
        interval: 'epoch' or 'step' — the unit of the schedule's clock.
        needs_metric: True for plateau schedules; call observe() at the end of every epoch.
        monitor: the metric observe() expects (val_loss, val_acc, ...) or None.
        warmup_steps: optimizer steps of warmup in front of the schedule (0 for none).
    """

    def __init__(self, name: str, interval: str, plan: Plan, curve: _Curve, warmup_steps: int,
                 warmup_start: tuple[str, Any] | None):
        self.name = name
        self.interval = interval
        self.plan = plan
        self.needs_metric = curve.plateau is not None
        self.monitor = curve.monitor
        self.warmup_steps = warmup_steps
        self._curve = curve
        self._warmup_start = warmup_start
        # with interval epoch the clock stays on real epoch boundaries: the epoch in which warmup
        # ends is the schedule's epoch 0
        self._epoch_offset = warmup_steps // plan.steps_per_epoch

    def _clock(self, step: int) -> int:
        """The schedule's clock (its own steps or epochs since warmup ended) at optimizer step `step`."""
        if self.interval == "step":
            return step - self.warmup_steps
        return step // self.plan.steps_per_epoch - self._epoch_offset

    @staticmethod
    def _check_step(step: Any) -> int:
        """An optimizer step index: a whole number >= 0."""
        step = operator.index(step)
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        return step

    def lr(self, step: int) -> list[float]:
        """The LR of every param group for optimizer step `step` (0-based, global).

        Args:
            step: the optimizer step about to be taken.

        Returns:
            One learning rate per param group.
        """
        step = self._check_step(step)
        if step < self.warmup_steps:
            target = self._curve.lr(0)
            kind, value = self._warmup_start
            start = [value * t for t in target] if kind == "factor" else value
            frac = step / self.warmup_steps
            return [s + (t - s) * frac for s, t in zip(start, target)]
        return self._curve.lr(self._clock(step))

    def momentum(self, step: int) -> list[float] | None:
        """The cycled momentum (SGD momentum or Adam beta1) per group for `step`, or None.

        Args:
            step: the optimizer step about to be taken.

        Returns:
            One momentum per param group, or None when the schedule does not cycle momentum.
        """
        step = self._check_step(step)
        if self._curve.momentum is None:
            return None
        # during warmup momentum holds the value the schedule starts with
        return self._curve.momentum(self._clock(step) if step >= self.warmup_steps else 0)

    def observe(self, epoch: int, metric: float) -> None:
        """Record the monitored metric at the end of epoch `epoch` (0-based); no-op unless needs_metric.

        Epochs that ended inside the warmup are ignored; observing an epoch again (a re-run after
        resume) replaces it and everything after it.

        Args:
            epoch: the epoch that just ended.
            metric: the value of `monitor` for it.
        """
        if self._curve.plateau is None:
            return
        u = operator.index(epoch) - self._epoch_offset
        if u >= 0:
            self._curve.plateau.observe(u, float(metric))

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state: the metric history for plateau, nothing else for the rest.

        Returns:
            {"name": ..., "history": [[epoch, metric], ...], "reduced_after": [epoch, ...]} for
            plateau; {"name": ...} otherwise.
        """
        state: dict[str, Any] = {"name": self.name}
        plateau = self._curve.plateau
        if plateau is not None:
            state["history"] = [[int(u) + self._epoch_offset, m] for u, m in plateau.history]
            state["reduced_after"] = [u + self._epoch_offset for u in plateau.changed_at]
        return state

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore the state saved by state_dict(): plateau replays the metric history.

        Args:
            d: a dict from state_dict().

        Raises:
            LrtoolError: when a plateau schedule gets a state without a metric history.
        """
        plateau = self._curve.plateau
        if plateau is None:
            return
        history = d.get("history") if isinstance(d, dict) else None
        if not isinstance(history, list):
            raise LrtoolError(f"schedule state: expected a metric history for {self.name}, got {d!r}")
        plateau.reset()
        for epoch, metric in history:
            self.observe(int(epoch), float(metric))

    def boundaries(self) -> list[tuple[int, str]]:
        """Steps where phases begin or restarts happen, with a label, for plots.

        Returns:
            Sorted (step, label) pairs inside the run: warmup end, decays, peaks, restarts, ...
        """
        out = [(self.warmup_steps, "warmup end")] if self.warmup_steps else []
        spe = self.plan.steps_per_epoch
        for position, label in self._curve.marks:
            u = math.ceil(position)  # the first clock value at or after the mark
            if self.interval == "step":
                step = self.warmup_steps + u
            else:
                step = max(self.warmup_steps, (u + self._epoch_offset) * spe)
            if 0 <= step < self.plan.total_steps:
                out.append((step, label))
        return sorted(out)


def _check_floats(values: Any, what: str, expected: int | None = None) -> list[float]:
    """A non-empty list of finite numbers >= 0 (programming input, not config)."""
    if not isinstance(values, (list, tuple)) or not values:
        raise LrtoolError(f"{what}: expected a non-empty list of numbers, got {values!r}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise LrtoolError(f"{what}: expected numbers >= 0, got {values!r}")
        out.append(float(v))
    if expected is not None and len(out) != expected:
        raise LrtoolError(f"{what}: expected {expected} values (one per param group), got {len(out)}")
    return out


def build_schedule(spec: ScheduleSpec, base_lrs: list[float], plan: Plan,
                   base_momenta: list[float] | None = None, key: str = "schedule") -> Schedule:
    """Build the schedule for a run, checking before training that the plan is possible.

    Args:
        spec: from resolve_schedule (or built by hand).
        base_lrs: the optimizer's configured lr per param group.
        plan: steps per epoch (optimizer steps) and epochs.
        base_momenta: the optimizer's momentum (SGD) or beta1 (Adam) per group; None when it has
            neither (then short names do not cycle momentum and torch names must turn it off).
        key: the section's dotted key, for messages about arguments the spec has no key for.

    Returns:
        A Schedule.

    Raises:
        LrtoolError: one line naming the key, e.g. a one-cycle total shorter than the run, a
        milestone beyond the last epoch, warmup as long as training, cyclic base_lr >= max_lr.
    """
    if not isinstance(plan, Plan):
        raise TypeError(f"plan must be a Plan, got {type(plan).__name__}")
    base = _check_floats(base_lrs, "optimizer.lr")
    momenta = None if base_momenta is None else \
        _check_floats(base_momenta, "optimizer momentum", expected=len(base))
    kind: _Kind = SCHEDULES.get(spec.name, key=f"{key}.name")
    canonical = SCHEDULES.canonical(spec.name) or spec.name
    keys = dict(spec.keys)
    interval = _resolve_interval(spec.interval, kind, canonical, keys.get("interval", f"{key}.interval"))
    _check_args(canonical, spec.kwargs, key)  # specs built by hand skip resolve_schedule
    _check_required(canonical, spec.kwargs, key)

    wkey = keys.get("warmup", f"{key}.warmup")
    warmup = _normalize_warmup(spec.warmup, wkey)
    warmup_steps, warmup_start = 0, None
    if warmup is not None:
        warmup_steps = _warmup_steps(warmup, interval, plan, wkey)
        if warmup_steps >= plan.total_steps:
            raise LrtoolError(f"{wkey}: {warmup_steps} warmup steps leave no training for the "
                              f"schedule (the run has {plan.total_steps} steps)")
        if "start_lr" in warmup:
            start = warmup["start_lr"]
            start = list(start) if isinstance(start, (list, tuple)) else [start] * len(base)
            if len(start) != len(base):
                raise LrtoolError(f"{wkey}.start_lr: expected a number or {len(base)} (one per param "
                                  f"group), got {len(start)}")
            warmup_start = ("lr", [float(s) for s in start])
        else:
            warmup_start = ("factor", float(warmup["start_factor"]))
    if interval == "step":
        span = plan.total_steps - warmup_steps
    else:
        span = plan.epochs - warmup_steps // plan.steps_per_epoch

    ctx = _Ctx(name=canonical, base_lrs=base, base_momenta=momenta, plan=plan, unit=interval,
               span=span, after_warmup=warmup_steps > 0, key=key, keys=keys)
    curve = kind.fn(ctx, **spec.kwargs)
    return Schedule(canonical, interval, plan, curve, warmup_steps, warmup_start)


def preview(spec: ScheduleSpec, base_lrs: list[float], plan: Plan,
            base_momenta: list[float] | None = None, key: str = "schedule") -> list[dict[str, Any]]:
    """The LR (and momentum) of every optimizer step of the run, without training.

    Args:
        spec, base_lrs, plan, base_momenta, key: as for build_schedule.

    Returns:
        One row per optimizer step: {"step", "epoch", "lr" (group 0), "lr/pg<i>" for every group
        when there are several, "momentum" (group 0) when momentum cycles}. Plateau schedules show
        the curve without reductions, since no metric is known yet.
    """
    schedule = build_schedule(spec, base_lrs, plan, base_momenta, key=key)
    rows = []
    for step in range(plan.total_steps):
        lrs = schedule.lr(step)
        row: dict[str, Any] = {"step": step, "epoch": step // plan.steps_per_epoch, "lr": lrs[0]}
        if len(lrs) > 1:
            row.update({f"lr/pg{i}": v for i, v in enumerate(lrs)})
        momentum = schedule.momentum(step)
        if momentum is not None:
            row["momentum"] = momentum[0]
        rows.append(row)
    return rows

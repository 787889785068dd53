"""Optimizers by name: every torch.optim.Optimizer subclass, plus per-parameter groups.

Every ``torch.optim.Optimizer`` subclass is registered under its own class name (matched
case-insensitively, so 'sgd' and 'adamw' work); its config arguments are the class's own keyword
arguments, plus an optional ``param_groups`` list for per-parameter options.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from .. import checks
from ..errors import LrtoolError, one_line
from ..registry import Registry

__all__ = ["OPTIMIZERS", "validate_optimizer", "build_optimizer", "momentum_key",
           "set_lr_and_momentum", "config_lrs_and_momenta"]

# The optimizer's first argument: lrtool passes the model's parameters itself.
_OPTIMIZER_INJECTED = ("params",)
_GROUPS = "param_groups"
# Device-dependent switches: a dry run on a CPU tensor could reject what works on a GPU.
_DEVICE_FLAGS = ("fused", "foreach", "capturable")

OPTIMIZERS = Registry("optimizer")


def _register_torch_optimizers() -> None:
    """Register every Optimizer subclass that torch.optim exports, under its class name."""
    for attr in dir(torch.optim):
        obj = getattr(torch.optim, attr)
        if isinstance(obj, type) and issubclass(obj, Optimizer) and obj is not Optimizer:
            OPTIMIZERS.add(obj.__name__, obj)


_register_torch_optimizers()


def _is_number(value: Any) -> bool:
    """A real int or float (bool is an int subclass but never a number here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _coerce(value: Any, default: Any) -> Any:
    """A config value as the optimizer wants it: lists become tuples, '1e-3' becomes 0.001.

    YAML has no tuples (betas: [0.9, 0.99]), and PyYAML reads 1e-3 (no dot) as a string; a
    numeric-looking string is converted only where the parameter's default is a number.
    """
    if isinstance(value, list):
        defaults = default if isinstance(default, tuple) and len(default) == len(value) else ()
        return tuple(_coerce(v, defaults[i] if defaults else None) for i, v in enumerate(value))
    if isinstance(value, str) and (_is_number(default) or isinstance(default, Tensor)):
        for convert in (int, float):
            try:
                return convert(value)
            except ValueError:
                pass
    return value


def _coerced(cls: type, kwargs: dict[str, Any], key: str) -> dict[str, Any]:
    """`kwargs` with each value passed through _coerce against the class default.

    A string left where the default is a number gets a message naming the key, instead of
    torch's "'<' not supported between instances of 'str' and 'float'".
    """
    params = inspect.signature(cls).parameters
    out = {}
    for name, value in kwargs.items():
        default = params[name].default if name in params else None
        out[name] = _coerce(value, default)
        if isinstance(out[name], str) and _is_number(default):
            raise checks.fail(f"{key}.{name}", "a number", value)
    return out


def _prepare(cls: type, kwargs: Any, key: str) -> tuple[dict[str, Any], list[tuple]]:
    """Checked top-level arguments and param-group specs (key, pattern, compiled, options)."""
    top = dict(checks.kwargs_dict(kwargs, key))
    groups_spec = top.pop(_GROUPS, None)
    checks.check_kwargs(cls, top, key, injected=_OPTIMIZER_INJECTED)
    groups = []
    if groups_spec is not None:
        if not isinstance(groups_spec, list):
            raise LrtoolError(f"{key}.{_GROUPS}: expected a list of "
                              f"{{match: <regex on parameter names>, <option>: <value>}}")
        for i, spec in enumerate(groups_spec):
            gkey = f"{key}.{_GROUPS}[{i}]"
            if not isinstance(spec, dict):
                raise LrtoolError(f"{gkey}: expected a mapping with 'match' and options, "
                                  f"got {type(spec).__name__}")
            options = dict(spec)
            pattern = options.pop("match", None)
            if not isinstance(pattern, str) or not pattern:
                raise LrtoolError(f"{gkey}.match: required: a regular expression on parameter "
                                  f"names (e.g. 'bias|bn')")
            try:
                compiled = re.compile(pattern)
            except re.error as err:
                raise LrtoolError(
                    f"{gkey}.match: invalid regular expression {pattern!r}: {err}") from err
            checks.check_kwargs(cls, options, gkey, injected=_OPTIMIZER_INJECTED)
            groups.append((gkey, pattern, compiled, _coerced(cls, options, gkey)))
    return _coerced(cls, top, key), groups


def _construct(cls: type, param_groups: list[dict[str, Any]], top: dict[str, Any],
               key: str) -> Optimizer:
    """cls(param_groups, **top), torch's own argument errors turned into one line."""
    try:
        return cls(param_groups, **top)
    except (TypeError, ValueError, RuntimeError) as err:
        raise LrtoolError(
            f"{key}: {cls.__name__} rejected its arguments: {one_line(err)}") from err


def validate_optimizer(name: str, kwargs: dict, key: str = "optimizer") -> None:
    """Check an optimizer name and its arguments without a model.

    Besides the names, the values are checked by building the optimizer once on a dummy
    parameter, so torch's own checks (momentum >= 0, ...) run at validation time; fused,
    foreach and capturable are left out of that dry run because they depend on the device.

    Args:
        name: a torch.optim class name, case-insensitive ('SGD', 'adamw', ...).
        kwargs: the class's keyword arguments (params excluded), plus optionally
            param_groups: [{match: <regex>, <option>: <value>, ...}, ...].
        key: dotted config key used in error messages.

    Raises:
        LrtoolError: one line naming `key`, `key.<arg>` or `key.param_groups[i].<arg>`.
    """
    cls = OPTIMIZERS.get(name, f"{key}.name")
    top, groups = _prepare(cls, kwargs, key)

    def portable(options: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in options.items() if k not in _DEVICE_FLAGS}

    # 2-D so that optimizers restricted to matrices (Muon) accept it.
    dummy = [torch.nn.Parameter(torch.zeros(2, 2)) for _ in range(len(groups) + 1)]
    param_groups = [{"params": [dummy[0]]}]
    param_groups += [{"params": [p], **portable(g[3])} for p, g in zip(dummy[1:], groups)]
    _construct(cls, param_groups, portable(top), key)


def build_optimizer(name: str, kwargs: dict, model: torch.nn.Module,
                    key: str = "optimizer") -> Optimizer:
    """Build an optimizer over the model's trainable parameters.

    With param_groups, each trainable parameter goes to the first group whose `match` regex
    finds (re.search) its name in model.named_parameters(); the others form group 0, which has
    the top-level arguments. Group i+1 is param_groups[i] (group 0 is kept, even if empty, so
    these indices are stable). Frozen parameters (requires_grad False) are left out.

    Args:
        name: a torch.optim class name, case-insensitive.
        kwargs: as for validate_optimizer.
        model: the model whose parameters to optimize.
        key: dotted config key used in error messages.

    Returns:
        The optimizer.

    Raises:
        LrtoolError: one line for a bad name or argument, a value torch rejects, a group regex
            that matches no parameter, or a model without trainable parameters.
    """
    cls = OPTIMIZERS.get(name, f"{key}.name")
    top, groups = _prepare(cls, kwargs, key)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise LrtoolError(f"{key}: the model has no trainable parameters")
    default: list[Tensor] = []
    buckets: list[list[Tensor]] = [[] for _ in groups]
    for param_name, param in named:
        for bucket, (_, _, compiled, _) in zip(buckets, groups):
            if compiled.search(param_name):
                bucket.append(param)
                break
        else:
            default.append(param)
    for bucket, (gkey, pattern, compiled, _) in zip(buckets, groups):
        if bucket:
            continue
        if any(compiled.search(n) for n, _ in named):
            raise LrtoolError(f"{gkey}.match: every parameter {pattern!r} matches is already "
                              f"taken by an earlier group")
        examples = ", ".join(n for n, _ in named[:5])
        raise LrtoolError(f"{gkey}.match: {pattern!r} matches no trainable parameter; "
                          f"parameter names look like: {examples}")
    param_groups = [{"params": default}]
    param_groups += [{"params": bucket, **g[3]} for bucket, g in zip(buckets, groups)]
    return _construct(cls, param_groups, top, key)


def momentum_key(optimizer: Optimizer) -> str | None:
    """Which param-group entry holds the momentum that cyclic schedules vary.

    Args:
        optimizer: a built optimizer.

    Returns:
        "betas" for the Adam family (beta1 is the momentum), "momentum" for optimizers with a
        momentum argument that is non-zero in some group (SGD, RMSprop, Muon), else None (an
        SGD built with momentum=0 has no momentum to cycle).
    """
    if "betas" in optimizer.defaults:
        return "betas"
    if "momentum" in optimizer.defaults and any(
            float(group.get("momentum", 0)) != 0.0 for group in optimizer.param_groups):
        return "momentum"
    return None


def _assign(group: dict[str, Any], name: str, value: float) -> None:
    """group[name] = value, in place when torch keeps it as a tensor (capturable/fused)."""
    if isinstance(group[name], Tensor):
        group[name].fill_(value)
    else:
        group[name] = float(value)


def set_lr_and_momentum(optimizer: Optimizer, lrs: list[float],
                        momenta: list[float] | None = None) -> None:
    """Set each param group's learning rate (and momentum or beta1) for the next step.

    Args:
        optimizer: a built optimizer.
        lrs: one learning rate per param group.
        momenta: one momentum per param group, written to "momentum" or to betas[0] as
            momentum_key says; ignored when None or when the optimizer has no momentum.

    Raises:
        ValueError: when a list's length is not the number of param groups.
    """
    groups = optimizer.param_groups
    if len(lrs) != len(groups):
        raise ValueError(f"{len(lrs)} learning rates for {len(groups)} param groups")
    for group, lr in zip(groups, lrs):
        _assign(group, "lr", lr)
    which = momentum_key(optimizer)
    if momenta is None or which is None:
        return
    if len(momenta) != len(groups):
        raise ValueError(f"{len(momenta)} momenta for {len(groups)} param groups")
    for group, momentum in zip(groups, momenta):
        if which == "momentum":
            _assign(group, "momentum", momentum)
        else:
            beta1, *rest = group["betas"]
            if isinstance(beta1, Tensor):
                beta1.fill_(momentum)
            else:
                group["betas"] = (float(momentum), *rest)


def config_lrs_and_momenta(name: str, kwargs: dict) -> tuple[list[float], list[float] | None]:
    """Each param group's lr and momentum (or beta1) as the config sets them, without building anything.

    Used by `lrtool preview`, which computes a schedule with no model. Group 0 is the default group,
    then one per `param_groups` entry, as build_optimizer makes them.
    """
    cls = OPTIMIZERS.get(name, "optimizer.name")
    params = inspect.signature(cls).parameters
    kwargs = dict(kwargs or {})
    groups = [kwargs] + [{**kwargs, **g} for g in kwargs.get("param_groups") or [] if isinstance(g, dict)]

    def default(arg: str) -> Any:
        p = params.get(arg)
        return None if p is None or p.default is inspect.Parameter.empty else p.default

    lrs = [float(g.get("lr", default("lr"))) for g in groups]
    if "betas" in params:
        momenta = [float((g.get("betas") or default("betas"))[0]) for g in groups]
    elif "momentum" in params:
        momenta = [float(g.get("momentum", default("momentum")) or 0.0) for g in groups]
        if not any(momenta):
            return lrs, None
    else:
        return lrs, None
    return lrs, momenta

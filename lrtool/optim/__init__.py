"""Optimizers and losses by name.

Every ``torch.optim.Optimizer`` subclass is registered under its own class name (matched
case-insensitively, so 'sgd' and 'adamw' work); its config arguments are the class's own keyword
arguments, plus an optional ``param_groups`` list for per-parameter options. Losses take the
model output and integer class targets.
"""

from __future__ import annotations

import functools
import inspect
import re
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.optim import Optimizer

from ..errors import LrtoolError
from ..registry import Registry, check_kwargs, kwargs_dict

__all__ = [
    "OPTIMIZERS", "LOSSES", "validate_optimizer", "build_optimizer", "momentum_key",
    "set_lr_and_momentum", "validate_loss", "build_loss",
]

LossFn = Callable[[Tensor, Tensor], Tensor]

# The optimizer's first argument: lrtool passes the model's parameters itself.
_OPTIMIZER_INJECTED = ("params",)
_GROUPS = "param_groups"
# Device-dependent switches: a dry run on a CPU tensor could reject what works on a GPU.
_DEVICE_FLAGS = ("fused", "foreach", "capturable")

OPTIMIZERS = Registry("optimizer")
LOSSES = Registry("loss")


def _register_torch_optimizers() -> None:
    """Register every Optimizer subclass that torch.optim exports, under its class name."""
    for attr in dir(torch.optim):
        obj = getattr(torch.optim, attr)
        if isinstance(obj, type) and issubclass(obj, Optimizer) and obj is not Optimizer:
            OPTIMIZERS.add(obj.__name__, obj)


_register_torch_optimizers()


def _one_line(err: BaseException) -> str:
    """The exception's message collapsed onto one line (the CLI prints errors on one line)."""
    text = " ".join(str(err).split())
    return text or type(err).__name__


# --------------------------------------------------------------------------------------------
# Optimizers


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
            raise LrtoolError(f"{key}.{name}: expected a number, got {value!r}")
    return out


def _prepare(cls: type, kwargs: Any, key: str) -> tuple[dict[str, Any], list[tuple]]:
    """Checked top-level arguments and param-group specs (key, pattern, compiled, options)."""
    top = dict(kwargs_dict(kwargs, key))
    groups_spec = top.pop(_GROUPS, None)
    check_kwargs(cls, top, key, injected=_OPTIMIZER_INJECTED)
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
            check_kwargs(cls, options, gkey, injected=_OPTIMIZER_INJECTED)
            groups.append((gkey, pattern, compiled, _coerced(cls, options, gkey)))
    return _coerced(cls, top, key), groups


def _construct(cls: type, param_groups: list[dict[str, Any]], top: dict[str, Any],
               key: str) -> Optimizer:
    """cls(param_groups, **top), torch's own argument errors turned into one line."""
    try:
        return cls(param_groups, **top)
    except (TypeError, ValueError, RuntimeError) as err:
        raise LrtoolError(
            f"{key}: {cls.__name__} rejected its arguments: {_one_line(err)}") from err


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


# --------------------------------------------------------------------------------------------
# Losses: builders with explicit keyword arguments, returning fn(output, targets) -> scalar.


def _one_hot_like(output: Tensor, targets: Tensor) -> Tensor:
    """Integer class targets as one-hot rows as wide as the model output, in its dtype."""
    return F.one_hot(targets.long(), output.shape[-1]).to(output.dtype)


def _mse_one_hot(output: Tensor, targets: Tensor) -> Tensor:
    """Mean squared error between the raw outputs and one-hot targets."""
    return F.mse_loss(output, _one_hot_like(output, targets))


def _bce_one_vs_all(output: Tensor, targets: Tensor) -> Tensor:
    """Binary cross-entropy of each output logit against its one-hot target (one-vs-all)."""
    return F.binary_cross_entropy_with_logits(output, _one_hot_like(output, targets))


@LOSSES.register("cross_entropy", "ce", "crossentropy",
                 help="softmax cross-entropy on logits (label_smoothing=0.0)")
def cross_entropy(*, label_smoothing: float = 0.0) -> LossFn:
    """Softmax cross-entropy on logits, averaged over the batch.

    Args:
        label_smoothing: in [0, 1]; the target puts 1 - label_smoothing on the true class and
            spreads label_smoothing uniformly over all classes.

    Returns:
        fn(logits (N, C), class indices (N,)) -> scalar.
    """
    if not _is_number(label_smoothing) or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be a number in [0, 1], got {label_smoothing!r}")
    return functools.partial(F.cross_entropy, label_smoothing=float(label_smoothing))


@LOSSES.register("nll", "nll_loss",
                 help="negative log-likelihood: the model must output log-probabilities")
def nll() -> LossFn:
    """Negative log-likelihood of the true class.

    The model must end in log_softmax: on raw logits this loss is unbounded below and the range
    test "finds" a divergence that is not one. Use cross_entropy for models returning logits.

    Returns:
        fn(log-probabilities (N, C), class indices (N,)) -> scalar.
    """
    return F.nll_loss


@LOSSES.register("mse", help="mean squared error between the outputs and one-hot targets")
def mse() -> LossFn:
    """Mean squared error between the raw outputs and one-hot targets of the output's width.

    Returns:
        fn(outputs (N, C), class indices (N,)) -> scalar (mean over N*C entries).
    """
    return _mse_one_hot


@LOSSES.register("bce", "bce_with_logits",
                 help="one-vs-all binary cross-entropy on logits against one-hot targets")
def bce() -> LossFn:
    """Binary cross-entropy on logits, each class a one-vs-all problem with one-hot targets.

    Returns:
        fn(logits (N, C), class indices (N,)) -> scalar (mean over N*C entries).
    """
    return _bce_one_vs_all


@LOSSES.register("multi_margin", "hinge", help="multi-class hinge loss on logits (margin=1.0)")
def multi_margin(*, margin: float = 1.0) -> LossFn:
    """Multi-class hinge loss: mean over classes of max(0, margin - x[y] + x[i]).

    Args:
        margin: the margin by which the true class should win (> 0).

    Returns:
        fn(scores (N, C), class indices (N,)) -> scalar.
    """
    if not _is_number(margin) or margin <= 0:
        raise ValueError(f"margin must be a positive number, got {margin!r}")
    return functools.partial(F.multi_margin_loss, margin=float(margin))


def _build_loss(name: str, kwargs: Any, key: str) -> LossFn:
    """Look up, check and build a loss."""
    builder = LOSSES.get(name, f"{key}.name")
    kwargs = kwargs_dict(kwargs, key)
    check_kwargs(builder, kwargs, key)
    try:
        return builder(**kwargs)
    except (TypeError, ValueError) as err:
        raise LrtoolError(f"{key}: {LOSSES.canonical(name)} rejected its arguments: "
                          f"{_one_line(err)}") from err


def validate_loss(name: str, kwargs: dict, key: str = "loss") -> None:
    """Check a loss name and its arguments (building a loss is cheap, so it is built).

    Args:
        name: a registered loss name or alias, case-insensitive.
        kwargs: the loss's keyword arguments.
        key: dotted config key used in error messages.

    Raises:
        LrtoolError: one line naming `key` or `key.<arg>`.
    """
    _build_loss(name, kwargs, key)


def build_loss(name: str, kwargs: dict, key: str = "loss") -> LossFn:
    """Build a loss function.

    Args:
        name: a registered loss name or alias, case-insensitive.
        kwargs: the loss's keyword arguments.
        key: dotted config key used in error messages.

    Returns:
        fn(model output (N, C), integer class targets (N,)) -> scalar loss tensor.

    Raises:
        LrtoolError: one line naming `key` or `key.<arg>`.
    """
    return _build_loss(name, kwargs, key)


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

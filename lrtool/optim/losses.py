"""Losses by name: every torch.nn loss class by its own name and kwargs, short names, and 'module:callable'.

A loss is called as loss(model output, target) -> scalar. torch's classes keep their own names and
arguments (`CrossEntropyLoss` with `weight` and `label_smoothing`, `BCEWithLogitsLoss` with
`pos_weight`, `MSELoss`, `HuberLoss`, ...); list values become tensors on the run's device. Short names
are the torch loss they are named after (`mse` is MSELoss); the two losses that compare outputs with
one-hot class labels say so in their names (`mse_one_hot`, `bce_one_hot`). Argument values are
checked through lrtool/checks.py, so a bad one is reported as `loss.<arg>`; whether the targets fit
the loss is checked on the first real batch (`check_batch`).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.loss import _Loss

from .. import checks
from ..errors import LrtoolError, one_line
from ..imports import is_spec, resolve_callable
from ..registry import Registry

__all__ = ["LOSSES", "LossFn", "validate_loss", "build_loss", "check_batch", "outputs_probabilities", "soft_targets"]

LossFn = Callable[[Tensor, Tensor], Tensor]

LOSSES = Registry("loss", fallback_hint="or 'package.module:callable' for your own")

# the loop calls loss(output, target): losses of other inputs cannot be used by name
_OTHER_INPUTS = {"CTCLoss": "log_probs, targets, input_lengths, target_lengths",
                 "CosineEmbeddingLoss": "input1, input2, target", "GaussianNLLLoss": "input, target, var",
                 "MarginRankingLoss": "input1, input2, target", "TripletMarginLoss": "anchor, positive, negative",
                 "TripletMarginWithDistanceLoss": "anchor, positive, negative"}
# losses that hold weights of their own, which the optimizer would not train
_OWN_WEIGHTS = ("LinearCrossEntropyLoss",)
_DEPRECATED = {"size_average": "deprecated in torch; use reduction", "reduce": "deprecated in torch; use reduction"}
# targets each torch loss expects: class indices (N,), or values shaped like the output
_CLASS_INDEX = (nn.CrossEntropyLoss, nn.NLLLoss, nn.MultiMarginLoss)
_ELEMENTWISE = (nn.MSELoss, nn.L1Loss, nn.HuberLoss, nn.SmoothL1Loss, nn.BCEWithLogitsLoss, nn.BCELoss,
                nn.KLDivLoss, nn.SoftMarginLoss, nn.MultiLabelSoftMarginLoss, nn.PoissonNLLLoss)


def _one_hot_like(output: Tensor, targets: Tensor) -> Tensor:
    """Integer class targets as one-hot rows as wide as the model output, in its dtype."""
    return F.one_hot(targets.long(), output.shape[-1]).to(output.dtype)


def _mse_one_hot(output: Tensor, targets: Tensor) -> Tensor:
    """Mean squared error between the raw outputs and one-hot targets."""
    return F.mse_loss(output, _one_hot_like(output, targets))


def _bce_one_vs_all(output: Tensor, targets: Tensor) -> Tensor:
    """Binary cross-entropy of each output logit against its one-hot target (one-vs-all)."""
    return F.binary_cross_entropy_with_logits(output, _one_hot_like(output, targets))


def mse_one_hot() -> LossFn:
    """Mean squared error between the raw outputs and one-hot targets of the output's width.

    Returns:
        fn(outputs (N, C), class indices (N,)) -> scalar (mean over N*C entries).
    """
    return _mse_one_hot


def bce_one_hot() -> LossFn:
    """Binary cross-entropy on logits, each class a one-vs-all problem with one-hot targets.

    Returns:
        fn(logits (N, C), class indices (N,)) -> scalar (mean over N*C entries).
    """
    return _bce_one_vs_all


_ONE_HOT = (_mse_one_hot, _bce_one_vs_all)


def _torch_losses() -> list[type]:
    """Every loss class torch.nn exports that takes (output, target), in name order."""
    found = []
    for attr in sorted(dir(nn)):
        obj = getattr(nn, attr)
        if (isinstance(obj, type) and issubclass(obj, _Loss) and obj is not _Loss and obj.__name__ == attr
                and attr not in _OWN_WEIGHTS and attr != "NLLLoss2d"):  # NLLLoss2d: NLLLoss's deprecated alias
            found.append(obj)
    return found


# short names: the torch loss they are named after
LOSSES.add("cross_entropy", nn.CrossEntropyLoss, "ce", "crossentropy",
           help="CrossEntropyLoss: softmax cross-entropy on logits, class-index targets")
LOSSES.add("nll", nn.NLLLoss, "nll_loss", help="NLLLoss: the model must output log-probabilities")
LOSSES.add("mse", nn.MSELoss, help="MSELoss: mean squared error against targets shaped like the output")
LOSSES.add("l1", nn.L1Loss, "mae", help="L1Loss: mean absolute error against targets shaped like the output")
LOSSES.add("huber", nn.HuberLoss, help="HuberLoss (delta=1.0) against targets shaped like the output")
LOSSES.add("smooth_l1", nn.SmoothL1Loss, help="SmoothL1Loss (beta=1.0) against targets shaped like the output")
LOSSES.add("bce", nn.BCEWithLogitsLoss, "bce_with_logits",
           help="BCEWithLogitsLoss: binary cross-entropy on logits against multi-hot float targets")
LOSSES.add("multi_margin", nn.MultiMarginLoss, "hinge", help="MultiMarginLoss: multi-class hinge loss on logits")
LOSSES.add("mse_one_hot", mse_one_hot, help="mean squared error between the outputs and one-hot class labels")
LOSSES.add("bce_one_hot", bce_one_hot, "bce_one_vs_all",
           help="one-vs-all binary cross-entropy on logits against one-hot class labels")

for _cls in _torch_losses():
    LOSSES.add(_cls.__name__, _cls, help=f"torch.nn.{_cls.__name__}" + (
        f" (takes {_OTHER_INPUTS[_cls.__name__]}: use it from a module:callable)"
        if _cls.__name__ in _OTHER_INPUTS else ""))

_number = checks.number
_VALUE_CHECKS: dict[str, checks.Check] = {
    "label_smoothing": functools.partial(_number, lo=0, hi=1),
    "margin": _number,
    "delta": functools.partial(_number, lo=0, lo_open=True),
    "beta": functools.partial(_number, lo=0),
    "eps": functools.partial(_number, lo=0, lo_open=True),
    "p": functools.partial(checks.integer, lo=1),
    "log_target": checks.flag, "log_input": checks.flag, "full": checks.flag, "zero_infinity": checks.flag,
}
_PER_CLASS_CHECKS = {nn.MultiMarginLoss: {"margin": functools.partial(_number, lo=0, lo_open=True)}}


def _tensor(key: str, value: Any, device: Any) -> Tensor:
    """A number or a list of numbers (per class or label) as a float32 tensor on `device`."""
    flat = value if isinstance(value, (list, tuple)) else [value]
    if not flat or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
        raise checks.fail(key, "a number or a list of numbers (one per class or label)", value)
    return torch.tensor(value, dtype=torch.float32, device=device)


def _torch_kwargs(cls: type, kwargs: dict[str, Any], key: str, device: Any) -> dict[str, Any]:
    """A torch loss class's arguments checked: names, values, lists -> tensors on `device`."""
    name = cls.__name__
    if name in _OTHER_INPUTS:
        raise LrtoolError(f"{key}.name: {name} takes ({_OTHER_INPUTS[name]}), but the training loop calls "
                          "loss(output, target); wrap it in your own 'package.module:callable'")
    checks.check_kwargs(cls, kwargs, key, refused=_DEPRECATED)
    declared = {**_VALUE_CHECKS, **_PER_CLASS_CHECKS.get(cls, {})}
    out: dict[str, Any] = {}
    for arg, value in kwargs.items():
        if arg == "reduction":
            # 'none' gives one loss per sample: the loop needs one number to minimise
            valid = ("mean", "sum", "batchmean") if cls is nn.KLDivLoss else ("mean", "sum")
            out[arg] = checks.choice(f"{key}.{arg}", value, valid)
        elif arg in ("weight", "pos_weight"):
            out[arg] = None if value is None else _tensor(f"{key}.{arg}", value, device)
        elif arg in declared:
            out[arg] = declared[arg](f"{key}.{arg}", value)
        elif isinstance(value, (list, tuple)):
            out[arg] = _tensor(f"{key}.{arg}", value, device)
        else:
            out[arg] = value
    return out


def _user_loss(spec: str, kwargs: dict[str, Any], key: str) -> LossFn:
    """A loss from 'package.module:callable': a class (or factory class) called with the kwargs, or a
    function fn(output, target, **kwargs)."""
    fn = resolve_callable(spec, f"{key}.name")
    if isinstance(fn, type):
        checks.check_kwargs(fn, kwargs, key, owner=spec)
        try:
            return fn(**kwargs)
        except (TypeError, ValueError) as err:
            raise LrtoolError(f"{key}: {spec} rejected its arguments: {one_line(err)}") from err
    if kwargs:
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            params = []
        # the first two parameters are the output and the target: the config sets the others
        checks.check_kwargs(functools.partial(fn, None, None) if len(params) >= 2 else fn, kwargs, key,
                            owner=spec)
        return functools.partial(fn, **kwargs)
    return fn


def validate_loss(name: str, kwargs: dict, key: str = "loss") -> None:
    """Check a loss name and its arguments, as build_loss does (building a loss is cheap, so it is built)."""
    build_loss(name, kwargs, key)


def build_loss(name: str, kwargs: dict, key: str = "loss", device: Any = "cpu") -> LossFn:
    """Build a loss function.

    Args:
        name: a torch.nn loss class name, a short name (case-insensitive), or 'package.module:callable'.
        kwargs: the loss's keyword arguments (lists become float32 tensors on `device`).
        key: dotted config key used in error messages.
        device: the run's device, where tensor arguments (weight, pos_weight) go.

    Returns:
        fn(model output, target) -> scalar loss tensor (a torch loss module, or a function).

    Raises:
        LrtoolError: one line naming `key` or `key.<arg>`.
    """
    kwargs = checks.kwargs_dict(kwargs, key)
    if is_spec(name):
        return _user_loss(name, kwargs, key)
    builder = LOSSES.get(name, f"{key}.name")
    owner = LOSSES.canonical(name) or name
    if isinstance(builder, type):
        kwargs = _torch_kwargs(builder, kwargs, key, device)
    else:
        checks.check_kwargs(builder, kwargs, key)
        kwargs = checks.check_values(builder, kwargs, key)
    try:
        return builder(**kwargs)
    except (TypeError, ValueError, RuntimeError) as err:
        raise LrtoolError(f"{key}: {owner} rejected its arguments: {one_line(err)}") from err


def outputs_probabilities(loss_fn: LossFn) -> bool:
    """Whether the loss takes probabilities (BCELoss) rather than logits: the metrics threshold them so."""
    return isinstance(loss_fn, nn.BCELoss)


def soft_targets(loss_fn: LossFn, out: Any, y: Any) -> bool:
    """Whether `y` are class probabilities (soft targets) for CrossEntropyLoss: float, shaped like the output
    (N, C, ...), each sample's values in [0, 1] summing to 1 over the classes (dim 1), as torch takes them."""
    if not (isinstance(loss_fn, nn.CrossEntropyLoss) and isinstance(y, Tensor) and isinstance(out, Tensor)
            and y.is_floating_point() and y.dim() >= 2 and y.shape == out.shape):
        return False
    y = y.float()  # once, on the first batch: the host reads are fine here
    return bool(((y >= 0) & (y <= 1)).all()) and bool(torch.allclose(y.sum(dim=1), torch.ones((), device=y.device),
                                                                       atol=1e-3))


def _describe(t: Tensor) -> str:
    return f"{str(t.dtype).replace('torch.', '')} targets of shape {tuple(t.shape[1:])} per sample"


def check_batch(loss_fn: LossFn, name: str, out: Tensor, y: Any, key: str = "loss") -> None:
    """Raise a one-line LrtoolError when the targets of a real batch do not fit the loss, or it fails on them.

    Args:
        loss_fn: the built loss.
        name: the configured loss name (for messages).
        out: the model output for the batch (no gradient needed).
        y: the batch's targets.
        key: the config key of the loss section.
    """
    what = _describe(y) if isinstance(y, Tensor) else f"targets of type {type(y).__name__}"
    shape = tuple(out.shape[1:]) if isinstance(out, Tensor) else None
    if isinstance(y, Tensor) and isinstance(out, Tensor):
        if isinstance(loss_fn, _CLASS_INDEX) or loss_fn in _ONE_HOT:
            if (y.is_floating_point() or y.dim() != 1) and not soft_targets(loss_fn, out, y):
                probabilities = isinstance(loss_fn, nn.CrossEntropyLoss) and y.shape == out.shape
                hint = "; class probabilities (soft targets) must be in [0, 1] and sum to 1 per sample" \
                    if probabilities and y.is_floating_point() else ""
                raise LrtoolError(f"{key}: {name} expects one integer class index per sample, got {what}; "
                                  f"for multi-hot or real-valued targets use BCEWithLogitsLoss or MSELoss{hint}")
        elif isinstance(loss_fn, _ELEMENTWISE) and (not y.is_floating_point() or y.shape != out.shape):
            hint = "; class indices need CrossEntropyLoss (or mse_one_hot)" if not y.is_floating_point() else ""
            raise LrtoolError(f"{key}: {name} compares the output {shape} per sample elementwise with float "
                              f"targets of the same shape, got {what}{hint}")
    try:
        value = loss_fn(out, y)
    except Exception as err:  # noqa: BLE001 - whatever the loss raises, the config chose it
        raise LrtoolError(f"{key}: {name} failed on the first batch (output {shape} per sample, {what}): "
                          f"{type(err).__name__}: {one_line(err)}") from err
    if not isinstance(value, Tensor) or value.numel() != 1:
        got = f"shape {tuple(value.shape)}" if isinstance(value, Tensor) else type(value).__name__
        raise LrtoolError(f"{key}: {name} must return one number to minimise, got {got}")

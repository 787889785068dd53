"""Losses by name: builders with explicit keyword arguments, returning fn(output, targets) -> scalar.

Losses take the model output and integer class targets. A builder declares how its argument
values are checked with checks.takes, so a bad value is reported as `loss.<arg>`.
"""

from __future__ import annotations

import functools
from typing import Callable

import torch.nn.functional as F
from torch import Tensor

from .. import checks
from ..errors import LrtoolError, one_line
from ..registry import Registry

__all__ = ["LOSSES", "LossFn", "validate_loss", "build_loss"]

LossFn = Callable[[Tensor, Tensor], Tensor]

LOSSES = Registry("loss")


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
@checks.takes(label_smoothing=functools.partial(checks.number, lo=0, hi=1))
def cross_entropy(*, label_smoothing: float = 0.0) -> LossFn:
    """Softmax cross-entropy on logits, averaged over the batch.

    Args:
        label_smoothing: in [0, 1]; the target puts 1 - label_smoothing on the true class and
            spreads label_smoothing uniformly over all classes.

    Returns:
        fn(logits (N, C), class indices (N,)) -> scalar.
    """
    return functools.partial(F.cross_entropy, label_smoothing=label_smoothing)


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
@checks.takes(margin=functools.partial(checks.number, lo=0, lo_open=True))
def multi_margin(*, margin: float = 1.0) -> LossFn:
    """Multi-class hinge loss: mean over classes of max(0, margin - x[y] + x[i]).

    Args:
        margin: the margin by which the true class should win (> 0).

    Returns:
        fn(scores (N, C), class indices (N,)) -> scalar.
    """
    return functools.partial(F.multi_margin_loss, margin=margin)


def validate_loss(name: str, kwargs: dict, key: str = "loss") -> None:
    """Check a loss name and its arguments, as build_loss does (building a loss is cheap, so it is built)."""
    build_loss(name, kwargs, key)


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
    builder = LOSSES.get(name, f"{key}.name")
    kwargs = checks.kwargs_dict(kwargs, key)
    checks.check_kwargs(builder, kwargs, key)
    kwargs = checks.check_values(builder, kwargs, key)
    try:
        return builder(**kwargs)
    except (TypeError, ValueError) as err:
        raise LrtoolError(f"{key}: {LOSSES.canonical(name)} rejected its arguments: "
                          f"{one_line(err)}") from err

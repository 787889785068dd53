"""Models by name: small built-in networks, any torchvision classifier, or 'package.module:callable'.

Every model is built as ``builder(input_shape, num_classes, **kwargs)``: lrtool injects the shape of
one example (without the batch dimension) and the number of classes from the data, the config
supplies the rest. torchvision is imported lazily (it costs seconds), only when a name is not one
of the built-ins.

Layout: builtin.py (mlp, convnet, lenet), torchvision.py, user.py ('module:callable'). To add a
built-in, write its builder in builtin.py (values declared with checks.takes) and register it below.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .. import checks
from ..errors import LrtoolError, one_line
from ..registry import Registry, did_you_mean, format_choices
from . import builtin
from .base import INJECTED, InputShapeError
from .torchvision import TorchvisionModel, torchvision_names
from .user import CallableModel

__all__ = ["MODELS", "INJECTED", "validate_model", "build_model"]

# Batch size of the dummy forward pass that checks a freshly built model: 2, not 1, so that a
# model that squeezes the batch dimension away is caught too.
_CHECK_BATCH = 2


def _fallback(name: str) -> Any:
    """Resolve a name that is not a built-in: 'pkg.mod:callable' or a torchvision classifier."""
    if ":" in name:
        return CallableModel(name)
    lowered = name.lower()
    if lowered in torchvision_names():
        return TorchvisionModel(lowered)
    return None


MODELS = Registry(
    "model", fallback=_fallback,
    fallback_hint="or any torchvision classification model (e.g. resnet18), "
                  "or 'package.module:callable'",
)

MODELS.add("mlp", builtin.mlp, help="fully connected net on the flattened input "
           "(hidden=[256], dropout=0.0, activation=relu, batchnorm=false)")
MODELS.add("convnet", builtin.convnet, "cnn", help="small CIFAR-style ConvNet of conv-BN-ReLU-pool blocks "
           "(channels=[32, 64, 128, 256, 256], width=1.0, batchnorm=true)")
MODELS.add("lenet", builtin.lenet, "lenet5", help="LeNet-5: conv6-pool-conv16-pool-fc120-fc84 (activation=relu)")


def _resolve(name: str, key: str) -> Any:
    """The builder for `name`; unknown names get a did-you-mean over torchvision names too."""
    name = str(name)
    if name in MODELS or ":" in name:
        return MODELS.get(name, key)
    found = _fallback(name)
    if found is not None:
        return found
    # Registry.get would only suggest among the built-ins; a typo of a torchvision name
    # ('resnet81') deserves its suggestion too.
    hint = did_you_mean(name, MODELS.names()) or did_you_mean(name, torchvision_names())
    raise LrtoolError(
        f"{key}.name: unknown model '{name}'{hint}; valid choices: {format_choices(MODELS.names())}"
        f"; {MODELS.fallback_hint}")


def _label(name: str, builder: Any) -> str:
    """How error messages name the model: its registered, torchvision or import-path name."""
    if isinstance(builder, TorchvisionModel):
        return builder.name
    if isinstance(builder, CallableModel):
        return builder.spec
    return MODELS.canonical(name) or str(name)


def validate_model(name: str, kwargs: dict, key: str = "model") -> None:
    """Check a model name and its arguments without building it.

    Built-ins also have their argument values checked; torchvision models have their argument
    names checked against the builder and model class; 'module:callable' is imported and its
    signature checked.

    Args:
        name: a built-in name (case-insensitive), a torchvision classifier name, or
            'package.module:callable'.
        kwargs: the model's own arguments from the config (input_shape and num_classes excluded).
        key: dotted config key used in error messages.

    Raises:
        LrtoolError: one line naming `key` (or `key.<arg>`), with a did-you-mean and the choices.
    """
    _checked(_resolve(name, key), kwargs, key)


def _checked(builder: Any, kwargs: Any, key: str) -> dict[str, Any]:
    """The model's arguments with their names (and, for built-ins, values) checked."""
    kwargs = checks.kwargs_dict(kwargs, key)
    if isinstance(builder, (TorchvisionModel, CallableModel)):
        builder.check_kwargs(kwargs, key)
        return kwargs
    checks.check_kwargs(builder, kwargs, key, injected=INJECTED)
    return checks.check_values(builder, kwargs, key)


def build_model(name: str, kwargs: dict, *, input_shape: tuple[int, ...], num_classes: int,
                key: str = "model", check_forward: bool = True) -> nn.Module:
    """Build a model for the data, in training mode on the CPU.

    Args:
        name: as for validate_model.
        kwargs: the model's own arguments from the config.
        input_shape: shape of one example without the batch dimension, e.g. (1, 28, 28).
        num_classes: number of classes; the model must output (batch, num_classes) logits.
        key: dotted config key used in error messages.
        check_forward: run a dummy batch through the model (eval mode, no grad) and check the
            output shape, so a model/data mismatch is reported before training starts.

    Returns:
        The model.

    Raises:
        LrtoolError: one line naming `key` for a bad name or argument, an argument value the
            model rejects, an input shape it cannot take, or a wrong output shape.
    """
    input_shape = tuple(int(s) for s in input_shape)
    if not input_shape or min(input_shape) < 1 or num_classes < 1:
        raise ValueError(f"bad data shape: input_shape={input_shape}, num_classes={num_classes}")
    builder = _resolve(name, key)
    kwargs = _checked(builder, kwargs, key)
    label = _label(name, builder)
    try:
        if isinstance(builder, (TorchvisionModel, CallableModel)):
            model = builder.build(input_shape, num_classes, kwargs, key)
        else:
            model = builder(input_shape, num_classes, **kwargs)
    except InputShapeError as err:
        raise LrtoolError(f"{key}: {label} {one_line(err)}") from err
    except (TypeError, ValueError) as err:
        raise LrtoolError(f"{key}: {label} rejected its arguments: {one_line(err)}") from err
    if check_forward:
        _check_output(model, input_shape, num_classes, label, key)
    return model


def _check_output(model: nn.Module, input_shape: tuple[int, ...], num_classes: int,
                  label: str, key: str) -> None:
    """Run a dummy batch through `model` and check it gives (batch, num_classes) logits."""
    shape = (_CHECK_BATCH, *input_shape)
    was_training = model.training
    model.eval()  # eval: BatchNorm running statistics are left untouched
    try:
        with torch.no_grad():
            out = model(torch.zeros(shape))
    except Exception as err:
        raise LrtoolError(f"{key}: {label} fails on a batch of shape {shape}: "
                          f"{one_line(err, with_type=True)}") from err
    finally:
        model.train(was_training)
    expected = (_CHECK_BATCH, num_classes)
    if not isinstance(out, torch.Tensor):
        raise LrtoolError(f"{key}: {label} returns a {type(out).__name__} for a batch of shape "
                          f"{shape}; expected a tensor of shape {expected}")
    if tuple(out.shape) != expected:
        raise LrtoolError(f"{key}: {label} gives output of shape {tuple(out.shape)} for a batch "
                          f"of shape {shape}; expected {expected} (batch, num_classes)")

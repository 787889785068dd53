"""Models by name: small built-in networks, any torchvision classifier, or 'package.module:callable'.

Every model is built as ``builder(input_shape, num_classes, **kwargs)``: lrtool injects the shape of
one example (without the batch dimension) and the number of classes from the data, the config
supplies the rest. torchvision is imported lazily (it costs seconds), only when a name is not one
of the built-ins.

Layout: builtin.py (mlp, convnet, lenet), torchvision.py (also `weights:` and head replacement),
timm.py ('timm/<name>', optional), user.py ('module:callable'). To add a
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
from .timm import PREFIX as TIMM_PREFIX
from .timm import TimmModel
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
    if name.startswith(TIMM_PREFIX):
        return TimmModel(name[len(TIMM_PREFIX):])
    lowered = name.lower()
    if lowered in torchvision_names():
        return TorchvisionModel(lowered)
    return None


MODELS = Registry(
    "model", fallback=_fallback,
    fallback_hint="or any torchvision classification model (e.g. resnet18), "
                  "or 'timm/<model_name>', or 'package.module:callable'",
)

MODELS.add("mlp", builtin.mlp, help="fully connected net on the flattened input "
           "(hidden=[256], dropout=0.0, activation=relu, batchnorm=false)")
MODELS.add("convnet", builtin.convnet, "cnn", help="small CIFAR-style ConvNet of conv-BN-ReLU-pool blocks "
           "(channels=[32, 64, 128, 256, 256], width=1.0, batchnorm=true)")
MODELS.add("lenet", builtin.lenet, "lenet5", help="LeNet-5: conv6-pool-conv16-pool-fc120-fc84 (activation=relu)")


def _resolve(name: str, key: str) -> Any:
    """The builder for `name`; unknown names get a did-you-mean over torchvision names too."""
    name = str(name)
    if name in MODELS or ":" in name or name.startswith(TIMM_PREFIX):
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
    if isinstance(builder, TimmModel):
        return builder.label
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
    if isinstance(builder, (TorchvisionModel, CallableModel, TimmModel)):
        builder.check_kwargs(kwargs, key)
        return kwargs
    checks.check_kwargs(builder, kwargs, key, injected=INJECTED)
    return checks.check_values(builder, kwargs, key)


def build_model(name: str, kwargs: dict, *, input_shape: tuple[int, ...], num_classes: int,
                key: str = "model", check_forward: bool = True, example: tuple[Any, Any] | None = None) -> nn.Module:
    """Build a model for the data, in training mode on the CPU.

    Args:
        name: as for validate_model.
        kwargs: the model's own arguments from the config.
        input_shape: shape of one example without the batch dimension, e.g. (1, 28, 28).
        num_classes: the output width (classes, labels or real values per sample); the model must
            output (batch, num_classes).
        key: dotted config key used in error messages.
        check_forward: run a batch through the model (eval mode, no grad) and check the output
            shape, so a model/data mismatch is reported before training starts.
        example: one real batch (inputs, target) of the data to check with (inputs a tensor or a
            dict of keyword arguments); None: a batch of zeros of `input_shape`.

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
        if isinstance(builder, (TorchvisionModel, CallableModel, TimmModel)):
            model = builder.build(input_shape, num_classes, kwargs, key)
        else:
            model = builder(input_shape, num_classes, **kwargs)
    except InputShapeError as err:
        raise LrtoolError(f"{key}: {label} {one_line(err)}") from err
    except (TypeError, ValueError) as err:
        raise LrtoolError(f"{key}: {label} rejected its arguments: {one_line(err)}") from err
    if check_forward:
        _check_output(model, input_shape, num_classes, label, key, example)
    return model


def _check_output(model: nn.Module, input_shape: tuple[int, ...], num_classes: int,
                  label: str, key: str, example: tuple[Any, Any] | None = None) -> None:
    """Run a batch (real when given, else zeros) through `model` and check the output's shape.

    The output must be (batch, num_classes) for class-index targets and (batch, *target shape) for
    multi-hot or real-valued targets.
    """
    from ..data.batches import call_model, first_tensor, to_device

    if example is None:
        inputs: Any = torch.zeros((_CHECK_BATCH, *input_shape))
        expected = (_CHECK_BATCH, num_classes)
    else:
        inputs, target = to_device(example, torch.device("cpu"))
        batch = len(target)
        per_sample = tuple(target.shape[1:]) if target.dim() > 1 else (num_classes,)
        expected = (batch, *per_sample)
    given = first_tensor(inputs)
    shape = tuple(given.shape) if given is not None else type(inputs).__name__
    if isinstance(inputs, dict):
        shape = "{" + ", ".join(f"{k}: {tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__}"
                                for k, v in inputs.items()) + "}"
    was_training = model.training
    model.eval()  # eval: BatchNorm running statistics are left untouched
    try:
        with torch.no_grad():
            out = call_model(model, inputs)
    except Exception as err:
        raise LrtoolError(f"{key}: {label} fails on a batch of shape {shape}: "
                          f"{one_line(err, with_type=True)}") from err
    except SystemExit as err:  # a user's forward that exits: lrtool's exit code stays lrtool's
        raise LrtoolError(f"{key}: {label} called sys.exit({err.code!r}) on a batch of shape {shape}; "
                          "a model must not exit") from None
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor):
        raise LrtoolError(f"{key}: {label} returns a {type(out).__name__} for a batch of shape "
                          f"{shape}; expected a tensor of shape {expected}")
    if tuple(out.shape) != expected:
        raise LrtoolError(f"{key}: {label} gives output of shape {tuple(out.shape)} for a batch "
                          f"of shape {shape}; expected {expected} (batch, outputs)")

"""Models by name: small built-in networks, any torchvision classifier, or 'package.module:callable'.

Every model is built as ``builder(input_shape, num_classes, **kwargs)``: lrtool injects the shape of
one example (without the batch dimension) and the number of classes from the data, the config
supplies the rest. torchvision is imported lazily (it costs seconds), only when a name is not one
of the built-ins.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
from collections import OrderedDict
from typing import Any, Callable

import torch
from torch import nn

from .errors import LrtoolError
from .registry import Registry, check_kwargs, did_you_mean, format_choices, kwargs_dict

__all__ = ["MODELS", "INJECTED", "validate_model", "build_model"]

# Parameters lrtool passes to every builder itself; a config may not set them.
INJECTED = ("input_shape", "num_classes")

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}

# Batch size of the dummy forward pass that checks a freshly built model: 2, not 1, so that a
# model that squeezes the batch dimension away is caught too.
_CHECK_BATCH = 2


class _InputShapeError(ValueError):
    """The model cannot take the data's input shape (reported as such, not as a bad argument)."""


def _one_line(err: BaseException) -> str:
    """The exception's message collapsed onto one line (the CLI prints errors on one line)."""
    text = " ".join(str(err).split())
    return text or type(err).__name__


# --------------------------------------------------------------------------------------------
# Value checks shared by the built-in builders and validate_model (so `validate` catches a bad
# value before any data is loaded).


def _widths(value: Any, name: str, allow_empty: bool) -> tuple[int, ...]:
    """A tuple of positive layer widths from an int or a list of ints."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        raise ValueError(f"{name} must be a list of positive integers, got {value!r}")
    if not value and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    return tuple(value)


def _fraction(value: Any, name: str) -> float:
    """A number in [0, 1) such as a dropout probability."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def _flag(value: Any, name: str) -> bool:
    """A strict boolean (YAML 'yes'/'no' already arrive as bools; a string here is a mistake)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def _activation(value: Any) -> type[nn.Module]:
    """The activation module class named `value`."""
    found = _ACTIVATIONS.get(str(value).lower())
    if found is None:
        raise ValueError(f"activation must be one of {', '.join(_ACTIVATIONS)}, got {value!r}"
                         f"{did_you_mean(str(value), _ACTIVATIONS)}")
    return found


def _image_shape(input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(C, H, W) from the data's input shape, or _InputShapeError for non-image data."""
    if len(input_shape) != 3:
        raise _InputShapeError(
            f"needs image input of shape (channels, height, width), the data gives {input_shape}")
    return input_shape  # type: ignore[return-value]


def _checked_by(check: Callable[..., Any]) -> Callable[[Callable], Callable]:
    """Attach `check(**kwargs with defaults)` to a builder so validate_model can run it alone."""

    def deco(builder: Callable) -> Callable:
        builder.check_values = check  # type: ignore[attr-defined]
        return builder

    return deco


def _with_defaults(builder: Callable, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The builder's keyword-only arguments: its defaults updated with `kwargs`."""
    params = inspect.signature(builder).parameters.values()
    merged = {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}
    merged.update(kwargs)
    return merged


def _pool_kernel(height: int, width: int) -> tuple[int, int]:
    """2x2 max-pool kernel, 1 along a side that has already shrunk to a single pixel."""
    return (2 if height > 1 else 1, 2 if width > 1 else 1)


# --------------------------------------------------------------------------------------------
# Fallback: names that are not registered resolve to a torchvision classifier or an import path.


@functools.lru_cache(maxsize=1)
def _torchvision_names() -> tuple[str, ...]:
    """Names of torchvision's classification models (empty if torchvision is missing)."""
    try:
        import torchvision.models
    except ImportError:
        return ()
    # module=torchvision.models keeps the classifiers only: detection, segmentation, video and
    # quantized models live in submodules and need other heads/inputs.
    return tuple(torchvision.models.list_models(module=torchvision.models))


def _fallback(name: str) -> Any:
    """Resolve a name that is not a built-in: 'pkg.mod:callable' or a torchvision classifier."""
    if ":" in name:
        return _CallableModel(name)
    lowered = name.lower()
    if lowered in _torchvision_names():
        return _TorchvisionModel(lowered)
    return None


MODELS = Registry(
    "model", fallback=_fallback,
    fallback_hint="or any torchvision classification model (e.g. resnet18), "
                  "or 'package.module:callable'",
)


class _TorchvisionModel:
    """Builds torchvision classifier `name` (weights=None unless the config sets weights)."""

    # Arguments some torchvision builders consume themselves before calling the model class,
    # so they are valid although the class signature does not show them.
    _BUILDER_EXTRAS = {"MobileNetV3": ("width_mult", "reduced_tail", "dilated")}
    # Required class parameters that builders take from **kwargs with a default (the others,
    # e.g. ResNet's block/layers, the builder always sets itself, so the user cannot).
    _SETTABLE_REQUIRED = ("image_size", "input_size", "dropout")

    def __init__(self, name: str):
        self.name = name

    def _builder_and_class(self) -> tuple[Callable[..., nn.Module], type | None]:
        """torchvision's builder function and the model class it returns (from its annotation)."""
        import typing

        import torchvision.models

        builder = torchvision.models.get_model_builder(self.name)
        try:
            cls = typing.get_type_hints(builder).get("return")
        except Exception:  # an annotation that does not resolve: validate less, build anyway
            cls = None
        return builder, cls if isinstance(cls, type) else None

    def valid_arguments(self) -> list[str] | None:
        """Argument names the config may set, or None when they cannot be known."""
        builder, cls = self._builder_and_class()
        if cls is None:
            return None
        names = [n for n, p in inspect.signature(builder).parameters.items()
                 if p.kind is inspect.Parameter.KEYWORD_ONLY]
        for n, p in inspect.signature(cls).parameters.items():
            if p.kind not in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                              inspect.Parameter.KEYWORD_ONLY):
                continue  # some classes swallow **kwargs and ignore them: do not accept anything
            if p.default is inspect.Parameter.empty and n not in self._SETTABLE_REQUIRED:
                continue
            names.append(n)
        names += self._BUILDER_EXTRAS.get(cls.__name__, ())
        return list(dict.fromkeys(n for n in names if n not in INJECTED))

    def check_kwargs(self, kwargs: dict[str, Any], key: str) -> None:
        """Raise LrtoolError naming `key.<arg>` for an argument the model does not take."""
        valid = self.valid_arguments()
        if valid is None:
            return  # the TypeError at build time will name the argument
        # A stand-in with the valid names as its signature lets registry.check_kwargs word the
        # error exactly as for every other component.
        stub = lambda: None  # noqa: E731
        stub.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY) for n in valid])
        check_kwargs(stub, kwargs, key, injected=INJECTED)

    def build(self, input_shape: tuple[int, ...], num_classes: int, kwargs: dict[str, Any],
              key: str) -> nn.Module:
        """Build the model for (C, H, W) input and `num_classes` outputs."""
        channels, height, width = _image_shape(input_shape)
        builder, cls = self._builder_and_class()
        params = inspect.signature(cls).parameters if cls is not None else {}
        kwargs = dict(kwargs)
        pretrained = kwargs.get("weights") is not None
        if not pretrained:
            # Transformers are built for a fixed image size (224 by default): build them for
            # the data's size instead; with weights the size is fixed by the checkpoint.
            if "image_size" in params and "image_size" not in kwargs and height == width:
                kwargs["image_size"] = height
            if "input_size" in params and "input_size" not in kwargs:
                kwargs["input_size"] = (height, width)
        # GoogLeNet/Inception return (logits, aux logits) in training mode when aux_logits is on,
        # which no loss accepts: off unless asked for.
        if "aux_logits" in params and "aux_logits" not in kwargs:
            kwargs["aux_logits"] = False
        # Their init_weights=None default only warns that it will change: keep today's init.
        if ("init_weights" in params and params["init_weights"].default is None
                and "init_weights" not in kwargs and not pretrained):
            kwargs["init_weights"] = True
        try:
            model = builder(num_classes=num_classes, **kwargs)
        except (TypeError, ValueError, AssertionError) as err:
            raise LrtoolError(
                f"{key}: {self.name} rejected its arguments: {_one_line(err)}") from err
        except (OSError, RuntimeError) as err:  # weights that cannot be downloaded or loaded
            raise LrtoolError(f"{key}: {self.name} could not be built: {_one_line(err)}") from err
        if channels != 3:
            _adapt_first_conv(model, channels, self.name, key)
        return model


def _adapt_first_conv(model: nn.Module, channels: int, name: str, key: str) -> None:
    """Replace the model's first 3-channel conv by one taking `channels` input channels.

    The new kernel is the old one summed over RGB for 1 channel, which is exactly the model fed
    the grey image repeated on 3 channels (with pretrained or freshly initialised weights), at a
    third of the first layer's cost; for other counts the RGB mean is spread over the channels.
    """
    for parent in model.modules():
        for child_name, child in parent.named_children():
            if isinstance(child, nn.Conv2d) and child.in_channels == 3:
                new = nn.Conv2d(channels, child.out_channels, child.kernel_size, child.stride,
                                child.padding, child.dilation, child.groups,
                                child.bias is not None, child.padding_mode)
                with torch.no_grad():
                    if channels == 1:
                        new.weight.copy_(child.weight.sum(dim=1, keepdim=True))
                    else:
                        mean = child.weight.mean(dim=1, keepdim=True)
                        new.weight.copy_(mean.expand(-1, channels, -1, -1) * (3.0 / channels))
                    if child.bias is not None:
                        new.bias.copy_(child.bias)
                setattr(parent, child_name, new)
                return
    raise LrtoolError(f"{key}: {name} has no 3-channel input convolution to adapt to "
                      f"{channels}-channel data")


class _CallableModel:
    """A model from 'package.module:callable' (a function or an nn.Module class)."""

    def __init__(self, spec: str):
        self.spec = spec

    def resolve(self, key: str) -> Callable[..., Any]:
        """Import the module and return the callable; one-line LrtoolError when that fails."""
        module_name, _, attr_path = self.spec.partition(":")
        if not module_name or not attr_path:
            raise LrtoolError(f"{key}: '{self.spec}' is not of the form 'package.module:callable'")
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError as err:
            raise LrtoolError(
                f"{key}: cannot import module '{module_name}' for '{self.spec}': "
                f"{_one_line(err)}") from err
        except Exception as err:  # the user's module itself failed while importing
            raise LrtoolError(
                f"{key}: importing module '{module_name}' for '{self.spec}' failed: "
                f"{type(err).__name__}: {_one_line(err)}") from err
        for part in attr_path.split("."):  # 'module:Class.factory' is allowed
            if not hasattr(obj, part):
                public = [n for n in dir(obj) if not n.startswith("_")]
                raise LrtoolError(
                    f"{key}: '{module_name}' has no attribute '{attr_path}'"
                    f"{did_you_mean(part, public)}")
            obj = getattr(obj, part)
        if not callable(obj):
            raise LrtoolError(f"{key}: '{self.spec}' is a {type(obj).__name__}, not a callable")
        return obj

    def check_kwargs(self, kwargs: dict[str, Any], key: str) -> None:
        """Raise LrtoolError naming `key.<arg>` for an argument the callable does not take."""
        check_kwargs(self.resolve(key), kwargs, key, injected=INJECTED)

    def build(self, input_shape: tuple[int, ...], num_classes: int, kwargs: dict[str, Any],
              key: str) -> nn.Module:
        """Call the callable with `kwargs`, plus num_classes/input_shape where it names them."""
        fn = self.resolve(key)
        try:
            accepted = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            accepted = {}
        injected = {"input_shape": tuple(input_shape), "num_classes": num_classes}
        # Only parameters it names explicitly: a **kwargs catch-all may forward them anywhere.
        call_kwargs = {n: v for n, v in injected.items()
                       if n in accepted and accepted[n].kind in (
                           inspect.Parameter.POSITIONAL_OR_KEYWORD,
                           inspect.Parameter.KEYWORD_ONLY)}
        call_kwargs.update(kwargs)
        try:
            model = fn(**call_kwargs)
        except (TypeError, ValueError) as err:
            raise LrtoolError(
                f"{key}: {self.spec} rejected its arguments: {_one_line(err)}") from err
        if not isinstance(model, nn.Module):
            raise LrtoolError(
                f"{key}: {self.spec} returned a {type(model).__name__}, not a torch.nn.Module")
        return model


# --------------------------------------------------------------------------------------------
# Built-in models


def _mlp_options(hidden: Any, dropout: Any, activation: Any, batchnorm: Any) -> tuple:
    """Checked mlp options."""
    return (_widths(hidden, "hidden", allow_empty=True), _fraction(dropout, "dropout"),
            _activation(activation), _flag(batchnorm, "batchnorm"))


@MODELS.register("mlp", help="fully connected net on the flattened input "
                 "(hidden=[256], dropout=0.0, activation=relu, batchnorm=false)")
@_checked_by(_mlp_options)
def mlp(input_shape: tuple[int, ...], num_classes: int, *, hidden: Any = (256,),
        dropout: float = 0.0, activation: str = "relu", batchnorm: bool = False) -> nn.Module:
    """Fully connected network: Linear -> [BatchNorm] -> activation -> [Dropout] per hidden width.

    Args:
        input_shape: shape of one example; it is flattened, so any shape works.
        num_classes: width of the output layer.
        hidden: widths of the hidden layers (an int for one layer; [] for a linear model).
        dropout: dropout probability after each hidden activation (0 for none).
        activation: relu, gelu or tanh.
        batchnorm: BatchNorm1d after each hidden Linear (which then has no bias).

    Returns:
        nn.Sequential with layers fc1.., bn1.., act1.., drop1.. and head.
    """
    hidden, dropout, act, batchnorm = _mlp_options(hidden, dropout, activation, batchnorm)
    layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
    width = math.prod(input_shape)
    for i, out in enumerate(hidden, start=1):
        layers[f"fc{i}"] = nn.Linear(width, out, bias=not batchnorm)
        if batchnorm:
            layers[f"bn{i}"] = nn.BatchNorm1d(out)
        layers[f"act{i}"] = act()
        if dropout > 0:
            layers[f"drop{i}"] = nn.Dropout(dropout)
        width = out
    layers["head"] = nn.Linear(width, num_classes)
    return nn.Sequential(layers)


def _convnet_options(channels: Any, width: Any, batchnorm: Any) -> tuple:
    """Checked convnet options: the scaled channel widths and the batchnorm flag."""
    channels = _widths(channels, "channels", allow_empty=False)
    if isinstance(width, bool) or not isinstance(width, (int, float)) or width <= 0:
        raise ValueError(f"width must be a positive number, got {width!r}")
    scaled = tuple(max(1, round(c * width)) for c in channels)
    return scaled, _flag(batchnorm, "batchnorm")


@MODELS.register("convnet", "cnn", help="small CIFAR-style ConvNet of conv-BN-ReLU-pool blocks "
                 "(channels=[32, 64, 128, 256, 256], width=1.0, batchnorm=true)")
@_checked_by(_convnet_options)
def convnet(input_shape: tuple[int, ...], num_classes: int, *,
            channels: Any = (32, 64, 128, 256, 256), width: float = 1.0,
            batchnorm: bool = True) -> nn.Module:
    """Small ConvNet: one block per entry of `channels`, then global average pool and a Linear.

    A block is conv3x3 -> [BatchNorm] -> ReLU -> 2x2 max-pool; the pool is skipped (per side)
    once the feature map is down to one pixel, so 8x8, 28x28, 32x32 and larger inputs all work.

    Args:
        input_shape: (C, H, W) of one example.
        num_classes: width of the output layer.
        channels: output channels of each block (its length is the number of blocks).
        width: multiplier applied to every entry of `channels` (rounded, at least 1), to scale
            the network without rewriting the list.
        batchnorm: BatchNorm2d after each conv (which then has no bias).

    Returns:
        nn.Sequential with blocks block1.. (conv, bn, act, pool), pool, flatten and head.
    """
    channels, batchnorm = _convnet_options(channels, width, batchnorm)
    in_channels, height, width_px = _image_shape(input_shape)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i, out in enumerate(channels, start=1):
        block: OrderedDict[str, nn.Module] = OrderedDict(
            conv=nn.Conv2d(in_channels, out, 3, padding=1, bias=not batchnorm))
        if batchnorm:
            block["bn"] = nn.BatchNorm2d(out)
        block["act"] = nn.ReLU(inplace=True)
        kernel = _pool_kernel(height, width_px)
        if kernel != (1, 1):
            block["pool"] = nn.MaxPool2d(kernel)
            height, width_px = height // kernel[0], width_px // kernel[1]
        layers[f"block{i}"] = nn.Sequential(block)
        in_channels = out
    # Inputs larger than 32x32 keep some spatial extent after the last block.
    layers["pool"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    layers["head"] = nn.Linear(in_channels, num_classes)
    return nn.Sequential(layers)


def _lenet_options(activation: Any) -> tuple:
    """Checked lenet options."""
    return (_activation(activation),)


@MODELS.register("lenet", "lenet5", help="LeNet-5: conv6-pool-conv16-pool-fc120-fc84 (activation=relu)")
@_checked_by(_lenet_options)
def lenet(input_shape: tuple[int, ...], num_classes: int, *,
          activation: str = "relu") -> nn.Module:
    """LeNet-5 with max-pooling, padded as needed for small inputs.

    conv1 (5x5, 6 channels) is unpadded on inputs of 32 pixels or more (the original LeNet-5)
    and padded by 2 on smaller ones (as LeNet-5 is run on 28x28 MNIST); conv2 (5x5, 16
    channels) is unpadded when its input is at least 10 pixels, else padded by 2 (8x8 digits).
    Pools are skipped on one-pixel sides. The flattened size comes from a dummy forward.

    Args:
        input_shape: (C, H, W) of one example.
        num_classes: width of the output layer.
        activation: relu, gelu or tanh (the original used tanh).

    Returns:
        nn.Sequential with conv1, act1, pool1, conv2, act2, pool2, flatten, fc1, act3, fc2,
        act4 and head.
    """
    (act,) = _lenet_options(activation)
    in_channels, height, width = _image_shape(input_shape)
    features: OrderedDict[str, nn.Module] = OrderedDict()
    for i, (out, min_unpadded) in enumerate(((6, 32), (16, 10)), start=1):
        padding = 0 if min(height, width) >= min_unpadded else 2
        features[f"conv{i}"] = nn.Conv2d(in_channels, out, 5, padding=padding)
        features[f"act{i}"] = act()
        height, width = height + 2 * padding - 4, width + 2 * padding - 4
        kernel = _pool_kernel(height, width)
        if kernel != (1, 1):
            features[f"pool{i}"] = nn.MaxPool2d(kernel)
            height, width = height // kernel[0], width // kernel[1]
        in_channels = out
    features["flatten"] = nn.Flatten()
    model = nn.Sequential(features)
    with torch.no_grad():  # flattened size of whatever the convolutions leave
        flat = model(torch.zeros(1, *input_shape)).shape[1]
    model.add_module("fc1", nn.Linear(flat, 120))
    model.add_module("act3", act())
    model.add_module("fc2", nn.Linear(120, 84))
    model.add_module("act4", act())
    model.add_module("head", nn.Linear(84, num_classes))
    return model


# --------------------------------------------------------------------------------------------
# Public API


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
    hint = did_you_mean(name, MODELS.names()) or did_you_mean(name, _torchvision_names())
    raise LrtoolError(
        f"{key}.name: unknown model '{name}'{hint}; valid choices: {format_choices(MODELS.names())}"
        f"; {MODELS.fallback_hint}")


def _label(name: str, builder: Any) -> str:
    """How error messages name the model: its registered, torchvision or import-path name."""
    if isinstance(builder, _TorchvisionModel):
        return builder.name
    if isinstance(builder, _CallableModel):
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
    kwargs = kwargs_dict(kwargs, key)
    builder = _resolve(name, key)
    if isinstance(builder, (_TorchvisionModel, _CallableModel)):
        builder.check_kwargs(kwargs, key)
        return
    check_kwargs(builder, kwargs, key, injected=INJECTED)
    check = getattr(builder, "check_values", None)
    if check is not None:
        try:
            check(**_with_defaults(builder, kwargs))
        except ValueError as err:
            raise LrtoolError(f"{key}: {MODELS.canonical(name)} rejected its arguments: "
                              f"{_one_line(err)}") from err


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
    kwargs = kwargs_dict(kwargs, key)
    validate_model(name, kwargs, key)
    builder = _resolve(name, key)
    label = _label(name, builder)
    try:
        if isinstance(builder, (_TorchvisionModel, _CallableModel)):
            model = builder.build(input_shape, num_classes, kwargs, key)
        else:
            model = builder(input_shape, num_classes, **kwargs)
    except _InputShapeError as err:
        raise LrtoolError(f"{key}: {label} {_one_line(err)}") from err
    except (TypeError, ValueError) as err:
        raise LrtoolError(f"{key}: {label} rejected its arguments: {_one_line(err)}") from err
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
                          f"{type(err).__name__}: {_one_line(err)}") from err
    finally:
        model.train(was_training)
    expected = (_CHECK_BATCH, num_classes)
    if not isinstance(out, torch.Tensor):
        raise LrtoolError(f"{key}: {label} returns a {type(out).__name__} for a batch of shape "
                          f"{shape}; expected a tensor of shape {expected}")
    if tuple(out.shape) != expected:
        raise LrtoolError(f"{key}: {label} gives output of shape {tuple(out.shape)} for a batch "
                          f"of shape {shape}; expected {expected} (batch, num_classes)")

"""Any torchvision classification model by name (torchvision is imported only when one is asked for)."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import torch
from torch import nn

from .. import checks
from ..errors import LrtoolError, one_line
from .base import INJECTED, image_shape


@functools.lru_cache(maxsize=1)
def torchvision_names() -> tuple[str, ...]:
    """Names of torchvision's classification models (empty if torchvision is missing)."""
    try:
        import torchvision.models
    except ImportError:
        return ()
    # module=torchvision.models keeps the classifiers only: detection, segmentation, video and
    # quantized models live in submodules and need other heads/inputs.
    return tuple(torchvision.models.list_models(module=torchvision.models))


class TorchvisionModel:
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
        # A stand-in with the valid names as its signature lets checks.check_kwargs word the
        # error exactly as for every other component.
        stub = lambda: None  # noqa: E731
        stub.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY) for n in valid])
        checks.check_kwargs(stub, kwargs, key, injected=INJECTED)

    def build(self, input_shape: tuple[int, ...], num_classes: int, kwargs: dict[str, Any],
              key: str) -> nn.Module:
        """Build the model for (C, H, W) input and `num_classes` outputs."""
        channels, height, width = image_shape(input_shape)
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
                f"{key}: {self.name} rejected its arguments: {one_line(err)}") from err
        except (OSError, RuntimeError) as err:  # weights that cannot be downloaded or loaded
            raise LrtoolError(f"{key}: {self.name} could not be built: {one_line(err)}") from err
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

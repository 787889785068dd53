"""Any torchvision classification model by name (torchvision is imported only when one is asked for)."""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
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
        weights = kwargs.pop("weights", None)
        local = _local_weights(weights, f"{key}.weights")
        if weights is not None and local is None:
            # a weights enum fixes the head to its own classes (1000 for ImageNet): built with it, then replaced
            _weights_enum(self.name, weights, f"{key}.weights")
            kwargs["weights"] = weights
        try:
            if local is not None:
                model = _with_local_weights(builder, self.name, num_classes, kwargs, local, f"{key}.weights")
            elif weights is not None:
                model = builder(**kwargs)
            else:
                model = builder(num_classes=num_classes, **kwargs)
        except LrtoolError:
            raise
        except (TypeError, ValueError, AssertionError) as err:
            raise LrtoolError(
                f"{key}: {self.name} rejected its arguments: {one_line(err)}") from err
        except (OSError, RuntimeError) as err:  # weights that cannot be downloaded or loaded
            hint = "; pretrained weights are downloaded once: give model.weights a local file instead" \
                if weights is not None else ""
            raise LrtoolError(f"{key}: {self.name} could not be built: {one_line(err)}{hint}") from err
        if weights is not None:
            replace_head(model, num_classes, self.name, key)
        if channels != 3:
            _adapt_first_conv(model, channels, self.name, key)
        return model


def _weights_enum(name: str, weights: Any, key: str) -> Any:
    """The torchvision weights enum member `weights` names ('DEFAULT', 'IMAGENET1K_V1', 'ResNet18_Weights.X')."""
    import torchvision.models

    enum = torchvision.models.get_model_weights(name)
    member = str(weights).split(".")[-1]
    if member == "DEFAULT" or member in enum.__members__:
        return enum[member] if member != "DEFAULT" else enum.DEFAULT
    names = [m for m in enum.__members__ if m != "DEFAULT"]
    raise LrtoolError(f"{key}: expected DEFAULT, one of ({', '.join(names)}) or the path of a "
                      f"weights file, got {weights!r}")


def _local_weights(weights: Any, key: str) -> Path | None:
    """The path of a weights file, when `weights` names one (a path separator or a .pt/.pth/.bin ending)."""
    if not isinstance(weights, str) or not ("/" in weights or "\\" in weights or
                                            weights.endswith((".pt", ".pth", ".bin"))):
        return None
    path = Path(weights).expanduser()
    if not path.is_file():
        raise LrtoolError(f"{key}: no such weights file '{path}'")
    return path


def _state_dict(path: Path, key: str) -> dict[str, torch.Tensor]:
    """The state dict in a weights file: saved directly, or under 'model'/'state_dict' (lrtool's checkpoints)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - pickle, zip and torch errors alike mean "not a weights file"
        raise LrtoolError(f"{key}: cannot read '{path}' as a state dict: {one_line(err, with_type=True)}") from None
    for inner in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(inner), dict):
            state = state[inner]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise LrtoolError(f"{key}: '{path}' holds no state dict (a mapping of parameter names to tensors)")
    return state


def _with_local_weights(builder: Callable[..., nn.Module], name: str, num_classes: int, kwargs: dict[str, Any],
                        path: Path, key: str) -> nn.Module:
    """The model with the file's weights, built with the file's number of classes (the head is replaced after)."""
    state = _state_dict(path, key)
    model = builder(num_classes=num_classes, **kwargs)
    head = _head(model, num_classes)
    saved = state.get(f"{head[0]}.weight") if head is not None else None
    if saved is not None and saved.shape[0] != num_classes:
        model = builder(num_classes=int(saved.shape[0]), **kwargs)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = [f"{len(ks)} {what} key(s) (first: {ks[0]})" for what, ks in (("missing", missing),
                                                                                ("unexpected", unexpected)) if ks]
        raise LrtoolError(f"{key}: '{path}' does not match {name}: {', '.join(parts)}")
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
             if tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        raise LrtoolError(f"{key}: '{path}' does not match {name}: {len(wrong)} tensor(s) of another shape "
                          f"(first: {wrong[0]})")
    model.load_state_dict(state)
    return model


def _head(model: nn.Module, outputs: int) -> tuple[str, nn.Module] | None:
    """The classifier head: the last Linear (or 1x1 Conv2d) layer with `outputs` outputs, and its name."""
    found = None
    for child_name, child in model.named_modules():
        if isinstance(child, nn.Linear) and child.out_features == outputs:
            found = (child_name, child)
        elif isinstance(child, nn.Conv2d) and child.kernel_size == (1, 1) and child.out_channels == outputs:
            found = (child_name, child)
    return found


def replace_head(model: nn.Module, num_classes: int, name: str, key: str) -> None:
    """Give a pretrained classifier a fresh head of `num_classes` outputs when its own has another size."""
    last = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))][-1]
    outputs = last.out_features if isinstance(last, nn.Linear) else last.out_channels
    if outputs == num_classes:
        return
    head = _head(model, outputs)
    if head is None:
        raise LrtoolError(f"{key}: cannot find the classifier head of {name} to give it {num_classes} outputs")
    path, old = head
    parent = model.get_submodule(path.rpartition(".")[0]) if "." in path else model
    if isinstance(old, nn.Linear):
        new: nn.Module = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    else:
        new = nn.Conv2d(old.in_channels, num_classes, 1, bias=old.bias is not None)
    setattr(parent, path.rpartition(".")[2], new)


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

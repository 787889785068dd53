"""A model from 'package.module:callable': your own function or nn.Module class."""

from __future__ import annotations

import inspect
from typing import Any, Callable

from torch import nn

from .. import checks
from ..errors import LrtoolError, one_line
from ..imports import resolve_callable
from .base import INJECTED


class CallableModel:
    """A model from 'package.module:callable' (a function or an nn.Module class)."""

    def __init__(self, spec: str):
        self.spec = spec

    def resolve(self, key: str) -> Callable[..., Any]:
        """Import the module and return the callable; one-line LrtoolError when that fails."""
        return resolve_callable(self.spec, key)

    def check_kwargs(self, kwargs: dict[str, Any], key: str) -> None:
        """Raise LrtoolError naming `key.<arg>` for an argument the callable does not take."""
        checks.check_kwargs(self.resolve(key), kwargs, key, injected=INJECTED)

    def build(self, input_shape: tuple[int, ...], num_classes: int, kwargs: dict[str, Any],
              key: str) -> nn.Module:
        """Call the callable with `kwargs`, plus num_classes/input_shape where it names them."""
        fn = self.resolve(key)
        try:
            accepted = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            accepted = {}
        injected = {"input_shape": tuple(input_shape), "num_classes": num_classes}
        if len(input_shape) == 3:  # image data: the channel count under timm's name
            injected["in_chans"] = int(input_shape[0])
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
                f"{key}: {self.spec} rejected its arguments: {one_line(err)}") from err
        except Exception as err:  # the user's code failed: still bad input, found before training
            raise LrtoolError(f"{key}.name: building the model with {self.spec} failed: "
                              f"{one_line(err, with_type=True)}") from err
        except SystemExit as err:
            raise LrtoolError(f"{key}.name: {self.spec} called sys.exit({err.code!r}) while building the "
                              "model; a model must not exit") from None
        if not isinstance(model, nn.Module):
            raise LrtoolError(
                f"{key}: {self.spec} returned a {type(model).__name__}, not a torch.nn.Module")
        return model

"""A model from 'package.module:callable': your own function or nn.Module class."""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable

from torch import nn

from .. import checks
from ..errors import LrtoolError, one_line
from ..registry import did_you_mean
from .base import INJECTED


class CallableModel:
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
                f"{one_line(err)}") from err
        except Exception as err:  # the user's module itself failed while importing
            raise LrtoolError(
                f"{key}: importing module '{module_name}' for '{self.spec}' failed: "
                f"{type(err).__name__}: {one_line(err)}") from err
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
        if not isinstance(model, nn.Module):
            raise LrtoolError(
                f"{key}: {self.spec} returned a {type(model).__name__}, not a torch.nn.Module")
        return model

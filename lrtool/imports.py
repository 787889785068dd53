"""Import what a config names as 'package.module:callable' (a model, a loss, a dataset, a collate_fn)."""

from __future__ import annotations

import importlib
from typing import Any, Callable

from .errors import LrtoolError, one_line
from .registry import did_you_mean


def is_spec(name: Any) -> bool:
    """Whether a component name is a 'package.module:callable' reference rather than a registry name."""
    return isinstance(name, str) and ":" in name


def resolve_callable(spec: str, key: str) -> Callable[..., Any]:
    """Import the module of `spec` and return its callable ('module:attr' or 'module:Class.factory').

    Args:
        spec: 'package.module:callable'.
        key: the dotted config key named in errors.

    Returns:
        The callable; raises a one-line LrtoolError naming `key` when the import or lookup fails.
    """
    module_name, _, attr_path = spec.partition(":")
    if not module_name or not attr_path:
        raise LrtoolError(f"{key}: '{spec}' is not of the form 'package.module:callable'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise LrtoolError(f"{key}: cannot import module '{module_name}' for '{spec}': {one_line(err)}") from err
    except Exception as err:  # the user's module itself failed while importing
        raise LrtoolError(f"{key}: importing module '{module_name}' for '{spec}' failed: "
                          f"{type(err).__name__}: {one_line(err)}") from err
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            public = [n for n in dir(obj) if not n.startswith("_")]
            raise LrtoolError(f"{key}: '{module_name}' has no attribute '{attr_path}'{did_you_mean(part, public)}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise LrtoolError(f"{key}: '{spec}' is a {type(obj).__name__}, not a callable")
    return obj

"""'package.module:callable' names from a config: the import path they are found on, and their import.

A config may name the user's own code for data, model and loss. Such code usually sits next to the config
or in the project folder the command runs from, which the `lrtool` console script (unlike `python -m`) does
not put on sys.path: `add_config_paths` puts both there, once per config file.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any, Callable

from .errors import LrtoolError, one_line
from .registry import did_you_mean

# every folder lrtool put on sys.path in this process (a config's folder, the cwd, a resumed run's
# recorded import_paths): an import error names those it searched, in sys.path's order
_ADDED: set[str] = set()


def add_config_paths(config_path: str | Path | None) -> None:
    """Put the config file's folder and the current working directory on sys.path (front, once each).

    Args:
        config_path: the config file given on the command line, or None (only the cwd is added).
    """
    add_paths(config_paths(config_path))


def config_paths(config_path: str | Path | None) -> list[str]:
    """The folders `add_config_paths` puts on sys.path for a config file: its folder, then the cwd
    (absolute; a run records them so that --resume finds the same modules from anywhere)."""
    folders = [Path(config_path).resolve().parent] if config_path is not None else []
    folders.append(Path(os.getcwd()).resolve())
    return [str(f) for f in folders]


def add_paths(folders: list[str]) -> None:
    """Put `folders` at the front of sys.path in this order (each once)."""
    for entry in reversed(folders):  # the first ends up first
        if entry not in sys.path:
            sys.path.insert(0, entry)
        _ADDED.add(entry)
    # DataLoader workers started by spawn/forkserver rebuild sys.path from the parent's, so they see these too


def searched() -> str:
    """Where an import looks for a config's module, as an error message says it: the folders lrtool added."""
    folders = [p for p in sys.path if p in _ADDED]
    return f"searched {', '.join(folders)}, then the rest of sys.path" if folders else "searched sys.path"


def is_spec(name: Any) -> bool:
    """Whether `name` has the 'package.module:callable' form."""
    return isinstance(name, str) and ":" in name


def resolve_callable(spec: str, key: str) -> Callable[..., Any]:
    """Import 'package.module:callable' (or 'module:Class.factory'); one-line LrtoolError naming `key` on failure.

    Args:
        spec: the 'package.module:callable' string from the config.
        key: the dotted config key that gave it.

    Returns:
        The callable.
    """
    module_name, _, attr_path = spec.partition(":")
    if not module_name or not attr_path:
        raise LrtoolError(f"{key}: '{spec}' is not of the form 'package.module:callable'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise LrtoolError(f"{key}: cannot import module '{module_name}' for '{spec}': {one_line(err)} "
                          f"({searched()})") from err
    except Exception as err:  # the user's module itself failed while importing
        raise LrtoolError(f"{key}: importing module '{module_name}' for '{spec}' failed: "
                          f"{type(err).__name__}: {one_line(err)}") from err
    except SystemExit as err:  # lrtool's exit code is lrtool's, not a side effect of an import
        raise LrtoolError(f"{key}.name: importing module '{module_name}' for '{spec}' called "
                          f"sys.exit({err.code!r}); a module named in the config must not exit") from None
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            public = [n for n in dir(obj) if not n.startswith("_")]
            raise LrtoolError(f"{key}: '{module_name}' has no attribute '{attr_path}'{did_you_mean(part, public)}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise LrtoolError(f"{key}: '{spec}' is a {type(obj).__name__}, not a callable")
    return obj

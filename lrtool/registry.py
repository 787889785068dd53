"""One registry type for every kind of component: datasets, models, optimizers, losses, schedules."""

from __future__ import annotations

import difflib
import inspect
from pathlib import Path
from typing import Any, Callable, Iterable

from .errors import LrtoolError


def did_you_mean(given: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or ''."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    match = difflib.get_close_matches(given.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean '{lowered[match[0]]}'?)" if match else ""


def format_choices(choices: Iterable[str], limit: int = 30) -> str:
    choices = list(choices)
    shown = ", ".join(choices[:limit])
    return shown + (f", ... ({len(choices)} in all)" if len(choices) > limit else "")


class Registry:
    """A dict from name to builder, filled by a decorator; names are matched case-insensitively.

    `fallback(name)` may resolve names that are not listed (e.g. any torch.optim class or any
    torchvision model); it returns None for names it does not know.
    """

    def __init__(self, kind: str, fallback: Callable[[str], Any] | None = None,
                 fallback_hint: str = ""):
        self.kind = kind
        self._items: dict[str, Any] = {}
        self._aliases: dict[str, str] = {}
        self._help: dict[str, str] = {}
        self._fallback = fallback
        self.fallback_hint = fallback_hint

    def register(self, name: str, *aliases: str, help: str = "") -> Callable[[Any], Any]:
        """Decorator: register `obj` under `name` (and `aliases`)."""

        def deco(obj: Any) -> Any:
            self.add(name, obj, *aliases, help=help)
            return obj

        return deco

    def add(self, name: str, obj: Any, *aliases: str, help: str = "") -> None:
        if name.lower() in self._aliases:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._items[name] = obj
        self._help[name] = help or (inspect.getdoc(obj) or "").split("\n")[0]
        for key in (name, *aliases):
            self._aliases[key.lower()] = name

    def canonical(self, name: str) -> str | None:
        """The registered name that `name` refers to, or None."""
        return self._aliases.get(str(name).lower())

    def get(self, name: str, key: str | None = None) -> Any:
        """The builder registered as `name`; raises LrtoolError listing the valid names."""
        canonical = self.canonical(name)
        if canonical is not None:
            return self._items[canonical]
        if self._fallback is not None:
            found = self._fallback(str(name))
            if found is not None:
                return found
        where = f"{key}: " if key else ""
        hint = f"; {self.fallback_hint}" if self.fallback_hint else ""
        raise LrtoolError(
            f"{where}unknown {self.kind} '{name}'{did_you_mean(str(name), self.names())}; "
            f"valid choices: {format_choices(self.names())}{hint}"
        )

    def __contains__(self, name: str) -> bool:
        return self.canonical(name) is not None

    def names(self) -> list[str]:
        return list(self._items)

    def help(self, name: str) -> str:
        return self._help.get(self.canonical(name) or name, "")


def kwargs_dict(kwargs: Any, key: str) -> dict[str, Any]:
    """`kwargs` as a dict (None means no arguments)."""
    if kwargs is None:
        return {}
    if not isinstance(kwargs, dict):
        raise LrtoolError(f"{key}: arguments must be a mapping of name: value, "
                          f"got {type(kwargs).__name__}")
    return kwargs


def check_kwargs(fn: Callable[..., Any], kwargs: dict[str, Any], key: str,
                 injected: Iterable[str] = (), *, owner: str = "", hint: str = "",
                 refused: dict[str, str] | None = None) -> None:
    """Raise LrtoolError naming `key.<arg>` when `fn` does not take one of `kwargs`.

    `injected` are the parameters lrtool passes itself (input_shape, params, ...): a user
    may not set them. Functions taking **kwargs accept anything. `owner` names what takes the
    arguments, `hint` is added to the message, `refused` maps arguments to why they are refused.
    """
    for arg in kwargs:
        if refused and arg in refused:
            raise LrtoolError(f"{key}.{arg}: not accepted: {refused[arg]}")
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins without a signature: let the call decide
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    injected = set(injected)
    valid = [n for n, p in params.items()
             if n not in injected and n != "self"
             and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    for arg in kwargs:
        if arg in injected:
            raise LrtoolError(f"{key}.{arg}: set by lrtool itself, remove it from the config")
        if arg not in valid:
            raise LrtoolError(
                f"{key}.{arg}: unknown argument{f' for {owner}' if owner else ''}{did_you_mean(str(arg), valid)}; "
                f"valid arguments: {format_choices(valid) or '(none)'}{f' ({hint})' if hint else ''}"
            )


# `lrtool list` reads the names from a catalogue file so that it answers without importing torch;
# tests/test_catalog.py fails when the file and the live registries disagree.
CATALOG_PATH = Path(__file__).with_name("catalog.json")


def live_catalog() -> dict[str, Any]:
    """Every registry's names, one-line help and fallback hint, read from the registries themselves."""
    from .data import DATASETS
    from .models import MODELS
    from .optim import LOSSES, OPTIMIZERS
    from .schedules import SCHEDULES

    return {reg.kind: {"entries": [[name, reg.help(name)] for name in reg.names()], "hint": reg.fallback_hint}
            for reg in (DATASETS, MODELS, OPTIMIZERS, LOSSES, SCHEDULES)}


def read_catalog() -> dict[str, Any]:
    """The catalogue file, or the live registries when the file is missing or unreadable."""
    import json

    try:
        return json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return live_catalog()


if __name__ == "__main__":  # python -m lrtool.registry: refresh the catalogue after adding a component
    import json

    CATALOG_PATH.write_text(json.dumps(live_catalog(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {CATALOG_PATH}")

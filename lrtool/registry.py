"""One registry type for every kind of component: datasets, models, optimizers, losses, schedules.

A leaf: it imports nothing from lrtool but errors, so every component can import it.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any, Callable, Iterable

from .errors import LrtoolError


def did_you_mean(given: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or ''."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    match = difflib.get_close_matches(given.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean '{lowered[match[0]]}'?)" if match else ""


def format_choices(choices: Iterable[str], limit: int = 30) -> str:
    """The choices as 'a, b, c', cut after `limit` with the total count."""
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
        """Register `obj` under `name` and `aliases`; `help` defaults to its docstring's first line."""
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
        """The registered names (without aliases), in registration order."""
        return list(self._items)

    def help(self, name: str) -> str:
        """The one-line help of `name`."""
        return self._help.get(self.canonical(name) or name, "")


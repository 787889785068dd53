"""The `lrtool list` catalogue: every registry's names and one-line help.

`lrtool list` reads the names from catalog.json so that it answers without importing torch;
tests/test_catalog.py fails when the file and the live registries disagree. After adding a
component, refresh the file with `python -m lrtool.catalog`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
    try:
        return json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return live_catalog()


def write_catalog() -> Path:
    """Rewrite catalog.json from the live registries; returns its path."""
    CATALOG_PATH.write_text(json.dumps(live_catalog(), indent=1) + "\n", encoding="utf-8")
    return CATALOG_PATH


if __name__ == "__main__":  # python -m lrtool.catalog
    print(f"wrote {write_catalog()}")

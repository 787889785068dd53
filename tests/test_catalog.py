"""`lrtool list` reads lrtool/catalog.json (no torch import); it must match the live registries."""

from __future__ import annotations

import json
import subprocess
import sys

from lrtool.catalog import CATALOG_PATH, live_catalog


def test_catalog_file_matches_the_registries():
    saved = json.loads(CATALOG_PATH.read_text())
    assert saved == json.loads(json.dumps(live_catalog())), \
        "the registries changed: refresh the catalogue with `python -m lrtool.catalog`"


def test_list_answers_without_importing_torch():
    code = ("import sys; sys.argv = ['lrtool', 'list']\nfrom lrtool.cli import main\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "heavy = [m for m in ('torch', 'torchvision', 'pandas', 'matplotlib') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    for word in ("datasets", "digits", "models", "resnet18", "optimizers", "AdamW", "losses", "schedules",
                 "onecycle", "ReduceLROnPlateau"):
        assert word in res.stdout

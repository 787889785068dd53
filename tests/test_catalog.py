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


def test_list_shows_each_schedules_arguments_defaults_and_unit():
    """A user learns sgdr's `cycle` (not torch's T_0) and that it counts steps from `lrtool list`."""
    from tests.conftest import invoke

    res = invoke("list")
    text = " ".join(res.output.split())  # the table wraps long lines
    assert "Arguments: cycle, t_mult=1.0, decay=1.0, min_lr, eta_min, cycles, restart_warmup=0; durations in steps" \
        in text, res.output
    assert "Arguments: step_size, gamma=0.1; durations in epochs" in text  # StepLR
    assert "three_phase=false" in text  # as YAML spells it

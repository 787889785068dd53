"""The benchmark scripts still run (each in its smallest form): numbers in BENCHMARKS.md must stay reproducible."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str) -> str:
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True,
                         text=True, cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    return res.stdout


@pytest.mark.slow
def test_generic_path_benchmark_runs_and_reports_its_ratios():
    out = _run("generic_path.py", "--repeats", "1", "--epochs", "1", "--lengths", "1", "--models", "mlp")
    assert "ratio lrtool train/hand-written loop" in out
    assert "ratio lrtool find-lr/torch-lr-finder script" in out


@pytest.mark.slow
def test_train_overhead_benchmark_runs():
    out = _run("train_overhead.py", "--repeats", "1", "--epochs", "1", "--models", "mlp")
    assert "ratio lrtool train/hand-written loop" in out

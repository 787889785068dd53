"""Shared helpers for the benchmark scripts: repeated timing, ratios as median (min-max)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"


def wall(cmd: Sequence[str], cwd: Path | None = None, env: dict | None = None) -> float:
    """Seconds one whole process takes; fails loudly if it fails."""
    t = time.perf_counter()
    res = subprocess.run(list(cmd), cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    took = time.perf_counter() - t
    if res.returncode != 0:
        sys.exit(f"command failed ({res.returncode}): {' '.join(cmd)}\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    return took


def ratios(ours: Callable[[], float], theirs: Callable[[], float], repeats: int) -> tuple[list[float], list[float]]:
    """Alternate the two measurements `repeats` times (so drifts in machine load hit both alike)."""
    a, b = [], []
    for i in range(repeats):
        if i % 2 == 0:
            a.append(ours())
            b.append(theirs())
        else:
            b.append(theirs())
            a.append(ours())
    return a, b


def fmt(values: Sequence[float], unit: str = "", digits: int = 3) -> str:
    """median (min-max)."""
    med = statistics.median(values)
    return f"{med:.{digits}g}{unit} ({min(values):.{digits}g}-{max(values):.{digits}g})"


def report(title: str, ours: Sequence[float], theirs: Sequence[float], target: str, unit: str = " s",
           label_ours: str = "lrtool", label_theirs: str = "baseline") -> float:
    """Print both timings and their per-repeat ratio; returns the median ratio (ours / theirs)."""
    per = [x / y for x, y in zip(ours, theirs)]
    print(f"{title}")
    print(f"  {label_ours:<28} {fmt(ours, unit)}")
    print(f"  {label_theirs:<28} {fmt(theirs, unit)}")
    print(f"  ratio {label_ours}/{label_theirs}: {fmt(per)}   target: {target}")
    return statistics.median(per)


def machine() -> str:
    import platform

    import torch

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, python "
            f"{platform.python_version()}, torch {torch.__version__}, threads {torch.get_num_threads()}")

"""Shared helpers for the benchmark scripts: repeated timing, ratios as median (min-max)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

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


def handwritten_loop(net: Any, opt: Any, epochs: int, train_batches: Callable[[], Iterable],
                     val_batches: Callable[[], Iterable], device: Any, save: bool = False) -> float:
    """Seconds per optimizer step of the training loop a careful engineer writes by hand.

    Cross-entropy; loss and accuracy kept on the device and read once per epoch; one validation pass
    per epoch. `train_batches()`/`val_batches()` give one pass of (x, y) batches; `save`: also a
    `torch.save` of the model and optimizer at the end of every epoch, as many loops do.
    """
    import tempfile

    import torch

    f = torch.nn.functional
    steps = 0
    t = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        correct = torch.zeros((), device=device, dtype=torch.int64)
        for x, y in train_batches():
            out = net(x)
            loss = f.cross_entropy(out, y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            loss_sum += loss.detach() * len(y)
            correct += (out.detach().argmax(1) == y).sum()
            steps += 1
        net.eval()
        with torch.no_grad():
            vl = torch.zeros((), device=device, dtype=torch.float64)
            vc = torch.zeros((), device=device, dtype=torch.int64)
            for x, y in val_batches():
                out = net(x)
                vl += f.cross_entropy(out, y) * len(y)
                vc += (out.argmax(1) == y).sum()
        _ = (float(loss_sum), int(correct), float(vl), int(vc))  # the per-epoch log line
        if save:
            with tempfile.TemporaryDirectory() as tmp:
                torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch},
                           Path(tmp) / "last.pt")
    if getattr(device, "type", device) == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / steps


def lrtool_train_loop(setup: Any) -> float:
    """Seconds per optimizer step of lrtool's training loop (what `lrtool train` runs once the config is built)
    on a built Setup, into a temporary run directory; fails loudly unless the run completes."""
    import tempfile

    import torch

    from lrtool.run.plan import make_schedule
    from lrtool.run.trainer import train
    from lrtool.rundir import RunDir

    schedule, plan = make_schedule(setup)
    with tempfile.TemporaryDirectory() as tmp:
        run = RunDir.create(Path(tmp) / "run", "bench", "train")
        t = time.perf_counter()
        summary = train(setup, run, schedule, plan, schedule_name="constant", config_path=None)
        if setup.device.type == "cuda":
            torch.cuda.synchronize()
        took = time.perf_counter() - t
    if summary["status"] != "completed":
        sys.exit(f"the lrtool run ended {summary['status']}: {summary.get('error') or summary.get('stop')}")
    return took / plan.total_steps

"""Whole-process `lrtool find-lr` on the default config vs the same range test written with torch-lr-finder.

Both load the digits, run a 200-step exponential sweep 1e-4 -> 10 on the same MLP/SGD/batch size and
write a CSV and a plot. Two comparisons:
1. no validation (lrtool: find_lr.val_every=0; peer: no val_loader). Target: ratio <= 1.0.
2. with validation: lrtool's default (every 10 steps on a fixed subset of <= 512 samples) vs the peer's
   val_loader (a full validation pass every step). Target: >= 10x (the sweep itself; whole process shown too).
Needs `pip install torch-lr-finder` (not a dependency of lrtool).

    python benchmarks/findlr_vs_peer.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import QUICKSTART, ROOT, fmt, machine, report

PEER = Path(__file__).with_name("peer_torch_lr_finder.py")


def run(cmd: list[str]) -> tuple[float, float]:
    """(whole-process seconds, sweep seconds per step) of one run (the two may stop at different steps)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        t = time.perf_counter()
        res = subprocess.run(cmd + [str(out)] if cmd[1] == str(PEER) else cmd + ["--out", str(out)],
                             capture_output=True, text=True, cwd=ROOT)
        whole = time.perf_counter() - t
        if res.returncode != 0:
            sys.exit(f"failed: {' '.join(cmd)}\n{res.stderr[-3000:]}")
        if cmd[1] == str(PEER):
            info = json.loads(res.stdout.strip().splitlines()[-1])
            sweep = info["sweep_s"] / info["steps"]
        else:
            summary = json.loads((out / "summary.json").read_text())
            sweep = summary["timings"]["sweep_s"] / summary["stop"]["steps_run"]
        return whole, sweep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    try:
        import torch_lr_finder  # noqa: F401
    except ImportError:
        sys.exit("this benchmark needs the peer tool: pip install torch-lr-finder")
    py = sys.executable
    lrtool = [py, "-m", "lrtool", "find-lr", str(QUICKSTART)]
    print(f"machine: {machine()}")
    for title, ours_cmd, peer_cmd, target in (
        ("no validation", lrtool + ["--set", "find_lr.val_every=0"], [py, str(PEER)], "<= 1.0"),
        ("with validation", lrtool, [py, str(PEER), "--val"], ">= 10x (peer/lrtool, sweep)"),
    ):
        ours, peer = [], []
        for i in range(args.repeats):
            pair = (run(ours_cmd), run(peer_cmd)) if i % 2 == 0 else tuple(reversed((run(peer_cmd), run(ours_cmd))))
            ours.append(pair[0])
            peer.append(pair[1])
        report(f"findlr_vs_peer [{title}]: whole process", [o[0] for o in ours], [p[0] for p in peer],
               target if title == "no validation" else "(context)", label_ours="lrtool find-lr",
               label_theirs="torch-lr-finder script")
        speed = [p[1] / o[1] for o, p in zip(ours, peer)]
        print(f"  sweep, per step: lrtool {fmt([o[1] * 1e3 for o in ours], ' ms')}, "
              f"peer {fmt([p[1] * 1e3 for p in peer], ' ms')}, "
              f"peer/lrtool {fmt(speed)}x" + (f"   target: {target}" if title != "no validation" else ""))


if __name__ == "__main__":
    main()

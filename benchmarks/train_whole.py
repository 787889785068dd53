"""Whole-process `lrtool train` (15 epochs, default config) vs a hand-written script doing the same.

lrtool's process includes imports, config validation, per-step and per-epoch CSVs, checkpoints,
summary.json and its plots; the hand-written script writes one CSV and one plot at the end.
Target: ratio <= 1.2.

    python benchmarks/train_whole.py [--repeats 3] [--epochs 15]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _common import QUICKSTART, ROOT, machine, ratios, report, wall

HAND = Path(__file__).with_name("handwritten_train.py")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=15)
    args = ap.parse_args()
    py = sys.executable
    print(f"machine: {machine()}")

    def ours() -> float:
        with tempfile.TemporaryDirectory() as tmp:
            return wall([py, "-m", "lrtool", "train", str(QUICKSTART), "--epochs", str(args.epochs),
                         "--out", str(Path(tmp) / "run")], cwd=ROOT)

    def theirs() -> float:
        with tempfile.TemporaryDirectory() as tmp:
            return wall([py, str(HAND), str(Path(tmp) / "run"), "--epochs", str(args.epochs)], cwd=ROOT)

    a, b = ratios(ours, theirs, args.repeats)
    report(f"train_whole [{args.epochs} epochs on digits]: whole-process seconds", a, b, "<= 1.2",
           label_ours="lrtool train", label_theirs="hand-written script")


if __name__ == "__main__":
    main()

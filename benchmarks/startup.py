"""Start-up cost: `lrtool --help` (and friends) vs a bare `python -c pass`. Target: < 0.3 s over python.

    python benchmarks/startup.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys

from _common import fmt, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    py = sys.executable
    commands = {
        "python -c pass": [py, "-c", "pass"],
        "lrtool --help": [py, "-m", "lrtool", "--help"],
        "lrtool train --help": [py, "-m", "lrtool", "train", "--help"],
        "lrtool find-lr --bogus (usage error)": [py, "-c", "import sys; sys.argv=['lrtool','find-lr','--bogus']\n"
                                                   "from lrtool.cli import main\ntry: main()\nexcept SystemExit: pass"],
        "lrtool list": [py, "-m", "lrtool", "list"],
    }
    times = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, cmd in commands.items():
            times[name].append(wall(cmd))
    base = statistics.median(times["python -c pass"])
    print("startup: whole-process wall time, median (min-max)")
    for name, values in times.items():
        over = statistics.median(values) - base
        target = "   target: < 0.3 s over python" if name != "python -c pass" else ""
        print(f"  {name:<38} {fmt(values, ' s')}   +{over:.3f} s{target if 'help' in name or 'usage' in name else ''}")


if __name__ == "__main__":
    main()

"""lrtool on the generic path (the user's own Dataset through a DataLoader) against what users write today.

The Datasets are `benchmarks/user/bench_digits.py`: a map-style Dataset that returns one (image, label)
per `__getitem__`, as people write them. Everyone reads them through a DataLoader (batch 64, shuffled,
`num_workers=0`, default_collate). Two comparisons, each measured alternately in the same run:

1. train, seconds per optimizer step: `lrtool train` (config `benchmarks/user/generic.yaml`) against a
   hand-written loop over a DataLoader of the same Datasets, with the same model and optimizer. Both
   keep loss and accuracy on the device and validate once per epoch; lrtool also sets the LR each step,
   logs every step to steps.csv, and writes epochs.csv, summary.json and a checkpoint every epoch.
   Target: ratio <= 1.05.
2. find-lr, whole process (start to exit, imports included): `lrtool find-lr benchmarks/user/generic.yaml`
   against the same range test written with torch-lr-finder (`benchmarks/peer_torch_lr_finder.py --own-dataset`): the
   same Datasets, DataLoader, MLP, SGD, 200-step sweep 1e-4 -> 10, a CSV and a plot. No validation in
   either. Target: ratio <= 1.0. Needs `pip install torch-lr-finder` (in lrtool's dev extra).

    python benchmarks/generic_path.py [--epochs 10] [--repeats 5] [--models mlp,convnet] [--lengths 1,10]
                                      [--skip-find-lr] [--skip-train]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _common import ROOT, fmt, handwritten_loop, lrtool_train_loop, machine, ratios, report

USER = Path(__file__).resolve().with_name("user")
CONFIG = USER / "generic.yaml"
PEER = Path(__file__).resolve().with_name("peer_torch_lr_finder.py")
sys.path.insert(0, str(USER))

from bench_digits import splits  # noqa: E402

from lrtool.config import load_config  # noqa: E402
from lrtool.run.build import build  # noqa: E402

MODELS = {"mlp": [], "convnet": ["model={name: convnet, channels: [32, 64]}"]}


def setup_for(model: str, epochs: int, repeat: int):
    return build(load_config(CONFIG, [f"train.epochs={epochs}", f"data.repeat={repeat}", *MODELS[model]]))


def time_lrtool(model: str, epochs: int, repeat: int) -> float:
    """Seconds per optimizer step of `lrtool train` (the engine the command runs, without process start)."""
    return lrtool_train_loop(setup_for(model, epochs, repeat))


def time_handwritten(model: str, epochs: int, repeat: int, save: bool = False) -> float:
    """Seconds per optimizer step of the loop a careful engineer writes over a DataLoader of the same Datasets
    (`save`: plus a `torch.save` of the model and optimizer at the end of every epoch, as many loops do)."""
    s = setup_for(model, epochs, repeat)  # the same model and optimizer lrtool builds (and nothing else of it)
    data = splits(repeat=repeat)
    train_loader = torch.utils.data.DataLoader(data["train"], batch_size=64, shuffle=True)
    val_loader = torch.utils.data.DataLoader(data["val"], batch_size=256)
    return handwritten_loop(s.model, s.optimizer, epochs, lambda: train_loader, lambda: val_loader, s.device,
                            save=save)


def find_lr_run(peer: bool) -> tuple[float, float]:
    """(whole-process seconds, sweep seconds per step) of one range test in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cmd = ([sys.executable, str(PEER), str(out), "--own-dataset"] if peer else
               [sys.executable, "-m", "lrtool", "find-lr", str(CONFIG), "--out", str(out)])
        t = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        whole = time.perf_counter() - t
        if res.returncode != 0:
            sys.exit(f"failed: {' '.join(cmd)}\n{res.stderr[-3000:]}")
        if peer:
            info = json.loads(res.stdout.strip().splitlines()[-1])
            return whole, info["sweep_s"] / info["steps"]
        summary = json.loads((out / "summary.json").read_text())
        return whole, summary["timings"]["sweep_s"] / summary["stop"]["steps_run"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--models", default="mlp,convnet")
    ap.add_argument("--lengths", default="1,10",
                    help="epoch lengths to measure, as multiples of the digits' 23 batches (data.repeat)")
    ap.add_argument("--skip-find-lr", action="store_true")
    ap.add_argument("--skip-train", action="store_true")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    for model in [] if args.skip_train else args.models.split(","):
        time_lrtool(model, 1, 1)  # warm-up: first-call costs are nobody's per-step time
        time_handwritten(model, 1, 1)
        for repeat in map(int, args.lengths.split(",")):
            epochs = args.epochs if repeat == 1 else max(2, 3 * args.epochs // repeat)
            runs = {"lrtool": lambda: time_lrtool(model, epochs, repeat),
                    "hand": lambda: time_handwritten(model, epochs, repeat),
                    "hand+save": lambda: time_handwritten(model, epochs, repeat, save=True)}
            times: dict[str, list[float]] = {k: [] for k in runs}
            order = list(runs)
            for i in range(args.repeats):  # in turn, each one first in some repeat: load drifts hit all alike
                for name in order[i % 3:] + order[:i % 3]:
                    times[name].append(runs[name]())
            ours, theirs, saving = times["lrtool"], times["hand"], times["hand+save"]
            report(f"generic_path train [{model}, own Dataset + DataLoader, batch 64, {23 * repeat} steps per "
                   f"epoch, {epochs} epochs]: seconds per step", [x * 1e3 for x in ours],
                   [x * 1e3 for x in theirs], "<= 1.05", unit=" ms", label_ours="lrtool train",
                   label_theirs="hand-written loop")
            extra = [(o - t) * 23 * repeat for o, t in zip(ours, theirs)]
            print(f"  lrtool's extra time per epoch: {fmt([e * 1e3 for e in extra], ' ms')}")
            print(f"  context: hand-written loop + torch.save every epoch {fmt([x * 1e3 for x in saving], ' ms')}; "
                  f"ratio lrtool/that {fmt([o / s for o, s in zip(ours, saving)])}")
    if args.skip_find_lr:
        return
    try:
        import torch_lr_finder  # noqa: F401
    except ImportError:
        sys.exit("the find-lr comparison needs the peer tool: pip install torch-lr-finder (or --skip-find-lr)")
    ours, peer = ratios(lambda: find_lr_run(False), lambda: find_lr_run(True), args.repeats)
    report("generic_path find-lr [mlp, own Dataset + DataLoader, 200 steps, no validation]: whole process",
           [o[0] for o in ours], [p[0] for p in peer], "<= 1.0", label_ours="lrtool find-lr",
           label_theirs="torch-lr-finder script")
    print(f"  sweep, per step: lrtool {fmt([o[1] * 1e3 for o in ours], ' ms')}, "
          f"peer {fmt([p[1] * 1e3 for p in peer], ' ms')}")


if __name__ == "__main__":
    main()

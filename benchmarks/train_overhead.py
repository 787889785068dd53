"""Per-step cost of `lrtool train` against the hand-written loop a careful engineer would write.

Same model, data, batch size, device and in-memory batching; both track loss and accuracy on the
device and validate once per epoch; lrtool also sets the LR every step, logs every step to steps.csv,
writes epochs.csv, summary.json and a checkpoint every epoch. Plots are off (they are refreshed by
elapsed time, off the per-step path). Target: ratio <= 1.03.

    python benchmarks/train_overhead.py [--epochs 20] [--repeats 5] [--device cpu]
"""

from __future__ import annotations

import argparse

from _common import QUICKSTART, handwritten_loop, lrtool_train_loop, machine, ratios, report

from lrtool.config import load_config
from lrtool.run.build import build


def setup_for(model: str, epochs: int, device: str):
    sets = [f"train.epochs={epochs}", "train.plots=false", f"device={device}"]
    if model == "convnet":
        sets += ["model={name: convnet, channels: [32, 64]}"]
    return build(load_config(QUICKSTART, sets))


def time_lrtool(model: str, epochs: int, device: str) -> float:
    return lrtool_train_loop(setup_for(model, epochs, device))


def time_handwritten(model: str, epochs: int, device: str) -> float:
    s = setup_for(model, epochs, device)
    bs = s.cfg.data.batch_size
    return handwritten_loop(s.model, s.optimizer, epochs,
                            lambda: s.data.train.batches(bs, shuffle=True, generator=s.generator),
                            lambda: s.data.val.batches(bs * 4, shuffle=False), s.device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--models", default="mlp,convnet")
    args = ap.parse_args()
    print(f"machine: {machine()}; device {args.device}")
    for model in args.models.split(","):
        time_lrtool(model, 1, args.device)  # warm-up: first-call costs are nobody's per-step time
        time_handwritten(model, 1, args.device)
        ours, theirs = ratios(lambda: time_lrtool(model, args.epochs, args.device),
                              lambda: time_handwritten(model, args.epochs, args.device), args.repeats)
        report(f"train_overhead [{model} on digits, batch 64, {args.epochs} epochs]: seconds per step",
               [x * 1e3 for x in ours], [x * 1e3 for x in theirs], "<= 1.03", unit=" ms",
               label_ours="lrtool train", label_theirs="hand-written loop")


if __name__ == "__main__":
    main()

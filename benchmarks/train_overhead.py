"""Per-step cost of `lrtool train` against the hand-written loop a careful engineer would write.

Same model, data, batch size, device and in-memory batching; both track loss and accuracy on the
device and validate once per epoch; lrtool also sets the LR every step, logs every step to steps.csv,
writes epochs.csv, summary.json and a checkpoint every epoch. Plots are off (they are refreshed by
elapsed time, off the per-step path). Target: ratio <= 1.03.

    python benchmarks/train_overhead.py [--epochs 20] [--repeats 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from _common import QUICKSTART, machine, ratios, report

from lrtool.config import load_config
from lrtool.run.build import build
from lrtool.run.plan import make_schedule
from lrtool.run.trainer import train
from lrtool.rundir import RunDir


def setup_for(model: str, epochs: int, device: str):
    sets = [f"train.epochs={epochs}", "train.plots=false", f"device={device}"]
    if model == "convnet":
        sets += ["model={name: convnet, channels: [32, 64]}"]
    return build(load_config(QUICKSTART, sets))


def time_lrtool(model: str, epochs: int, device: str) -> float:
    setup = setup_for(model, epochs, device)
    schedule, plan = make_schedule(setup)
    with tempfile.TemporaryDirectory() as tmp:
        run = RunDir.create(Path(tmp) / "run", "bench", "train")
        t = time.perf_counter()
        train(setup, run, schedule, plan, schedule_name="constant", config_path=None)
        _sync(setup.device)
        return (time.perf_counter() - t) / plan.total_steps


def time_handwritten(model: str, epochs: int, device: str) -> float:
    s = setup_for(model, epochs, device)
    net, opt, data, bs = s.model, s.optimizer, s.data, s.cfg.data.batch_size
    f = torch.nn.functional
    steps = 0
    t = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        loss_sum = torch.zeros((), device=s.device, dtype=torch.float64)
        correct = torch.zeros((), device=s.device, dtype=torch.int64)
        for x, y in data.train.batches(bs, shuffle=True, generator=s.generator):
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
            vl = torch.zeros((), device=s.device, dtype=torch.float64)
            vc = torch.zeros((), device=s.device, dtype=torch.int64)
            for x, y in data.val.batches(bs * 4, shuffle=False):
                out = net(x)
                vl += f.cross_entropy(out, y) * len(y)
                vc += (out.argmax(1) == y).sum()
        _ = (float(loss_sum), int(correct), float(vl), int(vc))  # the per-epoch log line
    _sync(s.device)
    return (time.perf_counter() - t) / steps


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


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

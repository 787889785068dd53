"""The range test of `benchmarks/user/generic.yaml`, written with torch-lr-finder on the same Dataset.

What a user of the peer tool writes: the same `bench_digits.splits()` Datasets, a DataLoader (batch 64,
shuffled), the same MLP and SGD, a 200-step exponential sweep 1e-4 -> 10 (EMA 0.98, stop at 4x the best),
a CSV and a plot. Prints {"sweep_s": ..., "steps": ...} as its last line.

    python benchmarks/user/peer_lr_finder.py OUT_DIR [--val]
"""

import csv
import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from bench_digits import splits  # noqa: E402
from torch_lr_finder import LRFinder  # noqa: E402

out = Path([a for a in sys.argv[1:] if not a.startswith("--")][0])
out.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)
data = splits()
train_loader = torch.utils.data.DataLoader(data["train"], batch_size=64, shuffle=True)
val_loader = torch.utils.data.DataLoader(data["val"], batch_size=256) if "--val" in sys.argv else None
model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
finder = LRFinder(model, optimizer, torch.nn.CrossEntropyLoss(), device="cpu")
t = time.perf_counter()
finder.range_test(train_loader, val_loader=val_loader, end_lr=10, num_iter=200, step_mode="exp",
                  smooth_f=0.02, diverge_th=4)
sweep = time.perf_counter() - t
with open(out / "lr_find.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["lr", "loss"])
    w.writerows(zip(finder.history["lr"], finder.history["loss"]))
fig, ax = plt.subplots()
finder.plot(ax=ax, suggest_lr=True)
fig.savefig(out / "lr_find.png")
finder.reset()
print(json.dumps({"sweep_s": sweep, "steps": len(finder.history["lr"])}))

"""The same range test as `lrtool find-lr configs/quickstart.yaml`, written with torch-lr-finder.

What a user of the peer tool writes: load the digits, split, DataLoaders, the same MLP and SGD, run the
range test (start 1e-4 -> 10, 200 exponential steps, EMA 0.98, stop at 4x the best), write a CSV and a
plot. Prints {"sweep_s": ..., "steps": ...} as its last line. Needs `pip install torch-lr-finder`.
`--own-dataset`: read the user's own map-style Dataset of benchmarks/user/bench_digits.py instead (the
same Datasets `benchmarks/user/generic.yaml` gives lrtool).

    python benchmarks/peer_torch_lr_finder.py OUT_DIR [--val] [--own-dataset]
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
from torch_lr_finder import LRFinder  # noqa: E402

args = sys.argv[1:]
out = Path([a for a in args if not a.startswith("--")][0])
out.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)
if "--own-dataset" in args:  # the user's own map-style Dataset (benchmarks/user/bench_digits.py)
    sys.path.insert(0, str(Path(__file__).with_name("user")))
    from bench_digits import splits

    parts = splits()
    train, val = parts["train"], parts["val"]
else:  # tensors, as the digits come from scikit-learn
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.tensor(y)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    n_val = round(len(y) * 0.2)
    val_idx, train_idx = perm[:n_val], perm[n_val:]
    mean, std = x[train_idx].mean(), x[train_idx].std()
    x = (x - mean) / std
    train = torch.utils.data.TensorDataset(x[train_idx], y[train_idx])
    val = torch.utils.data.TensorDataset(x[val_idx], y[val_idx])
train_loader = torch.utils.data.DataLoader(train, batch_size=64, shuffle=True)
val_loader = torch.utils.data.DataLoader(val, batch_size=256) if "--val" in args else None
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

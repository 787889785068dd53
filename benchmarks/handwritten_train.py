"""A hand-written training script equivalent to `lrtool train configs/quickstart.yaml --epochs 15`.

Digits from scikit-learn, the same split size, MLP 64-128-10, SGD(lr 0.05, momentum 0.9), batch 64,
validation every epoch, one CSV and one plot written at the end. The baseline for train_whole.py.

    python benchmarks/handwritten_train.py OUT_DIR [--epochs 15]
"""

import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
epochs = int(sys.argv[sys.argv.index("--epochs") + 1]) if "--epochs" in sys.argv else 15
torch.manual_seed(0)
x, y = load_digits(return_X_y=True)
x = torch.tensor(x, dtype=torch.float32).reshape(-1, 1, 8, 8)
y = torch.tensor(y)
g = torch.Generator().manual_seed(0)
perm = torch.randperm(len(y), generator=g)
n_val = round(len(y) * 0.2)
val_idx, train_idx = perm[:n_val], perm[n_val:]
mean, std = x[train_idx].mean(), x[train_idx].std()
x = (x - mean) / std
xt, yt, xv, yv = x[train_idx], y[train_idx], x[val_idx], y[val_idx]
model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
f = torch.nn.functional
rows = []
for epoch in range(epochs):
    model.train()
    order = torch.randperm(len(yt), generator=g)
    loss_sum, correct = 0.0, 0
    for i in range(0, len(yt), 64):
        idx = order[i:i + 64]
        out_ = model(xt[idx])
        loss = f.cross_entropy(out_, yt[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += loss.item() * len(idx)
        correct += (out_.argmax(1) == yt[idx]).sum().item()
    model.eval()
    with torch.no_grad():
        vo = model(xv)
        val_loss, val_acc = f.cross_entropy(vo, yv).item(), (vo.argmax(1) == yv).float().mean().item()
    rows.append((epoch + 1, loss_sum / len(yt), correct / len(yt), val_loss, val_acc))
with open(out / "epochs.csv", "w", newline="") as fh:
    w = csv.writer(fh)
    w.writerow(["epoch", "train_loss", "train_acc", "val_loss", "val_acc"])
    w.writerows(rows)
fig, ax = plt.subplots()
ax.plot([r[0] for r in rows], [r[4] for r in rows], label="val_acc")
ax.legend()
fig.savefig(out / "metrics.png")

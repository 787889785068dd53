"""lrtool from Python: a range test on your own model and DataLoader, then its schedule in a plain loop.

Runs in seconds on a CPU (scikit-learn's 8x8 handwritten digits, nothing to download):

    python examples/python_api.py [lr_find.png]
"""

import sys

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import lrtool

# your data, model, optimizer and loss, as they already are in a notebook or training script
torch.manual_seed(0)
x, y = load_digits(return_X_y=True)
x = torch.tensor(x / 16.0, dtype=torch.float32)
y = torch.tensor(y)
train = TensorDataset(x[:1400], y[:1400])
val = TensorDataset(x[1400:], y[1400:])
train_loader = DataLoader(train, batch_size=64, shuffle=True)
val_loader = DataLoader(val, batch_size=256)
model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
criterion = nn.CrossEntropyLoss()

# 1. the range test; model, optimizer, RNGs and the loader's order are put back afterwards
result = lrtool.find_lr(model, optimizer, criterion, train_loader, start_lr=1e-4, end_lr=10, num_iter=100,
                        progress=False)
print(f"suggested lr {result.lr:.3g}; one-cycle max_lr {result.onecycle.max_lr:.3g}; stopped: {result.stop.reason}")
print(result.to_yaml())
if len(sys.argv) > 1:
    result.plot().savefig(sys.argv[1])  # in Jupyter, `result.plot()` shows it inline

# 2. one-cycle at the suggested peak, stepped once per optimizer step (momentum cycles 0.95 -> 0.85)
epochs = 5
scheduler = lrtool.scheduler(optimizer, "onecycle", steps_per_epoch=len(train_loader), epochs=epochs,
                             max_lr=result.onecycle.max_lr)
for epoch in range(epochs):
    model.train()
    for xb, yb in train_loader:
        optimizer.zero_grad()
        criterion(model(xb), yb).backward()
        optimizer.step()
        scheduler.step()
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(xb).argmax(1) == yb).sum()) for xb, yb in val_loader)
    print(f"epoch {epoch + 1}: lr {scheduler.get_last_lr()[0]:.3g}  val_acc {correct / len(val):.3f}")

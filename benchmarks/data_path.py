"""Samples per second through lrtool's in-memory path vs DataLoader paths, MNIST-sized data, tiny model.

1. lrtool: the whole set on the device as one normalised tensor, batches are randperm index slices.
2. DataLoader(TensorDataset(x, y), shuffle=True): the usual "already tensors" loader.
3. torchvision.datasets.MNIST(transform=ToTensor()) + DataLoader: the tutorial path (IDX files written
   to a temporary folder first, so nothing is downloaded).
Each pass trains a linear model for one epoch (forward, backward, step). Target: lrtool >= 5x both.

    python benchmarks/data_path.py [--repeats 3] [--batch-size 128] [--workers 0]
"""

from __future__ import annotations

import argparse
import struct
import tempfile
import time
from pathlib import Path

import torch
from _common import fmt, machine

from lrtool.data import build_data

N, SIDE = 60000, 28


def write_mnist(root: Path) -> None:
    """MNIST-sized IDX files of random digits: the layout torchvision and lrtool both read."""
    g = torch.Generator().manual_seed(0)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", N), ("t10k", 1000)):
        images = torch.randint(0, 256, (n, SIDE, SIDE), generator=g, dtype=torch.uint8)
        labels = torch.randint(0, 10, (n,), generator=g, dtype=torch.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, SIDE, SIDE)
                                                          + images.numpy().tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + labels.numpy().tobytes())


def epoch(batches, device: torch.device) -> float:
    """Samples/s of one training epoch of a linear model over `batches`."""
    torch.manual_seed(0)
    model = torch.nn.Linear(SIDE * SIDE, 10).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    n = 0
    t = time.perf_counter()
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = torch.nn.functional.cross_entropy(model(x.flatten(1)), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        n += len(y)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    import torchvision
    from torchvision.transforms import ToTensor

    print(f"machine: {machine()}; device {device}; {N} samples of {SIDE}x{SIDE}, batch {args.batch_size}, "
          f"DataLoader workers {args.workers}")
    bs = args.batch_size
    with tempfile.TemporaryDirectory() as tmp:
        write_mnist(Path(tmp))
        data = build_data("mnist", {"root": tmp}, val_fraction=0.0, seed=0, device=device)
        split = data.train
        dataset = torch.utils.data.TensorDataset(split.x.cpu(), split.y.cpu())
        tv = torchvision.datasets.MNIST(tmp, train=True, transform=ToTensor())
        pin = device.type == "cuda"
        g = torch.Generator().manual_seed(0)
        paths = {
            "lrtool in-memory": lambda: split.batches(bs, shuffle=True, generator=g),
            "DataLoader(TensorDataset)": lambda: torch.utils.data.DataLoader(
                dataset, batch_size=bs, shuffle=True, num_workers=args.workers, pin_memory=pin),
            "torchvision MNIST+ToTensor": lambda: torch.utils.data.DataLoader(
                tv, batch_size=bs, shuffle=True, num_workers=args.workers, pin_memory=pin),
        }
        speeds = {name: [] for name in paths}
        epoch(paths["lrtool in-memory"](), device)  # warm-up
        for _ in range(args.repeats):
            for name, make in paths.items():
                speeds[name].append(epoch(make(), device))
    ours = speeds["lrtool in-memory"]
    print("data_path: training samples per second (median (min-max))")
    for name, values in speeds.items():
        print(f"  {name:<28} {fmt(values, '/s')}")
    for name in list(paths)[1:]:
        per = [a / b for a, b in zip(ours, speeds[name])]
        print(f"  speed-up lrtool vs {name}: {fmt(per)}x   target: >= 5x")


if __name__ == "__main__":
    main()

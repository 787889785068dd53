"""Your own image Dataset with a weighted loss: imbalanced classes of drawn shapes, read item by item.

`Shapes` is an ordinary torch Dataset (no lrtool import): (image, label) pairs of 1x16x16 float images
of a bar, a cross or a box, with noise. The classes are imbalanced (6 : 3 : 1), which the config
answers with CrossEntropyLoss(weight=[0.5, 1.0, 3.0]).
"""

from __future__ import annotations

import torch


class Shapes(torch.utils.data.Dataset):
    """Noisy 16x16 shapes; labels 0 (bar), 1 (cross), 2 (box), in the proportions 6 : 3 : 1."""

    classes = ["bar", "cross", "box"]

    def __init__(self, n: int = 600, noise: float = 0.4, seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        self.labels = [0 if i % 10 < 6 else 1 if i % 10 < 9 else 2 for i in range(n)]
        self.offsets = torch.randint(-3, 4, (n, 2), generator=gen)
        self.noise = noise * torch.randn(n, 1, 16, 16, generator=gen)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img = torch.zeros(1, 16, 16)
        dy, dx = (int(v) for v in self.offsets[i])
        r, c = 8 + dy, 8 + dx
        label = self.labels[i]
        if label == 0:
            img[0, r - 1:r + 1, c - 5:c + 5] = 1.0
        elif label == 1:
            img[0, r - 1:r + 1, c - 4:c + 4] = 1.0
            img[0, r - 4:r + 4, c - 1:c + 1] = 1.0
        else:
            img[0, r - 4:r + 4, c - 4:c + 4] = 1.0
            img[0, r - 3:r + 3, c - 3:c + 3] = 0.0
        return img + self.noise[i], label


def make(n: int = 600) -> Shapes:
    """The data callable of config.yaml; lrtool splits it into train/val (data.val_fraction, the split seed)."""
    return Shapes(n=n)

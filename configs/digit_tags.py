"""Multi-label data for configs/multilabel.yaml: scikit-learn's 8x8 digits, each tagged with 4 yes/no labels.

Tags: even, at least 5, prime, drawn with a closed loop (0, 6, 8, 9). A digit has 0 to 3 of them, so
the targets are multi-hot rows (float 0/1), the model gives one logit per tag and the loss is
BCEWithLogitsLoss. lrtool finds this module next to the config (no PYTHONPATH needed).
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

TAGS = ("even", "at_least_5", "prime", "loop")


def make() -> tuple[np.ndarray, np.ndarray]:
    """(x, y): images (N, 1, 8, 8) scaled to [0, 1] and multi-hot tags (N, 4); lrtool splits off val."""
    x, digit = load_digits(return_X_y=True)
    tags = np.stack([digit % 2 == 0, digit >= 5, np.isin(digit, (2, 3, 5, 7)), np.isin(digit, (0, 6, 8, 9))], 1)
    return (x / 16.0).reshape(-1, 1, 8, 8).astype(np.float32), tags.astype(np.float32)

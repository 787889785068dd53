"""Augmentation of whole image batches on the device."""

from __future__ import annotations

import torch

from ..errors import LrtoolError


def augment_batch(x: torch.Tensor, *, crop: int = 0, flip: bool = False) -> torch.Tensor:
    """Random crop (after zero padding of `crop` pixels) and horizontal flip of a whole image batch.

    Runs on the batch's device with torch's global RNG (saved in checkpoints, so resume stays exact).
    """
    if x.dim() != 4:
        raise LrtoolError(f"data.augment: needs image batches (N, C, H, W), got shape {tuple(x.shape)}")
    n, c, h, w = x.shape
    if flip:
        mask = torch.rand(n, device=x.device) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    if crop:
        padded = torch.nn.functional.pad(x, (crop, crop, crop, crop))
        dy = torch.randint(0, 2 * crop + 1, (n,), device=x.device)
        dx = torch.randint(0, 2 * crop + 1, (n,), device=x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        x = padded[torch.arange(n, device=x.device)[:, None, None, None],
                   torch.arange(c, device=x.device)[None, :, None, None], rows, cols]
    return x

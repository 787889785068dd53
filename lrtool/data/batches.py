"""Batches from any DataLoader or re-iterable: (inputs, target) on the device, and the loader's RNG state.

A batch is a tuple/list ``(inputs, target, *extra)`` (extra entries are ignored) or a dict. From a dict
the target is the value of the first of ``TARGET_KEYS`` it holds; the inputs are the value of the first
of ``INPUT_KEYS`` it holds, or else all the other keys as a dict, which the model gets as
``model(**inputs)`` (the Hugging Face convention: ``{"input_ids", "attention_mask", "labels"}``).
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

import torch

from ..errors import LrtoolError

TARGET_KEYS = ("target", "targets", "label", "labels", "y")
INPUT_KEYS = ("inputs", "input", "x")


def split_batch(batch: Any, key: str = "train_loader") -> tuple[Any, Any]:
    """(inputs, target) of one batch; inputs may be a tensor, a tuple or a dict of keyword arguments.

    Args:
        batch: what the loader yielded.
        key: the argument that gave the loader, for messages.

    Returns:
        (inputs, target).

    Raises:
        LrtoolError: for a batch that is neither a pair-like sequence nor a dict with a target key.
    """
    if isinstance(batch, (tuple, list)):
        if len(batch) < 2:
            raise LrtoolError(f"{key}: expected batches of (inputs, target, ...), got a {type(batch).__name__} "
                              f"of {len(batch)} item(s)")
        return batch[0], batch[1]
    if isinstance(batch, dict):
        target_key = next((k for k in TARGET_KEYS if k in batch), None)
        if target_key is None:
            raise LrtoolError(f"{key}: a dict batch needs a target under one of ({', '.join(TARGET_KEYS)}), "
                              f"got keys ({', '.join(map(str, batch))})")
        input_key = next((k for k in INPUT_KEYS if k in batch), None)
        if input_key is not None:
            return batch[input_key], batch[target_key]
        return {k: v for k, v in batch.items() if k != target_key}, batch[target_key]
    raise LrtoolError(f"{key}: expected batches as (inputs, target, ...) tuples or dicts with a "
                      f"'target'/'labels' key, got {type(batch).__name__}")


def to_device(obj: Any, device: torch.device) -> Any:
    """`obj` with every tensor in it (nested in tuples, lists, dicts) moved to `device`."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=device.type == "cuda")
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


def adapted(loader: Iterable, device: torch.device, key: str = "train_loader") -> Iterator[tuple[Any, Any]]:
    """One pass over `loader` as (inputs, target) on `device`."""
    for batch in loader:
        x, y = split_batch(batch, key)
        yield to_device(x, device), to_device(y, device)


def check_reiterable(loader: Any, key: str = "train_loader") -> None:
    """Raise unless `loader` can be passed over again and again (a DataLoader, a list; not an iterator)."""
    if isinstance(loader, Iterator) or not isinstance(loader, Iterable):
        why = " (an iterator ends after one pass)" if isinstance(loader, Iterator) else ""
        raise LrtoolError(f"{key}: expected a DataLoader or a re-iterable of batches, got "
                          f"{type(loader).__name__}{why}")


def forever(loader: Iterable, device: torch.device, key: str = "train_loader") -> Iterator[tuple[Any, Any]]:
    """Pass after pass over a re-iterable `loader` (a new epoch each time, as a training loop does)."""
    check_reiterable(loader, key)
    while True:
        empty = True
        for batch in adapted(loader, device, key):
            empty = False
            yield batch
        if empty:
            raise LrtoolError(f"{key}: yielded no batches")


def num_samples(loader: Any) -> int | None:
    """Samples in one pass of a DataLoader (its dataset's length), or None when unknown."""
    try:
        return len(loader.dataset)
    except (AttributeError, TypeError):
        return None


def _generators(loader: Any) -> list[torch.Generator]:
    """Every torch.Generator a DataLoader draws from: its own, its sampler's, its batch sampler's."""
    found: list[torch.Generator] = []
    holders = [loader, getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None),
               getattr(getattr(loader, "batch_sampler", None), "sampler", None)]
    for holder in holders:
        g = getattr(holder, "generator", None)
        if isinstance(g, torch.Generator) and all(g is not h for h in found):
            found.append(g)
    return found


class LoaderState:
    """What iterating a DataLoader changes outside the global RNGs, to put back afterwards.

    Each ``iter(loader)`` draws its worker base seed from ``loader.generator`` (or the global RNG),
    and a shuffling sampler draws its order from its own generator. With persistent workers the
    loader also keeps the iterator it made, whose seeds and worker RNGs a fresh run would not share.
    Loaders with ``state_dict()`` (torchdata's StatefulDataLoader) are restored through it.
    """

    def __init__(self, loader: Any):
        self.loader = loader
        self.generators = [(g, g.get_state()) for g in _generators(loader)]
        self.iterator = getattr(loader, "_iterator", None)
        self.stateful = loader.state_dict() if callable(getattr(loader, "state_dict", None)) and \
            callable(getattr(loader, "load_state_dict", None)) else None

    def restore(self) -> None:
        """Put the generators, the persistent iterator and any stateful-loader state back."""
        for g, state in self.generators:
            g.set_state(state)
        if hasattr(self.loader, "_iterator") and self.loader._iterator is not self.iterator:
            made = self.loader._iterator
            if made is not None and hasattr(made, "_shutdown_workers"):
                made._shutdown_workers()  # the workers the test started, not the user's
            self.loader._iterator = self.iterator
        if self.stateful is not None:
            self.loader.load_state_dict(self.stateful)

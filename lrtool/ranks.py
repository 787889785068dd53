"""Which process this is in a torchrun job: rank, world size, "am I rank 0", and rank 0 deciding for all.

A leaf (it imports nothing from lrtool but errors, and torch only inside the helpers), so that the run
directory and the CLI can ask "do I write?" without importing the run package or torch. The rest of the
data-parallel machinery (process group, devices, collectives on tensors) is in run/dist.py, which
re-exports these.

Every query reads torchrun's environment (WORLD_SIZE, RANK, LOCAL_RANK) before the process group is up
and torch.distributed after; without torchrun each gives the single-process answer.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, TypeVar

from .errors import LrtoolError

T = TypeVar("T")


def torch_dist() -> Any:
    """torch.distributed, imported on first use (most commands never need it)."""
    import torch.distributed

    return torch.distributed


def launched() -> bool:
    """True in a worker that torchrun started with more than one process in the job."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def is_distributed() -> bool:
    """True once the process group of a multi-process job is up."""
    td = sys.modules.get("torch.distributed")  # not imported yet: certainly not initialised
    return td is not None and td.is_available() and td.is_initialized() and td.get_world_size() > 1


def rank() -> int:
    """This process's global rank (0 without torchrun; read from the environment before init)."""
    if is_distributed():
        return torch_dist().get_rank()
    return int(os.environ.get("RANK", "0")) if launched() else 0


def local_rank() -> int:
    """This process's rank on its machine (picks its GPU); 0 without torchrun."""
    return int(os.environ.get("LOCAL_RANK", "0")) if launched() else 0


def world_size() -> int:
    """The number of processes in the job; 1 without torchrun."""
    if is_distributed():
        return torch_dist().get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1")) if launched() else 1


def is_main() -> bool:
    """Rank 0: the only process that writes the run directory and prints."""
    return rank() == 0


def from_main(fn: Callable[[], T]) -> T:
    """Run `fn` on rank 0 only and give its result (or its LrtoolError) to every rank."""
    if not is_distributed():
        return fn()
    box: list[Any] = [None]
    if is_main():
        try:
            box[0] = ("ok", fn())
        except LrtoolError as e:
            box[0] = ("error", (type(e), str(e)))
    torch_dist().broadcast_object_list(box, src=0)
    kind, value = box[0]
    if kind == "error":
        raise value[0](value[1])
    return value

"""Data-parallel runs under torchrun: the process group, the device of each rank, collectives.

`torchrun --nproc_per_node=N -m lrtool train ...` starts N processes with WORLD_SIZE/RANK/LOCAL_RANK
set. Every helper here is a no-op (or returns the single-process answer) when there is no such launch,
so the rest of lrtool calls them unconditionally and single-process runs are unchanged.

What is decided here, in one place:
- `data.batch_size` is per rank; a step's global batch is batch_size x world size, and all ranks take
  the same number of steps (see data/splits.py's sharded batches).
- collectives work on small CPU float64 buffers (gloo) or on the tensors' own device; the process
  group is gloo on CPU-only machines and `cpu:gloo,cuda:nccl` where CUDA exists.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

from ..errors import LrtoolError

# who this process is (rank, world size, rank 0 deciding for all) lives in the leaf lrtool.ranks, so
# the run directory asks "do I write?" without importing this package; re-exported for the run loop
from ..ranks import (  # noqa: F401
    from_main,
    is_distributed,
    is_main,
    launched,
    local_rank,
    rank,
    torch_dist,
    world_size,
)

if TYPE_CHECKING:
    import torch

# torch is imported inside the helpers: the CLI imports this module without it


def shard() -> tuple[int, int] | None:
    """(rank, world size) for splitting data, or None in a single process."""
    return (rank(), world_size()) if is_distributed() else None


def sharded() -> dict[str, Any]:
    """`shard=(rank, world size)` as keyword arguments for a split's batches(), or none in a single process."""
    return {"shard": shard()} if is_distributed() else {}


def init() -> None:
    """Join the torchrun job's process group (env:// rendezvous) and pick this rank's GPU, if any."""
    if not launched() or is_distributed():
        return
    import torch

    td = torch_dist()
    cuda = torch.cuda.is_available()
    if cuda and local_rank() < torch.cuda.device_count():
        torch.cuda.set_device(local_rank())
    # gloo serves CPU tensors (and our small host-side reductions) even on GPU machines
    td.init_process_group(backend="cpu:gloo,cuda:nccl" if cuda else "gloo")


def cleanup() -> None:
    if is_distributed():
        torch_dist().destroy_process_group()


@contextmanager
def session() -> Iterator[None]:
    """The process group for the duration of one command (nothing without torchrun)."""
    init()
    try:
        yield
    finally:
        cleanup()


def device_spec(spec: str) -> str:
    """The config's `device` as this rank sees it: auto/cuda become cuda:LOCAL_RANK."""
    if not launched():
        return spec
    import torch

    lr = local_rank()
    if spec == "auto":
        return f"cuda:{lr}" if torch.cuda.is_available() else "cpu"
    if spec == "cuda":
        return f"cuda:{lr}"
    if spec.startswith("cuda:") and spec != f"cuda:{lr}":
        raise LrtoolError(f"device: '{spec}' names one GPU, but under torchrun each rank uses "
                          f"cuda:LOCAL_RANK (this is rank {rank()}, local rank {lr}); set device: cuda or auto")
    if spec == "mps":
        raise LrtoolError("device: 'mps' cannot run data-parallel under torchrun; valid choices here: auto, cpu, cuda")
    return spec


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The model in DistributedDataParallel (which also copies rank 0's weights to every rank)."""
    if not is_distributed():
        return model
    import torch
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def no_sync(net: torch.nn.Module, skip: bool) -> Any:
    """DDP's no_sync() when `skip` (gradient accumulation: all-reduce only on the last micro-batch)."""
    import contextlib

    inner = getattr(net, "_orig_mod", net)  # a torch.compile'd DDP
    if skip and hasattr(inner, "no_sync"):
        return inner.no_sync()
    return contextlib.nullcontext()


def rank_seed(seed: int) -> int:
    """Rank r's seed for its own random streams (dropout, augmentation); rank 0 keeps `seed`."""
    return seed + 1_000_003 * rank()


def sum_numbers(*values: Any) -> list[float]:
    """Each value (a number or a one-element tensor) summed over all ranks, as floats (a host read)."""
    floats = [float(v) for v in values]
    if not is_distributed():
        return floats
    import torch

    buf = torch.tensor(floats, dtype=torch.float64)
    torch_dist().all_reduce(buf)
    return buf.tolist()


def all_reduce_sums(sums: dict[str, Any]) -> dict[str, Any]:
    """A dict of running sums (device tensors and ints) summed over all ranks, same types and devices."""
    if not is_distributed() or not sums:
        return sums
    import torch

    totals = sum_numbers(*sums.values())
    out: dict[str, Any] = {}
    for (key, value), total in zip(sums.items(), totals):
        if isinstance(value, torch.Tensor):
            out[key] = torch.tensor(total, dtype=value.dtype, device=value.device)
        else:
            out[key] = type(value)(total)
    return out


def mean_and_any(values: torch.Tensor, flag: bool) -> tuple[torch.Tensor, bool]:
    """The mean over ranks of `values` and whether any rank raised `flag`, in one all-reduce."""
    if not is_distributed():
        return values, flag
    import torch

    buf = torch.cat([values.detach().reshape(-1).to(torch.float64),
                     torch.tensor([1.0 if flag else 0.0], dtype=torch.float64, device=values.device)])
    torch_dist().all_reduce(buf)
    return (buf[:-1] / world_size()).reshape(values.shape), bool(buf[-1].item() > 0)


def gather_objects(obj: Any) -> list[Any] | None:
    """Every rank's `obj` (a list indexed by rank), or None in a single process. All ranks must call it."""
    if not is_distributed():
        return None
    out: list[Any] = [None] * world_size()
    torch_dist().all_gather_object(out, obj)
    return out


def sync_buffers(module: torch.nn.Module) -> None:
    """Copy rank 0's buffers (batch-norm statistics) to every rank, so all evaluate the same model."""
    if not is_distributed():
        return
    for buf in module.buffers():
        torch_dist().broadcast(buf, src=0)

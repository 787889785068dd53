"""Device, precision, the train step and the evaluation loop, shared by find-lr and train."""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch

from ..data.batches import call_model
from ..errors import LrtoolError
from . import dist

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def resolve_device(spec: str) -> torch.device:
    """`auto` picks cuda, then mps, then cpu; an unavailable device is a one-line error."""
    spec = dist.device_spec(spec)  # under torchrun: this rank's GPU
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise LrtoolError(f"device: '{spec}' requested but CUDA is not available on this machine; "
                              "valid choices here: auto, cpu")
        index = int(spec.split(":")[1]) if ":" in spec else 0
        count = torch.cuda.device_count()
        if index >= count:
            raise LrtoolError(f"device: '{spec}' does not exist; this machine has "
                              f"{count} CUDA device(s) (cuda:0..cuda:{count - 1})")
    if spec == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise LrtoolError("device: 'mps' requested but MPS is not available on this machine; "
                          "valid choices here: auto, cpu")
    return torch.device(spec)


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; returns a CPU generator for data order."""
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover - numpy comes with torch's usual installs
        pass
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every RNG state a run touches, to put back exactly later."""
    import numpy as np

    kind, keys, pos, has_gauss, cached = np.random.get_state()
    # numpy's key array as a tensor: a checkpoint then holds only tensors and plain types, which a plain
    # torch.load (weights_only, torch's default) reads
    numpy_state = (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached))
    state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np

    random.setstate(state["python"])
    kind, keys, *rest = state["numpy"]
    if isinstance(keys, torch.Tensor):  # as rng_state() keeps it (checkpoints before 2026-11-30: an array)
        keys = keys.cpu().numpy().astype(np.uint32)
    np.random.set_state((kind, keys, *rest))
    # .cpu(): a checkpoint loaded with map_location=cuda has its RNG states moved to the GPU
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state:
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


@dataclass
class Precision:
    """Autocast dtype and the GradScaler for one run."""

    name: str
    device: torch.device
    scaler: Any = None

    def __post_init__(self) -> None:
        if self.name == "fp16" and self.device.type != "cuda":
            raise LrtoolError(f"train.precision: fp16 needs a CUDA device, got {self.device.type}; "
                              "use bf16 or fp32")
        # fp16 needs loss scaling; bf16 has fp32's range and does not
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.name == "fp16")

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.name == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.name == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)


@contextlib.contextmanager
def user_code() -> Iterator[None]:
    """Around calls into the model's code: a sys.exit() there becomes an error, so the run ends as
    failed with a true status and exit code 1 instead of the process vanishing with exit 0."""
    try:
        yield
    except SystemExit as e:
        raise RuntimeError(f"the model's code called sys.exit({e.code!r})") from None


def forward_backward(model: torch.nn.Module, x: Any, y: torch.Tensor, loss_fn: LossFn,
                     precision: Precision, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """One micro-batch: forward, loss, backward (gradients accumulate); returns (loss, output), detached.

    `x` is the adapted batch's inputs: a tensor, or a dict the model takes as keyword arguments.
    """
    with user_code(), precision.autocast():
        out = call_model(model, x)
        loss = loss_fn(out, y)
    with user_code():  # backward hooks are the model's code too
        precision.scaler.scale(loss * scale if scale != 1.0 else loss).backward()
    return loss.detach().float(), out.detach()


def optimizer_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, precision: Precision,
                   grad_clip: float | None = None) -> None:
    """Unscale, clip, step and zero the gradients."""
    scaler = precision.scaler
    if grad_clip is not None:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: Iterator[tuple[Any, torch.Tensor]],
             loss_fn: LossFn, precision: Precision, metrics: Any = None) -> tuple[float, dict[str, float]]:
    """Mean loss and the metrics over `batches`, model in eval mode (restored afterwards).

    Args:
        model, batches, loss_fn, precision: what to evaluate, on what, how.
        metrics: a metrics.MetricSet for this pass (reset here first), or None for the loss only.

    Returns:
        (mean loss, {metric column: value}); NaN for both when there were no batches.
        Under torchrun every rank must call it: the result is over all ranks' batches together.
    """
    was_training = model.training
    model.eval()
    total_loss: Any = 0.0  # tensors on the device after the first batch: no sync per batch
    n = 0
    if metrics is not None:
        metrics.reset()
    try:
        for x, y in batches:
            with user_code(), precision.autocast():
                out = call_model(model, x)
                loss = loss_fn(out, y)
            total_loss = total_loss + loss.detach().double() * len(y)
            if metrics is not None:
                metrics.update(out, y)
            n += len(y)
    finally:
        model.train(was_training)
    if dist.is_distributed():  # each rank saw its own part: add the parts up (one collective)
        total_loss, n = dist.sum_numbers(total_loss, n)
    # torchmetrics syncs the ranks' states in compute(); one host read per evaluation
    values = metrics.compute() if metrics is not None else {}
    if n == 0:
        return float("nan"), {k: float("nan") for k in values}
    return float(total_loss) / n, values

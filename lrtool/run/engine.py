"""Device, precision, the train step and the evaluation loop, shared by find-lr and train."""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch

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

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
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


def forward_backward(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn,
                     precision: Precision, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """One micro-batch: forward, loss, backward (gradients accumulate); returns (loss, n correct), detached."""
    with precision.autocast():
        out = call_model(model, x)
        loss = loss_fn(out, y)
    precision.scaler.scale(loss * scale if scale != 1.0 else loss).backward()
    correct = n_correct(out.detach(), y)
    return loss.detach().float(), correct if correct is not None else torch.zeros((), dtype=torch.int64)


def call_model(model: Any, x: Any) -> Any:
    """`model(**x)` for dict inputs (keyword arguments, e.g. input_ids + attention_mask), else `model(x)`."""
    return model(**x) if isinstance(x, dict) else model(x)


def n_correct(out: Any, y: Any) -> torch.Tensor | None:
    """Top-1 hits for class-index targets and (batch, classes) outputs; None for any other task."""
    if not (isinstance(out, torch.Tensor) and isinstance(y, torch.Tensor)) or out.ndim != 2 or y.ndim != 1 \
            or y.is_floating_point() or len(y) != len(out):
        return None
    return (out.argmax(dim=1) == y).sum()


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
def evaluate(model: torch.nn.Module, batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
             loss_fn: LossFn, precision: Precision) -> tuple[float, float]:
    """Mean loss and accuracy (NaN unless targets are class indices) over `batches`, in eval mode.

    Under torchrun every rank must call it: the result is over all ranks' batches together.
    """
    was_training = model.training
    model.eval()
    total_loss: Any = 0.0  # tensors on the device after the first batch: no sync per batch
    correct: Any = 0
    n = 0
    try:
        for x, y in batches:
            with precision.autocast():
                out = call_model(model, x)
                loss = loss_fn(out, y)
            total_loss = total_loss + loss.detach().double() * len(y)
            hits = n_correct(out, y)
            correct = None if hits is None or correct is None else correct + hits
            n += len(y)
    finally:
        model.train(was_training)
    has_acc = correct is not None  # no accuracy for targets that are not class indices
    if dist.is_distributed():  # each rank saw its own part: add the parts up (one collective)
        total_loss, correct, n = dist.sum_numbers(total_loss, correct if has_acc else 0, n)
    if n == 0:
        return float("nan"), float("nan")
    # one host read per evaluation
    return float(total_loss) / n, (int(correct) / n if has_acc else float("nan"))

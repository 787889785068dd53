"""Build everything a run needs from a validated config: device, data, model, optimizer, loss."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..config import Config, check_components
from ..errors import LrtoolError
from . import dist, engine


@dataclass
class Setup:
    cfg: Config
    device: torch.device
    precision: engine.Precision
    generator: torch.Generator  # data order; seeded from cfg.seed
    data: Any
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: engine.LossFn
    net: Any = None  # what runs forward: the model, or its torch.compile'd and/or DDP wrapper
    # what evaluates: never DDP, whose forward is a collective (ranks may hold different numbers of
    # evaluation batches); the plain model then, with rank 0's buffers (dist.sync_buffers)
    eval_net: Any = None

    def __post_init__(self) -> None:
        if self.net is None:
            self.net = self.model
        if self.eval_net is None:
            self.eval_net = self.net

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """Training-batch augmentation as the config asks (none by default)."""
        aug = self.cfg.data.augment
        if aug is None or not (aug.crop or aug.flip):
            return x
        from ..data import augment_batch

        return augment_batch(x, crop=aug.crop, flip=aug.flip)


def build_dataset(cfg: Config, device: torch.device | str = "cpu") -> Any:
    """The config's dataset, split as every command splits it (seeded by data.split_seed or seed).

    Args:
        cfg: a validated config.
        device: where the splits deliver their batches.

    Returns:
        The data.Data with its train, val and test splits.
    """
    from ..data import build_data

    return build_data(cfg.data.name, cfg.data.kwargs, val_fraction=cfg.data.val_fraction,
                      seed=cfg.seed if cfg.data.split_seed is None else cfg.data.split_seed,
                      device=device, key="data")


def build(cfg: Config, compile_model: bool = False) -> Setup:
    """Check every name, then build the run's pieces in a fixed, seeded order.

    Args:
        cfg: a validated config.
        compile_model: wrap the model in torch.compile when train.compile is set (train only:
            a range test is too short to repay the compile time).

    Returns:
        The Setup; raises LrtoolError (exit 2) for anything the config got wrong.
    """
    from ..models import build_model
    from ..optim import build_loss, build_optimizer

    check_components(cfg)
    device = engine.resolve_device(cfg.device)
    precision = engine.Precision(cfg.train.precision, device)
    generator = engine.seed_everything(cfg.seed)
    data = build_dataset(cfg, device)
    torch.manual_seed(cfg.seed)  # the model's initial weights depend on the seed alone
    model = build_model(cfg.model.name, cfg.model.kwargs, input_shape=tuple(data.input_shape),
                        num_classes=data.num_classes, key="model").to(device)
    if cfg.train.channels_last:
        if len(data.input_shape) != 3:
            raise LrtoolError(f"train.channels_last: needs image data (C, H, W), "
                              f"got inputs of shape {tuple(data.input_shape)}")
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(cfg.optimizer.name, cfg.optimizer.kwargs, model, key="optimizer")
    loss_fn = build_loss(cfg.loss.name, cfg.loss.kwargs, key="loss")
    eval_net = net = model
    if dist.is_distributed():  # under torchrun: one process per rank, gradients all-reduced by DDP
        engine.seed_everything(dist.rank_seed(cfg.seed))  # each rank its own dropout/augmentation draws
        net = dist.wrap(model, device)
    if compile_model and cfg.train.compile:
        net = torch.compile(net)
        eval_net = model if dist.is_distributed() else net
    return Setup(cfg, device, precision, generator, data, model, optimizer, loss_fn, net, eval_net)

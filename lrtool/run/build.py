"""Build everything a run needs from a validated config: device, data, model, optimizer, loss."""

from __future__ import annotations

from dataclasses import dataclass, field
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
    metric_names: tuple[str, ...] = ()  # canonical metric names (lrtool/metrics.py), in the config's order
    task: tuple[str, int] = ("multiclass", 1)  # (task, output width) the metrics were built for
    monitor: str = "val_loss"  # the column that picks best.pt
    probabilities: bool = False  # the loss takes probabilities, not logits (multi-label thresholds)
    train_metrics: Any = None  # the training split's running metrics.MetricSet (made by the trainer)
    net: Any = None  # what runs forward: the model, or its torch.compile'd and/or DDP wrapper
    # what evaluates: never DDP, whose forward is a collective (ranks may hold different numbers of
    # evaluation batches); the plain model then, with rank 0's buffers (dist.sync_buffers)
    eval_net: Any = None
    _eval_metrics: Any = field(default=None, repr=False)  # see eval_metrics()

    def __post_init__(self) -> None:
        if self.net is None:
            self.net = self.model
        if self.eval_net is None:
            self.eval_net = self.net

    @property
    def metric_columns(self) -> tuple[str, ...]:
        """The configured metrics' column names (acc, f1, mae, ...): epochs.csv has train_ and val_ of each."""
        from .. import metrics

        return tuple(metrics.column(n) for n in self.metric_names)

    def new_metrics(self) -> Any:
        """A fresh metrics.MetricSet of the run's metrics on its device (one per split and pass)."""
        from .. import metrics

        return metrics.MetricSet(self.metric_names, *self.task, device=self.device,
                                 probabilities=self.probabilities)

    def eval_metrics(self) -> Any:
        """The MetricSet of the evaluation passes (validation, test): made once, reset by each pass."""
        if self._eval_metrics is None:
            self._eval_metrics = self.new_metrics()
        return self._eval_metrics

    def augment(self, x: Any) -> Any:
        """Training-batch augmentation as the config asks (none by default)."""
        aug = self.cfg.data.augment
        if aug is None or not (aug.crop or aug.flip):
            return x
        from ..data import augment_batch

        if not isinstance(x, torch.Tensor):
            raise LrtoolError(f"data.augment: needs image batches (N, C, H, W), got {type(x).__name__} inputs")

        return augment_batch(x, crop=aug.crop, flip=aug.flip)


def build_dataset(cfg: Config, device: torch.device | str = "cpu") -> Any:
    """The config's dataset, split as every command splits it (seeded by data.split_seed or seed).

    Args:
        cfg: a validated config.
        device: where the splits deliver their batches.

    Returns:
        The data.Data with its train, val and test splits.
    """
    from ..data import LoaderOptions, build_data
    from ..imports import resolve_callable

    d = cfg.data
    options = LoaderOptions(num_workers=d.num_workers, pin_memory=d.pin_memory,
                            persistent_workers=d.persistent_workers, inputs=d.inputs, target=d.target, key="data",
                            collate_fn=resolve_callable(d.collate_fn, "data.collate_fn") if d.collate_fn else None)
    return build_data(d.name, d.kwargs, val_fraction=d.val_fraction,
                      seed=cfg.seed if d.split_seed is None else d.split_seed,
                      device=device, key="data", task=d.task, options=options)


def build(cfg: Config, compile_model: bool = False, metrics_measured: bool | None = True,
          picks_best: bool = True) -> Setup:
    """Check every name, then build the run's pieces in a fixed, seeded order.

    Args:
        cfg: a validated config.
        compile_model: wrap the model in torch.compile when train.compile is set (train only:
            a range test is too short to repay the compile time).
        metrics_measured: the command measures train.metrics; None: only on a validation split (a range
            test that validates); False: never (a range test without validation). When they are not
            measured the metrics are still checked against the task and the first batch's targets, but
            torchmetrics (about 2.5 s to import) is neither imported nor run.
        picks_best: the command keeps best.pt by train.monitor (train), so a val_ monitor set in the config
            needs a validation split; a range test picks nothing and only checks the monitor's name.

    Returns:
        The Setup; raises LrtoolError (exit 2) for anything the config got wrong.
    """
    from .. import metrics
    from ..models import build_model
    from ..optim import build_loss, build_optimizer, outputs_probabilities, soft_targets

    check_components(cfg)
    device = engine.resolve_device(cfg.device)
    precision = engine.Precision(cfg.train.precision, device)
    generator = engine.seed_everything(cfg.seed)
    data = build_dataset(cfg, device)
    torch.manual_seed(cfg.seed)  # the model's initial weights depend on the seed alone
    # the model is checked on one real batch of the data (token ids for an embedding, dict inputs, ...)
    model = build_model(cfg.model.name, cfg.model.kwargs, input_shape=tuple(data.input_shape),
                        num_classes=data.num_outputs, key="model", example=data.train.probe(2)).to(device)
    if cfg.train.channels_last:
        if len(data.input_shape) != 3:
            raise LrtoolError(f"train.channels_last: needs image data (C, H, W), "
                              f"got inputs of shape {tuple(data.input_shape)}")
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(cfg.optimizer.name, cfg.optimizer.kwargs, model, key="optimizer")
    loss_fn = build_loss(cfg.loss.name, cfg.loss.kwargs, key="loss", device=device)
    first = _first_output(cfg, data, model)
    # class probabilities read as real values by the data layer, but CrossEntropyLoss takes them as classes:
    # the metrics score them as a multiclass task (by their most probable class)
    soft = first is not None and soft_targets(loss_fn, *first)
    task = (metrics.MULTICLASS, int(first[0].shape[1])) if soft else metrics.task_of(data)
    names = tuple(metrics.resolve(cfg.train.metrics, *task))
    monitor = _monitor(cfg, names, has_val=data.val is not None, strict=picks_best)
    measured = bool(metrics_measured) or (metrics_measured is None and data.val is not None)
    if first is not None:
        _check_first_batch(cfg, *first, loss_fn, names, task, library=measured, soft=soft)
    eval_net = net = model
    if dist.is_distributed():  # under torchrun: one process per rank, gradients all-reduced by DDP
        engine.seed_everything(dist.rank_seed(cfg.seed))  # each rank its own dropout/augmentation draws
        net = dist.wrap(model, device)
    if compile_model and cfg.train.compile:
        net = torch.compile(net)
        eval_net = model if dist.is_distributed() else net
    return Setup(cfg, device, precision, generator, data, model, optimizer, loss_fn, metric_names=names, task=task,
                 monitor=monitor, probabilities=outputs_probabilities(loss_fn), net=net, eval_net=eval_net)


def _monitor(cfg: Config, names: tuple[str, ...], has_val: bool, strict: bool) -> str:
    """The column that picks best.pt: train.monitor checked against the metrics, or the default one.

    Left unset, it is val_<first metric>, or train_loss without a validation split. A val_ monitor the
    config sets without a validation split is an error where it would pick best.pt (`strict`): falling
    back silently would keep a best.pt by another column than the one asked for.
    """
    from .. import metrics

    monitor = cfg.train.monitor
    if monitor is None:
        return metrics.default_monitor(names, has_val)
    metrics.check_monitor(monitor, names, has_val=True)
    if has_val or not monitor.startswith("val_"):
        return monitor
    if strict:
        raise LrtoolError(f"train.monitor: {monitor} needs a validation split, which this run does not have "
                          f"(data.val_fraction is {cfg.data.val_fraction}); set data.val_fraction > 0, monitor "
                          "a train_ column, or leave train.monitor unset (then train_loss picks best.pt)")
    return "train_loss"


def _first_output(cfg: Config, data: Any, model: torch.nn.Module) -> tuple[Any, Any] | None:
    """The model's output (eval mode, no gradient) on the first real training batch, and its targets; None
    without training data, or when the model cannot run (the model check in build_model reports that)."""
    if len(data.train) == 0:
        return None
    with torch.random.fork_rng(devices=[]):  # the run's random streams stay as the seed made them
        x, y = data.train.probe(min(cfg.data.batch_size, 64))
        was_training = model.training
        model.eval()  # no batch-norm statistics updated by the check
        try:
            with torch.no_grad():
                return engine.call_model(model, x), y
        except Exception:  # noqa: BLE001 - the model check (build_model) reports a model that cannot run
            return None
        finally:
            model.train(was_training)


def _check_first_batch(cfg: Config, out: Any, y: Any, loss_fn: Any, names: tuple[str, ...],
                       task: tuple[str, int], library: bool = True, soft: bool = False) -> None:
    """The loss and the metrics on the first real training batch: targets that do not fit them are a
    one-line error before training (exit 2), not a crash or a silently wrong number at step 0. `soft`: the
    targets are class probabilities, which the metrics score by their most probable class (as MetricSet does)."""
    from .. import metrics
    from ..optim import check_batch

    with torch.random.fork_rng(devices=[]), torch.no_grad():  # a loss that draws leaves the run's streams alone
        check_batch(loss_fn, cfg.loss.name, out, y, key="loss")
        metrics.check_batch(names, *task, out, metrics.hard_targets(y) if soft else y, key="train.metrics",
                            library=library)

"""The config's typed tree (pydantic): every section, field, default, bound, description and unit."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SECTIONS = ("seed", "device", "data", "model", "optimizer", "loss", "schedule", "train", "find_lr")


class _Strict(BaseModel):
    """A section with a fixed set of keys: an unknown key or a wrong type is an error."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_default=True)


class Component(BaseModel):
    """A registry name plus the keyword arguments passed to what it names."""

    model_config = ConfigDict(extra="allow", strict=True)
    name: str = Field(description="registry name (see `lrtool list`)")
    # fields of the section that are lrtool's own and not passed to the builder
    _own: ClassVar[tuple[str, ...]] = ("name",)

    @property
    def kwargs(self) -> dict[str, Any]:
        own = dict(self)
        return {k: v for k, v in own.items() if k not in self._own}


class AugmentConfig(_Strict):
    """On-device augmentation of whole training batches (images only)."""

    crop: int = Field(0, ge=0, description="random crop after zero-padding this many pixels per side "
                                           "(pixels; 0: no crop)")
    flip: bool = Field(False, description="random horizontal flip of half the images")


class DataConfig(Component):
    """The dataset (a registry name plus its builder's arguments) and how it is batched and split."""

    name: str = Field("digits", description="dataset registry name")
    batch_size: int = Field(64, gt=0, description="training micro-batch (samples; per process under torchrun)")
    eval_batch_size: Optional[int] = Field(None, gt=0, description="validation/test batch (samples; default "
                                                                    "4 x batch_size), in train and find-lr")
    val_fraction: float = Field(0.2, ge=0, lt=1, description="part of the training set held out for "
                                                             "validation (fraction; 0: none)")
    split_seed: Optional[int] = Field(None, description="seed of the train/val split (default: the run's seed)")
    augment: Optional["AugmentConfig"] = Field(None, description="on-device augmentation of training batches")
    task: Optional[Literal["multiclass", "multilabel", "regression"]] = Field(
        None, description="what the targets mean (default: read from them: integer indices -> multiclass, "
                          "0/1 rows -> multilabel, real values -> regression)")
    inputs: Optional[Union[str, list[str]]] = Field(
        None, description="dict batches: the key of the model's input, or a list of keys passed as model(**inputs)")
    target: Optional[Union[str, list[str]]] = Field(
        None, description="dict batches: the key of the target (default: the first of target, targets, label, "
                          "labels, y); table: the target column(s)")
    collate_fn: Optional[str] = Field(None, description="'package.module:fn' that makes a batch of a list of "
                                                        "samples (data read through a DataLoader)")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes (data read from files or code)")
    pin_memory: Optional[bool] = Field(None, description="DataLoader pinned memory (default: on for CUDA)")
    persistent_workers: Optional[bool] = Field(None, description="keep DataLoader workers between passes "
                                                                 "(default: on when num_workers > 0)")
    _own = ("name", "batch_size", "eval_batch_size", "val_fraction", "split_seed", "augment", "task", "inputs",
            "target", "collate_fn", "num_workers", "pin_memory", "persistent_workers")

    @model_validator(mode="after")
    def _workers(self) -> "DataConfig":
        if self.persistent_workers and self.num_workers == 0:
            raise ValueError("persistent_workers: needs num_workers > 0, got num_workers 0")
        return self


class ModelConfig(Component):
    """The network: a registry name plus its builder's arguments."""

    name: str = Field("mlp", description="model registry name")


class OptimizerConfig(Component):
    """A torch optimizer by name plus its own arguments (lr, momentum, weight_decay, param_groups, ...)."""

    name: str = Field("SGD", description="optimizer registry name (torch.optim names work)")
    lr: float = Field(0.01, gt=0, description="base learning rate that schedules scale (per step)")
    _own = ("name",)  # lr goes to the optimizer


class LossConfig(Component):
    """The training loss: a registry name plus its arguments."""

    name: str = Field("cross_entropy", description="loss registry name")


class ScheduleConfig(Component):
    """Schedule name, its arguments, `interval`, `warmup` and blocks for other schedules (see schedules.py)."""

    name: str = Field("constant", description="schedule registry name (torch names or short names)")


class MlflowConfig(_Strict):
    """Where the mlflow logger writes (train.loggers: [mlflow])."""

    tracking_uri: Optional[str] = Field(None, description="MLflow tracking URI (none: $MLFLOW_TRACKING_URI, "
                                                          "else the SQLite store runs/mlflow.db)")
    experiment: str = Field("lrtool", min_length=1, description="MLflow experiment the runs are logged under")


class TrainConfig(_Strict):
    """How `lrtool train` runs: length, precision, accumulation, logging, checkpoints."""

    epochs: int = Field(10, gt=0, description="passes over the training split (epochs)")
    precision: Literal["fp32", "bf16", "fp16"] = Field("fp32", description="autocast dtype (fp16: CUDA only, "
                                                                             "with loss scaling)")
    accumulate: int = Field(1, gt=0, description="micro-batches per optimizer step")
    grad_clip: Optional[float] = Field(None, gt=0, description="max global gradient norm (L2; none: no clipping)")
    log_every: int = Field(10, gt=0, description="steps between host reads of loss/accuracy (optimizer steps)")
    metrics: Optional[list[str]] = Field(None, description="metrics by name (accuracy, f1, top5, mae, rmse, r2, "
                                                            "...; none: the task's defaults; []: loss only)")
    monitor: Optional[str] = Field(None, description="column that picks best.pt: val_<metric>, train_<metric>, "
                                                     "val_loss or train_loss (default: val_<first metric>)")
    checkpoints: bool = Field(True, description="write checkpoints/last.pt and best.pt every epoch")
    plots: bool = Field(True, description="draw lr.png, loss.png and metrics.png")
    channels_last: bool = Field(False, description="channels-last memory format (image models)")
    compile: bool = Field(False, description="wrap the model in torch.compile")
    on_nan: Literal["stop", "continue"] = Field("stop", description="what a non-finite loss does to the run")
    loggers: list[Literal["tensorboard", "mlflow"]] = Field(
        default_factory=list, description="extra views of the run, each an optional extra: tensorboard, mlflow")
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig, description="the mlflow logger's store")

    @field_validator("monitor")
    @classmethod
    def _monitor_form(cls, value: Optional[str]) -> Optional[str]:
        """A train_/val_ column in form; whether the run measures it is checked once its metrics are known."""
        from ..errors import LrtoolError
        from ..metrics import check_column_form

        if value is None:
            return value
        try:
            return check_column_form(value, "train.monitor")
        except LrtoolError as err:
            raise ValueError(str(err).split(": ", 1)[1]) from None


# a range test records every step (lr_find.csv and the curve it suggests from): a million steps is hours of
# training, far beyond any real sweep (100-1,000 steps); larger values are typos that would fill the memory
MAX_FIND_LR_STEPS = 1_000_000


class FindLRConfig(_Strict):
    """The LR range test of `lrtool find-lr`."""

    start_lr: float = Field(1e-7, gt=0, description="LR of the first step")
    end_lr: float = Field(10.0, gt=0, description="LR of the last step")
    num_iter: int = Field(100, ge=2, le=MAX_FIND_LR_STEPS, description="length of the sweep (optimizer steps)")
    mode: Literal["exp", "linear"] = Field("exp", description="LR spacing between start_lr and end_lr")
    smooth: float = Field(0.98, ge=0, lt=1, description="EMA beta of the smoothed loss (0: no smoothing)")
    diverge_threshold: float = Field(4.0, gt=1, description="stop when the smoothed loss exceeds this "
                                                            "multiple of the best (ratio)")
    val_every: int = Field(0, ge=0, description="validate every k steps (optimizer steps; 0: never)")
    val_samples: int = Field(512, gt=0, description="size of the fixed validation subset (samples)")

    @model_validator(mode="after")
    def _end_after_start(self) -> "FindLRConfig":
        if self.end_lr <= self.start_lr:
            raise ValueError(f"end_lr: must be greater than start_lr ({self.start_lr:g}), got {self.end_lr:g}")
        return self


class Config(_Strict):
    """The whole config: one file, every section."""

    seed: int = Field(0, description="seeds weights, data order and the train/val split")
    device: str = Field("auto", pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$", description="auto | cpu | cuda | "
                                                                                      "cuda:N | mps")
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    find_lr: FindLRConfig = Field(default_factory=FindLRConfig)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")



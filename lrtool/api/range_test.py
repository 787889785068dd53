"""find_lr() and its result, RangeTest: the range test on your own model, optimizer, loss and DataLoader."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import LrtoolError, RunFailed
from ..rundir import RunDir

if TYPE_CHECKING:  # pragma: no cover - typing only; the functions import them when called
    import pandas as pd
    import torch

    from ..config import Config


# --------------------------------------------------------------------------- the range test


class RangeTest:
    """What ``find_lr`` measured and suggests; the same facts as a find-lr run's summary.json.

    Attributes:
        lr: the default suggestion (valley, else steepest, else minimum), or None when the curve
            allows none (see ``notes``).
        suggestions: {"steepest", "valley", "minimum"} -> Suggestion (lr, step, loss: the smoothed loss
            there) or None. steepest: the most negative slope of the smoothed loss against log10(lr),
            ends of the sweep excluded; valley: fastai's rule, about the middle of the longest
            decreasing stretch; minimum: a tenth of the LR at the lowest smoothed loss (Smith 2017).
        clr: Clr (base_lr, max_lr) for a cyclic schedule: max_lr where the loss falls fastest before its
            minimum, base_lr = max_lr / 4 (or where validation accuracy starts to rise, when
            measured); None without a suggestion.
        onecycle: OneCycle (max_lr) for one-cycle (Smith 2018): the larger of clr.max_lr and minimum.
        stop: Stop (reason: completed | diverged | non_finite | interrupted, step, message, steps_run).
        notes: warnings about the curve's shape (never fell, never rose, too short).
        summary: the whole summary.json content, typed (``lrtool.rundir.RunSummary``).
        path: the run directory when ``out`` was given, else None.
    """

    def __init__(self, summary: dict[str, Any], rows: list[dict[str, Any]], path: Path | None, title: str):
        from ..rundir import parse_summary

        self._raw = summary  # what summary.json holds, for the plot and the snippet
        self.summary = parse_summary(summary)
        self.rows = rows
        self.path = path
        self._title = title
        self.lr: float | None = self.summary.lr
        self.suggestions = dict(self.summary.suggestions or {})
        self.clr = self.summary.clr
        self.onecycle = self.summary.onecycle
        self.stop = self.summary.stop
        self.notes: list[str] = list(self.summary.notes or [])

    @property
    def curve(self) -> "pd.DataFrame":
        """One row per optimizer step: step, lr, loss (raw), smoothed_loss (bias-corrected EMA), and
        val_loss and the task's metric (val_acc, val_mae, ...; NaN between validations) when a val_loader
        was given."""
        import pandas as pd

        from ..rundir import columns as C

        has_val = any(C.VAL_LOSS in r for r in self.rows)
        metric = self._val_metric()
        columns = C.FIND_COLUMNS + ((C.VAL_LOSS,) + ((metric,) if metric else ()) if has_val else ())
        return pd.DataFrame(self.rows, columns=list(columns), dtype=float).astype({C.STEP: int})

    def plot(self, ax: Any = None) -> Any:
        """Loss against LR with the suggestions and the cyclic bounds marked (the figure find-lr saves).

        Args:
            ax: a matplotlib Axes to draw into; None: a new Figure (with a panel of the validation
                metric when measured). A Jupyter cell that ends with it shows it inline.

        Returns:
            The matplotlib Figure.
        """
        from ..plots import lr_find_figure

        return lr_find_figure(self.rows, self._raw, title=self._title, log_x=self._raw["sweep"]["mode"] == "exp",
                              ax=ax, metric=self._val_metric())

    def _val_metric(self) -> str | None:
        """The validation metric's column the sweep measured (val_acc, val_mae, ...), or None."""
        from ..rundir import columns as C

        return next((k for r in self.rows for k in r if k.startswith("val_") and k != C.VAL_LOSS), None)

    def to_yaml(self) -> str:
        """The suggestions as a config snippet (optimizer.lr, cyclic and one-cycle bounds); "" if none."""
        from ..run.suggest import snippet

        return snippet(self._raw)

    def __repr__(self) -> str:
        lr = f"{self.lr:.3g}" if self.lr is not None else "None"
        return f"RangeTest(lr={lr}, stop={self.stop.reason!r}, steps={self.stop.steps_run})"


class _Recorder:
    """A CSV log that also keeps its rows in memory (the curve of the returned RangeTest)."""

    def __init__(self, log: Any, rows: list[dict[str, Any]]):
        self.log, self.rows = log, rows

    def write(self, row: dict[str, Any], flush: bool = True) -> None:
        self.rows.append(dict(row))
        self.log.write(row, flush)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.log, name)  # close, abandon, flush: the log's own

    def __enter__(self) -> "_Recorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.log.close()


class _ApiRun(RunDir):
    """The run directory of find_lr(): in memory only without `out`; facts a config would give are patched."""

    def __init__(self, path: Path, writes: bool, facts: dict[str, Any]):
        super().__init__(path, writes=writes)
        self.facts = facts
        self.rows: list[dict[str, Any]] = []

    def write_summary(self, summary: dict[str, Any]) -> None:
        summary.update(self.facts["top"])
        summary["sweep"].update(self.facts["sweep"])
        super().write_summary(summary)

    def csv(self, name: str, columns: Iterable[str], append: bool = False) -> Any:
        return _Recorder(super().csv(name, columns, append), self.rows)


def _model_device(model: "torch.nn.Module", device: Any) -> "torch.device":
    """The device batches go to: the model's own unless `device` names another (then an error)."""
    import torch

    from ..run.engine import resolve_device

    own = next((p.device for p in model.parameters()), torch.device("cpu"))
    if device is None:
        return own
    wanted = resolve_device(str(device))
    if wanted.type != own.type or (wanted.index is not None and wanted.index != own.index):
        raise LrtoolError(f"find_lr: device: expected the model's device ({own}), got {device!r}; move the "
                          "model with model.to(device) before creating its optimizer")
    return own


def _check_optimizer_params(model: "torch.nn.Module", optimizer: "torch.optim.Optimizer") -> None:
    """Refuse an optimizer that holds none of the model's parameters (one made for another model, or before the
    model was rebuilt): the sweep would step nothing and suggest from an unchanging loss.

    One that holds only some of them is accepted without a warning: training only a part (a head,
    an adapter) is the usual way to fine-tune.
    """
    own = {id(p) for p in model.parameters()}
    held = [p for g in optimizer.param_groups for p in g["params"]]
    if held and not any(id(p) in own for p in held):
        raise LrtoolError(f"find_lr: optimizer: holds none of the model's parameters (one made for another "
                          f"model?); create it from this model: {type(optimizer).__name__}(model.parameters(), ...)")


def _batch_size(loader: Any) -> int | None:
    """Samples per batch of a DataLoader (also with a batch sampler), or None when unknown."""
    size = getattr(loader, "batch_size", None) or getattr(getattr(loader, "batch_sampler", None), "batch_size", None)
    return size if isinstance(size, int) else None


def _validated(doc: dict[str, Any], where: str) -> "Config":
    """The Config of `doc`, or the CLI's one-line message for the first problem."""
    from pydantic import ValidationError

    from ..config import Config
    from ..config.load import _format_error

    try:
        return Config.model_validate(doc)
    except ValidationError as e:
        raise LrtoolError(_format_error(e.errors(include_url=False)[0], where, set())) from None


def find_lr(model: "torch.nn.Module", optimizer: "torch.optim.Optimizer", criterion: Any, train_loader: Iterable,
            *, val_loader: Iterable | None = None, start_lr: float = 1e-7, end_lr: float = 10.0,
            num_iter: int = 100, mode: str = "exp", smooth: float = 0.98, diverge_threshold: float = 4.0,
            accumulate: int = 1, val_every: int | None = None, grad_clip: float | None = None,
            device: Any = None, precision: str = "fp32", out: str | Path | None = None,
            progress: bool = True) -> RangeTest:
    """LR range test (Smith 2017) on your own model, optimizer, loss and DataLoader.

    Step i of ``num_iter`` trains one batch (``accumulate`` micro-batches) at
    lr_i = start_lr * (end_lr/start_lr) ** (i / (num_iter-1)) (``mode="linear"``: evenly spaced), records
    the loss, smooths it with a bias-corrected EMA (``smooth`` = beta; fastai's AvgSmoothLoss) and
    stops when the smoothed loss rises ``diverge_threshold`` times above its best (or turns NaN/inf).
    Other param groups keep their LR ratio to group 0. Ctrl-C ends the sweep early and keeps the curve.

    However it ends, everything is put back as it was: model weights and buffers, gradients,
    optimizer state, train/eval mode, the torch (CPU and CUDA), numpy and python RNGs, and each
    loader's generators (and persistent workers), so training afterwards is bit-identical to
    training without the test.

    Args:
        model: any nn.Module; it stays on its device. Batches are moved there.
        optimizer: its param groups are swept; its state is restored afterwards.
        criterion: loss(outputs, target) -> scalar tensor (any torch.nn loss or function).
        train_loader: a DataLoader or any re-iterable of batches: ``(inputs, target, *extra)`` tuples or
            dicts (target under target/targets/label/labels/y; inputs under inputs/input/x, or all
            other keys as ``model(**inputs)``). Passed over again and again until num_iter steps.
        val_loader: optional; a full pass every ``val_every`` steps gives val_loss/val_acc columns.
        start_lr, end_lr: the sweep's first and last LR (end_lr > start_lr > 0).
        num_iter: optimizer steps in the sweep (>= 2).
        mode: "exp" (geometric, the usual) or "linear".
        smooth: EMA beta in [0, 1) for the smoothed loss (0: no smoothing).
        diverge_threshold: stop when smoothed > threshold x best (> 1).
        accumulate: micro-batches per optimizer step (the loss of a step is their mean).
        val_every: steps between validations (default 10 when val_loader is given).
        grad_clip: clip the gradient norm to this before each step, or None.
        device: None (the model's device) or that same device by name ("cuda", "cpu", "auto").
        precision: "fp32", "bf16" or "fp16" (autocast; fp16 with a GradScaler, CUDA only).
        out: a new (or empty) directory to write the run into, exactly as ``lrtool find-lr --out``
            does (lr_find.csv, lr_find.png, summary.json, config.yaml), so ``lrtool train --lr-from
            DIR`` and ``lrtool compare`` read it. None: nothing is written anywhere.
        progress: show a progress bar (on stderr; a widget in Jupyter).

    Returns:
        A RangeTest: .lr, .suggestions, .clr, .onecycle, .stop, .curve, .plot(), .to_yaml().

    Raises:
        LrtoolError: a bad argument (one line naming it: "find_lr(): find_lr.num_iter: expected ..."), or a
            criterion that does not fit the first training batch's targets (the CLI's check of `loss`:
            "find_lr: criterion: CrossEntropyLoss expects one integer class index per sample, ...").
        RunFailed: the model, loss or loader raised during the sweep (the cause is chained; the state
            is restored first).
    """
    import torch
    import yaml

    from .. import metrics
    from ..data.batches import check_reiterable
    from ..optim import outputs_probabilities
    from ..run.build import Setup
    from ..run.engine import Precision
    from ..run.finder import run_find_lr

    if not isinstance(model, torch.nn.Module):
        raise LrtoolError(f"find_lr: model: expected a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise LrtoolError(f"find_lr: optimizer: expected a torch.optim.Optimizer, got {type(optimizer).__name__}")
    _check_optimizer_params(model, optimizer)
    for key, loader in (("train_loader", train_loader), ("val_loader", val_loader)):
        if loader is not None:
            check_reiterable(loader, f"find_lr: {key}")
    dev = _model_device(model, device)
    if val_every is None:
        val_every = 10 if val_loader is not None else 0
    dataset = getattr(train_loader, "dataset", None)
    data_name = type(dataset).__name__ if dataset is not None else type(train_loader).__name__
    batch_size = _batch_size(train_loader)
    doc = {"device": str(dev), "data": {"name": data_name, "batch_size": batch_size or 1},
           "model": {"name": type(model).__name__}, "optimizer": {"name": type(optimizer).__name__},
           "loss": {"name": getattr(criterion, "__name__", type(criterion).__name__)},
           "train": {"precision": precision, "accumulate": accumulate, "grad_clip": grad_clip},
           "find_lr": {"start_lr": start_lr, "end_lr": end_lr, "num_iter": num_iter, "mode": mode, "smooth": smooth,
                       "diverge_threshold": diverge_threshold,
                       "val_every": val_every if val_loader is not None else 0}}
    cfg = _validated(doc, "find_lr()")
    _check_loss(model, criterion, cfg.loss.name, train_loader, dev)
    task = _probe_task(model, val_loader, dev, criterion) if val_loader is not None and val_every else None
    measured = {} if task is None else {"metric_names": tuple(metrics.resolve(None, *task)), "task": task,
                                        "probabilities": outputs_probabilities(criterion)}
    setup = Setup(cfg, dev, Precision(precision, dev), torch.Generator(), _Loaders(train_loader, val_loader),
                  model, optimizer, criterion, **measured)
    facts = {"top": {"seed": None, "source": "python"}, "sweep": {"batch_size": batch_size}}
    if out is not None:
        run = _ApiRun(RunDir.create(out, "python", "find-lr").path, True, facts)
        # what the run was made of, for compare's config diff; not a config the CLI can rerun
        described = {**doc, "data": {"name": data_name, "batch_size": batch_size},
                     "optimizer": {"name": type(optimizer).__name__,
                                   "lr": [float(g["lr"]) for g in optimizer.param_groups]}}
        run.write_config("# written by lrtool.find_lr() from Python: model, data and optimizer were objects\n" +
                         yaml.safe_dump(described, sort_keys=False, default_flow_style=None))
    else:
        run = _ApiRun(Path("."), False, facts)
    title = f"LR range test: {cfg.model.name} on {data_name}"
    try:
        if progress:
            with _progress_bar() as bar:
                summary = run_find_lr(setup, run, config_path=None, progress=bar)
        else:
            summary = run_find_lr(setup, run, config_path=None)
    except RunFailed as e:
        if run.writes or e.__cause__ is None:
            raise
        cause = e.__cause__  # nothing was kept on disk, so the message names no directory
        raise RunFailed(f"range test failed: {type(cause).__name__}: {cause}") from cause
    return RangeTest(summary, run.rows, run.path if run.writes else None, f"{title} ({summary['stop']['reason']})")


def _first_output(model: Any, loader: Any, device: Any, key: str) -> tuple[Any, Any] | None:
    """The model's output (eval mode, no gradient) on the loader's first batch, and that batch's target;
    None when the loader or the model fails on it (the sweep itself reports those).

    The loader and every RNG are put back as they were: training after find_lr stays bit-identical.
    """
    import torch

    from ..data.batches import LoaderState, call_model
    from ..run.engine import rng_state, set_rng_state

    state, rngs = LoaderState(loader), rng_state()  # python, numpy and torch (a Dataset may draw from any)
    was_training = model.training
    try:
        with torch.no_grad():
            x, y = _first_batch(loader, device, key)
            model.eval()
            return call_model(model, x), y
    except Exception:  # noqa: BLE001 - reported by the sweep, with the state put back first
        return None
    finally:
        model.train(was_training)
        state.restore()
        set_rng_state(rngs)


def _first_batch(loader: Any, device: Any, key: str) -> tuple[Any, Any]:
    """(inputs, target) of a first batch on `device`. A DataLoader of a map-style Dataset is not iterated: its
    first items are collated directly, so no sampler (a custom one may hold its own generator) or worker
    draws anything; other iterables give their first batch."""
    import torch

    from ..data.batches import adapted, split_batch, to_device

    dataset = getattr(loader, "dataset", None)
    if not isinstance(loader, torch.utils.data.DataLoader) or isinstance(dataset, torch.utils.data.IterableDataset):
        return next(adapted(loader, device, key))
    if loader.batch_sampler is None:  # batching off: each item is a batch already
        batch = loader.collate_fn(dataset[0])
    else:
        batch = loader.collate_fn([dataset[i] for i in range(min(loader.batch_size or 8, len(dataset)))])
    x, y = split_batch(batch, key)
    return to_device(x, device), to_device(y, device)


def _check_loss(model: Any, criterion: Any, name: str, train_loader: Any, device: Any) -> None:
    """The CLI's loss/target check (optim.check_batch) on the first training batch: a loss that does not fit
    the targets is a one-line LrtoolError before the sweep, not a torch traceback from inside it."""
    from ..optim import check_batch
    from ..run.engine import rng_state, set_rng_state

    first = _first_output(model, train_loader, device, "find_lr: train_loader")
    if first is None:
        return
    rngs = rng_state()  # a loss may draw random numbers too
    try:
        check_batch(criterion, name, *first, key="find_lr: criterion")
    finally:
        set_rng_state(rngs)


def _probe_task(model: Any, val_loader: Any, device: Any, criterion: Any) -> tuple[str, int] | None:
    """(task, output width) read from the model's output on the first validation batch, for the metric the
    sweep measures next to val_loss (the task's default: accuracy, mae, ...); None when it cannot tell.
    Class probabilities for CrossEntropyLoss are a multiclass task, as in the CLI (run/build.py)."""
    import torch

    from ..data.task import MULTICLASS, infer_task
    from ..optim import soft_targets

    first = _first_output(model, val_loader, device, "find_lr: val_loader")
    if first is None:
        return None
    out, y = first
    if not isinstance(y, torch.Tensor) or not isinstance(out, torch.Tensor) or out.dim() != 2:
        return None
    if soft_targets(criterion, out, y):
        return MULTICLASS, int(out.shape[1])
    classes = out.shape[1] if not y.is_floating_point() and y.dim() == 1 else None
    try:
        found = infer_task(y, num_classes=classes)
    except Exception:  # noqa: BLE001 - targets of no task: no metric then
        return None
    return found.kind, int(found.num_outputs)


def _progress_bar() -> Any:
    """A rich progress bar on stderr that disappears when done (a live widget in Jupyter)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True, highlight=False), transient=True)


@dataclass
class _Loaders:
    """The `data` of a Setup made from user loaders (train, val), as run_find_lr reads it."""

    train: Any
    val: Any

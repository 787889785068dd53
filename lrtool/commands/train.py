"""`lrtool train`: load the config, build the run, make (or reopen) its directory, train."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import LrtoolError
from . import RunResult, count


@dataclass
class TrainResult(RunResult):
    """A train run's RunResult, plus the figures drawn at its end."""

    figures: list[str] | None = None  # the plots drawn at the end (those before a failure or a stop); None: off
    figures_cut: str | None = None  # why drawing ended early: "failed", "interrupted" (a second signal), or None

    def progress(self) -> str:
        """How far the run got: "1 epoch (60 steps)", "1 epoch and 15 steps (75 steps)" or "15 steps".

        An epoch counts once it ended (validated): a stop right after its last step counts its steps only.
        """
        done = self.summary["progress"]
        epochs, steps, per_epoch = done["epoch"], done["step"], self.summary.get("steps_per_epoch")
        if not per_epoch:  # not recorded: both counts as they are
            return f"{count(epochs, 'epoch')}, {count(steps, 'step')}"
        into = steps - epochs * per_epoch  # the steps of the epoch the run stopped in
        if not epochs:
            return count(steps, "step")
        if into <= 0:
            return f"{count(epochs, 'epoch')} ({count(steps, 'step')})"
        return f"{count(epochs, 'epoch')} and {count(into, 'step')} ({count(steps, 'step')})"

    def written(self) -> str:
        """What the run directory holds, for the final `wrote DIR/ (...)` line: only files really there,
        and why plots are missing when they are."""
        path = self.run_dir
        figures = [n for n in self.figures or [] if (path / n).is_file()]
        names = [n for n in ("steps.csv", "epochs.csv") if (path / n).is_file()] + figures
        names += [n for n in ("summary.json", "config.yaml", "classes.json") if (path / n).is_file()]
        if (path / "checkpoints").is_dir() and any((path / "checkpoints").iterdir()):
            names.append("checkpoints/")
        line = f"wrote {path}/ ({', '.join(names)})"
        if self.figures is None:
            return f"{line}; no plots (train.plots is false)"
        if self.figures_cut == "interrupted":  # by the user: the figures before it stand
            return f"{line}; " + ("the other plots skipped (interrupted)" if figures
                                  else "no plots (skipped: interrupted)")
        if self.figures_cut or not figures:
            return f"{line}; " + ("the other plots failed, see the warning above" if figures
                                  else "no plots (drawing them failed, see the warning above)")
        return line


def parse_seeds(text: str) -> list[int]:
    """--seeds as a list of integers."""
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise LrtoolError(key="--seeds", problem="expected comma-separated integers like 0,1,2", given=text) from None


def resume_config(run_dir: Path, *, other_options: bool) -> Any:
    """The config of an interrupted train run to continue with --resume.

    Args:
        run_dir: the run directory given to --resume.
        other_options: whether options that would change the run were given too (an error).

    Returns:
        The run's own validated config.
    """
    from ..config import load_config
    from ..imports import add_paths
    from ..rundir import read_run_summary

    if other_options:
        raise LrtoolError("--resume continues a run with its own config.yaml; drop "
                          "--set/--schedule/--seeds/--lr-from/--epochs/--device/--out/--logger/--jobs/"
                          "--launcher/--member")
    summary = read_run_summary(run_dir, "--resume", "train", files=("config.yaml", "summary.json"))
    if summary.get("status") == "completed":
        raise LrtoolError(f"--resume {run_dir}: the run already completed; nothing to resume")
    # the user's modules ('module:callable') are found where the original config and cwd found them
    add_paths([p for p in summary.get("import_paths") or [] if isinstance(p, str)])
    return load_config(run_dir / "config.yaml")


def load_train_config(config: Path | None, overrides: list[str], *, schedule: str | None, seed: int | None,
                      lr_from: Path | None) -> tuple[Any, dict[str, float]]:
    """The validated config of one train run.

    Args:
        config: the YAML file, or None for the quickstart defaults.
        overrides: `key=value` items (--set and the dedicated options).
        schedule: --schedule (one name), or None.
        seed: one of --seeds, or None.
        lr_from: --lr-from, or None.

    Returns:
        (config, {dotted key: value} that --lr-from set).
    """
    from ..config import load_config

    taken: dict[str, float] = {}
    extra = [f"seed={seed}"] if seed is not None else []
    cfg = load_config(config, overrides + extra, schedule=schedule, lr_from=lr_from, taken=taken)
    return cfg, taken


def run_training(cfg: Any, *, out: Path | None, stem: str, config_path: str | None, resume_dir: Path | None = None,
                 allow_changes: bool = False, live: Any = None,
                 echo: Callable[[str], None] = print, tags: dict[str, str] | None = None) -> TrainResult:
    """Build everything from `cfg`, make (or reopen) the run directory, train.

    Args:
        cfg: the validated config (resolved schedule name and --lr-from values already in it).
        out: --out (a directory to create) or None for runs/<stem>-<schedule>-<time>; ignored on resume.
        stem: the config file's stem, for the default directory name.
        config_path: recorded in the summary.
        resume_dir: an interrupted run to continue in place, or None.
        allow_changes: --allow-changes: resume even when config.yaml differs from what the checkpoint
            was trained with.
        live: progress display (see run.trainer.train()).
        echo: prints one line for the user.
        tags: tags for the run's loggers (the sweep it belongs to).

    Returns:
        The TrainResult; raises LrtoolError for bad input, RunFailed when training fails.
    """
    from ..config import dump_config
    from ..loggers import check_loggers
    from ..run.build import build
    from ..run.plan import make_schedule
    from ..rundir import RunDir

    check_loggers(cfg.train.loggers)  # a missing extra is a usage error, before any work
    if resume_dir is not None:
        run = RunDir(resume_dir)
        # the lock first: a live run is refused before anything is read, built or written
        with run.lock("train"):
            return _resume(cfg, run, allow_changes=allow_changes, live=live, echo=echo)
    setup = build(cfg, compile_model=True)
    schedule, plan = make_schedule(setup)
    run = RunDir.create(out, stem, schedule.name)
    with run.lock("train"):
        run.write_config(dump_config(cfg))
        if setup.data.classes:
            run.write_classes(setup.data.classes)
        return _train(setup, run, schedule, plan, config_path, None, live, echo, tags=tags)


def _resume(cfg: Any, run: Any, *, allow_changes: bool, live: Any, echo: Callable[[str], None]) -> TrainResult:
    """Continue `run` from checkpoints/last.pt, after checking everything that would stop it halfway.

    Nothing on disk changes until the checkpoint has been read, checked against config.yaml and put
    into the freshly built run: a refused --resume leaves the run as it was.
    """
    from ..run.build import build
    from ..run.checkpoint import Progress, config_changes, log_notes, read_checkpoint, restore_checkpoint
    from ..run.plan import make_schedule

    _check_writable(run.path)
    ckpt = run.path / "checkpoints" / "last.pt"
    state = read_checkpoint(ckpt) if ckpt.exists() else None
    changes = []
    if state is not None and "config" in state:
        changes = config_changes(state["config"], cfg.to_dict())
        if changes and not allow_changes:
            raise LrtoolError(f"--resume {run.path}: config.yaml differs from the config {ckpt} was trained "
                              f"with: {', '.join(changes)}; undo the edit, or pass --allow-changes to continue "
                              "with the edited config")
    setup = build(cfg, compile_model=True)
    schedule, plan = make_schedule(setup)
    progress = restore_checkpoint(setup, schedule, state, ckpt) if state is not None else Progress()
    for note in log_notes(run.path):  # read only here: the logs are cut when training starts
        echo(f"note: {note}")
    if changes:
        echo(f"note: --allow-changes: continuing with the edited config ({', '.join(changes)})")
    if state is None:
        echo(f"note: {ckpt} does not exist: the run starts again from step 0")
    echo(f"resuming {run.path} at epoch {progress.epoch + 1}, step {progress.step} of {plan.total_steps}")
    return _train(setup, run, schedule, plan, None, progress, live, echo, changes=changes)


def _check_writable(path: Path) -> None:
    """An unwritable run directory (or checkpoints/) is found before anything is built."""
    import os

    for folder in (path, path / "checkpoints"):
        if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
            raise LrtoolError(f"--resume {path}: cannot write in {folder} (permission denied)")
    for name in ("summary.json", "steps.csv", "epochs.csv"):
        file = path / name
        if file.exists() and not os.access(file, os.W_OK):
            raise LrtoolError(f"--resume {path}: cannot write {file} (permission denied)")


def _train(setup: Any, run: Any, schedule: Any, plan: Any, config_path: str | None, progress: Any, live: Any,
           echo: Callable[[str], None], changes: list[str] | None = None,
           tags: dict[str, str] | None = None) -> TrainResult:
    from ..run import dist
    from ..run.trainer import train

    cfg = setup.cfg
    echo(f"training {cfg.model.name} on {cfg.data.name}: schedule {schedule.name}, {count(plan.epochs, 'epoch')} x "
         f"{count(plan.steps_per_epoch, 'step')}, seed {cfg.seed}, device {setup.device}" +
         (f" x {dist.world_size()} ranks (global batch {cfg.data.batch_size * dist.world_size()})"
          if dist.is_distributed() else ""))
    for note in schedule.notes:
        echo(f"warning: {note}")
    summary = train(setup, run, schedule, plan, schedule_name=schedule.name, config_path=config_path,
                    resume=progress, live=live, changes=changes, tags=tags)
    return TrainResult(summary, run.path, figures=run.figures if cfg.train.plots else None,
                       figures_cut=run.figures_cut)

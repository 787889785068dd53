"""`lrtool train`: load the config, build the run, make (or reopen) its directory, train."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..errors import LrtoolError
from . import RunResult


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
    from ..rundir import read_run_summary

    if other_options:
        raise LrtoolError("--resume continues a run with its own config.yaml; drop "
                          "--set/--schedule/--seeds/--lr-from/--epochs/--device/--out")
    summary = read_run_summary(run_dir, "--resume", "train", files=("config.yaml", "summary.json"))
    if summary.get("status") == "completed":
        raise LrtoolError(f"--resume {run_dir}: the run already completed; nothing to resume")
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
                 live: Any = None, echo: Callable[[str], None] = print) -> RunResult:
    """Build everything from `cfg`, make (or reopen) the run directory, train.

    Args:
        cfg: the validated config (resolved schedule name and --lr-from values already in it).
        out: --out (a directory to create) or None for runs/<stem>-<schedule>-<time>; ignored on resume.
        stem: the config file's stem, for the default directory name.
        config_path: recorded in the summary.
        resume_dir: an interrupted run to continue in place, or None.
        live: progress display (see run.trainer.train()).
        echo: prints one line for the user.

    Returns:
        The RunResult; raises LrtoolError for bad input, RunFailed when training fails.
    """
    from ..config import dump_config
    from ..run import dist
    from ..run.build import build
    from ..run.checkpoint import Progress, load_checkpoint
    from ..run.plan import make_schedule
    from ..run.trainer import train
    from ..rundir import RunDir

    setup = build(cfg, compile_model=True)
    schedule, plan = make_schedule(setup)
    if resume_dir is not None:
        run = RunDir(resume_dir)
        ckpt = run.path / "checkpoints" / "last.pt"
        progress = load_checkpoint(setup, schedule, ckpt) if ckpt.exists() else Progress()
        echo(f"resuming {run.path} at epoch {progress.epoch + 1}, step {progress.step} of {plan.total_steps}")
    else:
        run = RunDir.create(out, stem, schedule.name)
        run.write_config(dump_config(cfg))
        progress = None
    echo(f"training {cfg.model.name} on {cfg.data.name}: schedule {schedule.name}, {plan.epochs} epochs x "
         f"{plan.steps_per_epoch} steps, seed {cfg.seed}, device {setup.device}" +
         (f" x {dist.world_size()} ranks (global batch {cfg.data.batch_size * dist.world_size()})"
          if dist.is_distributed() else ""))
    summary = train(setup, run, schedule, plan, schedule_name=schedule.name, config_path=config_path,
                    resume=progress, live=live)
    return RunResult(summary, run.path)

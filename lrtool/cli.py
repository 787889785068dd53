"""The `lrtool` command line: Typer options and help; each command makes one call into commands/, then prints.

Heavy packages (torch, torchvision, pandas, matplotlib) are imported inside the commands, so
`lrtool --help` and argument errors answer at once.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from .errors import ExitCode, LrtoolError
from .streams import prepare_streams


class _Group(typer.core.TyperGroup):
    """Usage errors (unknown option, bad option value) as one line and exit 2, like every other error."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        prepare_streams()  # a terminal that cannot show a character, or a closed pipe, never costs a run
        # typer vendors click in recent versions and depends on it in older ones: take the
        # exception classes from wherever typer's own BadParameter lives
        click = sys.modules[typer.BadParameter.__module__]
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except click.UsageError as e:
            if type(e).__name__ == "NoArgsIsHelpError":  # bare `lrtool`: the help, as usual
                print(e.format_message(), file=sys.stderr)
                return ExitCode.USAGE if not standalone_mode else sys.exit(ExitCode.USAGE)
            ctx = e.ctx
            where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            print(f"lrtool: error: {e.format_message()}{where}", file=sys.stderr)
            rv = ExitCode.USAGE
        except click.ClickException as e:
            print(f"lrtool: error: {e.format_message()}", file=sys.stderr)
            rv = e.exit_code
        except typer.Abort:  # click.Abort in older typer, typer.Abort in the vendored one
            print("lrtool: interrupted", file=sys.stderr)
            rv = ExitCode.SIGINT
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=_Group,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="lrtool: LR range tests, schedules and experiment runs for PyTorch.",
)

_DEBUG = {"on": False}

SetOpt = Annotated[Optional[list[str]], typer.Option(
    "--set", "-s", metavar="KEY=VALUE",
    help="Override a config key, value parsed as YAML (repeatable): --set optimizer.lr=3e-3")]
OutOpt = Annotated[Optional[Path], typer.Option(
    "--out", "-o", help="Run directory (must not exist or be empty); default runs/<config>-<command>-<time>")]
DeviceOpt = Annotated[Optional[str], typer.Option("--device", "-d", help="auto | cpu | cuda | cuda:N | mps")]
LoggerOpt = Annotated[Optional[list[str]], typer.Option(
    "--logger", metavar="NAME", help="Also log to tensorboard | mlflow (repeatable or comma-separated; "
    "replaces train.loggers; none: no logger). Each is an optional extra: pip install \"lrtool[NAME]\"")]
ConfigArg = Annotated[Optional[Path], typer.Argument(
    help="YAML config file; omitted: the built-in quickstart defaults", show_default=False)]


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False) -> None:
    _DEBUG["on"] = debug


def _fail(message: str, code: int) -> None:
    from . import ranks

    message = " ".join(line.strip() for line in message.splitlines() if line.strip())  # always one line
    if not ranks.is_main():  # under torchrun a usage error is the same on every rank: rank 0 says it
        if code == ExitCode.USAGE:
            raise typer.Exit(code)
        message = f"[rank {ranks.rank()}] {message}"
    print(f"lrtool: error: {message}", file=sys.stderr)
    raise typer.Exit(code)


_DEBUG_HINT = "for the traceback: lrtool --debug <command> ..."  # --debug is the app's option, before the command


def _guard(fn: Callable[[], int | None]) -> None:
    """Run a command body: LrtoolError -> one line + its exit code; anything else -> one line + exit 1.

    Under torchrun the body runs inside the job's process group (see run/dist.py).
    """
    from .run import dist

    try:
        with dist.session():
            code = fn()
    except typer.Exit:
        raise
    except LrtoolError as e:
        if _DEBUG["on"]:
            raise
        _fail(str(e), e.exit_code)
    except KeyboardInterrupt:
        print("lrtool: interrupted", file=sys.stderr)
        raise typer.Exit(ExitCode.SIGINT)
    except SystemExit as e:  # lrtool never exits from a command body: user code did (a model, a loss)
        if _DEBUG["on"]:
            raise
        _fail(f"user code called sys.exit({e.code!r}) ({_DEBUG_HINT})", ExitCode.FAILED)
    except Exception as e:  # noqa: BLE001 - the user sees one line; --debug shows the traceback
        if _DEBUG["on"]:
            raise
        _fail(f"{type(e).__name__}: {e} ({_DEBUG_HINT})", ExitCode.FAILED)
    else:
        if code:
            raise typer.Exit(code)


def _overrides(set_: list[str] | None, **options: Any) -> list[str]:
    """--set items, then the dedicated options as `key=value` overrides (so they validate alike)."""
    items = list(set_ or [])
    for key, value in options.items():
        if value is not None:
            items.append(f"{key}={value!r}" if isinstance(value, float) else f"{key}={value}")
    return items


def _loggers(names: list[str] | None) -> str | None:
    """--logger values as the YAML list of train.loggers (validated with the config)."""
    if not names:
        return None
    items = [n.strip() for name in names for n in name.split(",") if n.strip()]
    return "[" + ", ".join(n for n in items if n != "none") + "]"


def _consoles() -> tuple[Any, Any]:
    from rich.console import Console

    from . import ranks

    quiet = not ranks.is_main()  # under torchrun only rank 0 prints
    return Console(highlight=False, quiet=quiet), Console(stderr=True, highlight=False, quiet=quiet)


def _progress(console: Any) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True)


@app.command("find-lr")
def find_lr(
    config: ConfigArg = None,
    set_: SetOpt = None,
    out: OutOpt = None,
    device: DeviceOpt = None,
    start_lr: Annotated[Optional[float], typer.Option(help="First LR of the sweep.")] = None,
    end_lr: Annotated[Optional[float], typer.Option(help="Last LR of the sweep.")] = None,
    num_iter: Annotated[Optional[int], typer.Option(help="Optimizer steps in the sweep.")] = None,
    mode: Annotated[Optional[str], typer.Option(help="exp | linear")] = None,
    logger: LoggerOpt = None,
) -> None:
    """LR range test: sweep the LR, smooth the loss, stop on divergence, suggest learning rates."""

    def body() -> int:
        from .commands.find_lr import find_lr

        overrides = _overrides(set_, device=device, **{
            "find_lr.start_lr": start_lr, "find_lr.end_lr": end_lr, "find_lr.num_iter": num_iter,
            "find_lr.mode": mode, "train.loggers": _loggers(logger)})
        stdout, stderr = _consoles()
        result = find_lr(config, overrides, out=out, progress=lambda: _progress(stderr))
        _print_find_lr(stdout, result.summary, result.run_dir)
        return result.exit_code

    _guard(body)


def _print_find_lr(console: Any, s: dict[str, Any], path: Path) -> None:
    from rich.table import Table

    from .commands import count
    from .run.suggest import snippet

    stop = s["stop"]
    partial = stop["reason"] == "interrupted"
    if partial:  # says where the sweep got to; its message already names the signal
        console.print(f"range test {stop['message']}", markup=False)
    else:
        console.print(f"range test: {count(stop['steps_run'], 'step')}, stopped: {stop['reason']} - "
                      f"{stop['message']}")
    table = Table(title="suggested learning rates" + (" (partial sweep)" if partial else ""), title_justify="left")
    for col in ("suggestion", "lr", "step", "smoothed loss"):
        table.add_column(col, justify="left" if col == "suggestion" else "right")
    for name, sug in s["suggestions"].items():
        if sug:
            table.add_row(name, f"{sug['lr']:.3g}", str(sug["step"]), f"{sug['loss']:.4g}")
        else:
            table.add_row(name, "-", "-", "-")
    if s.get("clr"):
        table.add_row("cyclic base_lr .. max_lr", f"{s['clr']['base_lr']:.3g} .. {s['clr']['max_lr']:.3g}", "", "")
        table.add_row("one-cycle max_lr", f"{s['onecycle']['max_lr']:.3g}", "", "")
    console.print(table)
    for note in s.get("notes", []):
        console.print(f"note: {note}", style="yellow")
    text = snippet(s)
    if text:
        console.print("paste into your config (or use `lrtool train --lr-from`):")
        console.print(text, markup=False, highlight=False, soft_wrap=True)  # wrapped YAML would not parse
    written = [n for n in ("lr_find.csv", "lr_find.png", "summary.json", "config.yaml", "classes.json")
               if (path / n).is_file()]
    console.print(f"wrote {path}/ ({', '.join(written)})")


ScheduleOpt = Annotated[Optional[str], typer.Option(
    "--schedule", help="Schedule name (its arguments come from the config's schedule section); "
    "see `lrtool list`")]


class _LiveTrain:
    """Two rich progress bars (epochs, steps of the epoch) with loss, the running metrics and LR."""

    def __init__(self, console: Any):
        self.progress = _progress(console)
        self.metrics = ""
        self.monitor: str | None = None

    def start(self, plan: Any, p: Any, monitor: str | None = None) -> None:
        self.plan, self.monitor = plan, monitor
        self.progress.start()
        self.epochs = self.progress.add_task("epochs", total=plan.epochs, completed=p.epoch)
        self.steps = self.progress.add_task("steps", total=plan.steps_per_epoch, completed=p.epoch_steps)

    def update(self, step: int, loss: float, lr: float, metrics: dict[str, float] | None = None) -> None:
        done = step - (step - 1) // self.plan.steps_per_epoch * self.plan.steps_per_epoch
        shown = "".join(f"  {name} {value:.4g}" for name, value in (metrics or {}).items())
        self.progress.update(self.steps, completed=done,
                             description=f"loss {loss:.4g}{shown}  lr {lr:.3g}{self.metrics}")

    def epoch_done(self, p: Any) -> None:
        name = self.monitor if self.monitor in p.best else next(iter(p.best), None)
        self.metrics = f"  best {name} {p.best[name]['value']:.4g}" if name else ""
        self.progress.update(self.epochs, completed=p.epoch, description=f"epoch {p.epoch}/{self.plan.epochs}")
        self.progress.update(self.steps, completed=0)

    def stop(self) -> None:
        self.progress.stop()


@app.command("train")
def train(
    config: ConfigArg = None,
    schedule: ScheduleOpt = None,
    set_: SetOpt = None,
    out: OutOpt = None,
    device: DeviceOpt = None,
    epochs: Annotated[Optional[int], typer.Option(help="Number of epochs (train.epochs).")] = None,
    lr_from: Annotated[Optional[Path], typer.Option(
        "--lr-from", help="A find-lr run directory: take its suggested LR, CLR bounds and one-cycle max_lr.")] = None,
    resume: Annotated[Optional[Path], typer.Option(
        "--resume", help="Continue an interrupted train run in place, from its last checkpoint.")] = None,
    seeds: Annotated[Optional[str], typer.Option(
        "--seeds", help="Comma-separated seeds: with several (or several --schedule names) runs a sweep.")] = None,
    allow_changes: Annotated[bool, typer.Option(
        "--allow-changes", help="With --resume: continue even though the run's config.yaml was edited since its "
        "checkpoint (the edited keys are listed and recorded in summary.json).")] = False,
    logger: LoggerOpt = None,
    jobs: Annotated[int, typer.Option(
        "--jobs", "-j", help="Sweep members run at once, each in its own process (one GPU each when there "
        "are several; on CPU the threads are split).")] = 1,
    launcher: Annotated[str, typer.Option(
        "--launcher", help="local | ray: ray runs each sweep member as a task on a local Ray instance or the "
        "cluster in RAY_ADDRESS (pip install \"lrtool[ray]\").")] = "local",
    member: Annotated[Optional[int], typer.Option(
        "--member", help="Run only member K (from 0) of the sweep into --out/<its name>: one task of a job "
        "array, e.g. --member $SLURM_ARRAY_TASK_ID.")] = None,
    member_gpus: Annotated[Optional[float], typer.Option(
        "--member-gpus", help="GPUs per sweep member with --launcher ray (default 1 when the cluster has "
        "GPUs).")] = None,
    member_cpus: Annotated[Optional[float], typer.Option(
        "--member-cpus", help="CPUs per sweep member with --launcher ray (default 1).")] = None,
) -> None:
    """Train with any schedule; log every step and epoch, plot, checkpoint; resume exactly.

    Several schedules and/or seeds (`--schedule fixed,cyclic --seeds 0,1,2`) run one after the other into
    one sweep directory, then are compared.
    """

    def body() -> int:
        from .commands import train as command
        from .commands.launch import Launch

        stdout, stderr = _consoles()
        launch = Launch(jobs, launcher, member, member_gpus, member_cpus)
        if resume is not None:
            cfg = command.resume_config(resume, other_options=bool(
                set_ or schedule or lr_from or epochs or device or out or seeds or logger or launch.given))
            if config is not None:
                stdout.print(f"note: --resume uses the run's own {resume / 'config.yaml'}; {config} is not read",
                             style="yellow", markup=False, soft_wrap=True)  # paths stay whole
            return _train_and_print(cfg, None, "", None, stdout, stderr, resume_dir=resume,
                                    allow_changes=allow_changes)
        if allow_changes:
            raise LrtoolError("--allow-changes: only applies with --resume RUN_DIR")
        overrides = _overrides(set_, device=device, **{"train.epochs": epochs, "train.loggers": _loggers(logger)})
        names = [n.strip() for n in schedule.split(",")] if schedule else [None]
        seed_list = command.parse_seeds(seeds) if seeds else [None]
        launch.check(out, sweep=len(names) * len(seed_list) > 1)
        stem = Path(config).stem if config else "quickstart"
        if len(names) * len(seed_list) > 1:
            from .commands.sweep import run_sweep

            return run_sweep(config, names, seed_list, overrides, lr_from=lr_from, out=out, stem=stem,
                             console=stdout, live_console=stderr, print_run=_print_train,
                             live=lambda: _LiveTrain(stderr) if not stderr.quiet else None, launch=launch)
        cfg, taken = command.load_train_config(config, overrides, schedule=names[0], seed=seed_list[0],
                                               lr_from=lr_from)
        if taken:
            stdout.print(f"--lr-from {lr_from}: " + ", ".join(f"{k}={v:.3g}" for k, v in taken.items()),
                         markup=False)
        return _train_and_print(cfg, out, stem, str(config) if config else None, stdout, stderr)

    _guard(body)


def _train_and_print(cfg: Any, out: Path | None, stem: str, config_path: str | None, stdout: Any, stderr: Any,
                     resume_dir: Path | None = None, allow_changes: bool = False) -> int:
    from .commands.train import run_training

    result = run_training(cfg, out=out, stem=stem, config_path=config_path, resume_dir=resume_dir,
                          allow_changes=allow_changes,
                          live=_LiveTrain(stderr) if not stderr.quiet else None,
                          echo=lambda line: stdout.print(line, markup=False))
    _print_train(stdout, result)
    return result.exit_code


def _print_train(console: Any, result: Any) -> None:
    from rich.table import Table

    s = result.summary
    status = s["status"]
    style = {"completed": "green", "interrupted": "yellow"}.get(status, "red")
    console.print(f"[{style}]{status}[/] after {result.progress()} in {s['timings']['total_s']:.1f} s",
                  highlight=False)
    if s.get("stop"):
        console.print(s["stop"]["message"], markup=False)
    table = Table(show_header=True, title_justify="left")
    for col in ("metric", "final", "best", "best at"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    final = s.get("final") or {}
    for metric in [k for k in final if k.startswith(("train_", "val_"))]:
        if final.get(metric) is None:
            continue
        best = (s.get("best") or {}).get(metric)
        table.add_row(metric, f"{final[metric]:.4g}", f"{best['value']:.4g}" if best else "",
                      f"epoch {best['epoch']}" if best else "")
    for metric, value in (s.get("test") or {}).items():
        table.add_row(metric, f"{value:.4g}", "", "")
    if table.row_count:
        console.print(table)
    console.print(result.written(), markup=False, soft_wrap=True)  # a path must stay one piece


@app.command("preview")
def preview(
    config: ConfigArg = None,
    schedule: ScheduleOpt = None,
    set_: SetOpt = None,
    out: OutOpt = None,
    epochs: Annotated[Optional[int], typer.Option(help="Number of epochs (train.epochs).")] = None,
    lr_from: Annotated[Optional[Path], typer.Option(
        "--lr-from", help="A find-lr run directory: preview with its suggested learning rates.")] = None,
) -> None:
    """The LR (and momentum) curve of a schedule, computed without a model (it counts the dataset's training split)."""

    def body() -> int:
        from .commands import count
        from .commands.preview import preview as command

        r = command(config, _overrides(set_, **{"train.epochs": epochs}), schedule=schedule, lr_from=lr_from,
                    out=out)
        stdout, _ = _consoles()
        lrs = r.lrs
        stdout.print(f"schedule {r.schedule} ({r.interval} interval): {count(r.total_steps, 'step')} = "
                     f"{count(r.epochs, 'epoch')} x {count(r.steps_per_epoch, 'step')} of batch {r.batch_size}")
        stdout.print(ascii_curve(lrs), markup=False, highlight=False)
        stdout.print(f"lr: first {lrs[0]:.3g}, min {min(lrs):.3g}, max {max(lrs):.3g}, last {lrs[-1]:.3g}")
        if r.needs_metric:
            stdout.print(f"note: {r.schedule} lowers the LR when {r.monitor} stops improving, so its real "
                         "curve depends on the metrics; shown is the LR before any reduction", style="yellow")
        for note in r.notes:
            stdout.print(f"warning: {note}", style="yellow", markup=False)
        stdout.print(f"wrote {r.run_dir}/ (schedule.csv, schedule.png, config.yaml)", markup=False)
        return r.exit_code

    _guard(body)


def ascii_curve(values: list[float], width: int = 64, height: int = 8) -> str:
    """A compact terminal plot of a curve: `height` rows of `width` columns, y labelled at both ends."""
    if not values:
        return ""
    cols = [values[min(len(values) - 1, int(i * len(values) / width))] for i in range(min(width, len(values)))]
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    levels = [round((v - lo) / span * (height - 1)) for v in cols]
    lines = []
    for row in range(height - 1, -1, -1):
        label = f"{hi:9.3g} |" if row == height - 1 else f"{lo:9.3g} |" if row == 0 else " " * 9 + " |"
        lines.append(label + "".join("*" if lv == row else " " for lv in levels))
    lines.append(" " * 10 + "+" + "-" * len(cols) + " step")
    return "\n".join(lines)


@app.command("compare")
def compare(
    run_dirs: Annotated[list[str], typer.Argument(help="Run directories or globs (runs/digits-*).",
                                                  show_default=False)],
    out: OutOpt = None,
    target: Annotated[Optional[str], typer.Option(
        help="METRIC=VALUE: steps/epochs/seconds each run needed to reach it, e.g. val_acc=0.95")] = None,
    metric: Annotated[Optional[str], typer.Option(
        help="The metric to rank by (val_acc, val_loss, val_mae, train_loss, ...; default: the runs' "
             "train.monitor)")] = None,
    format_: Annotated[str, typer.Option("--format", help="table | csv | md | json (to stdout)")] = "table",
    x: Annotated[str, typer.Option("--x", help="x axis of the overlaid curves: step | epoch | time")] = "step",
    individual: Annotated[bool, typer.Option(help="Also list the runs inside each seed group.")] = False,
) -> None:
    """Finished (or interrupted) runs side by side: config differences, table, overlaid curves."""

    def body() -> int:
        from .commands.compare import compare as command

        stdout, stderr = _consoles()
        return command(list(run_dirs), out=out, target=target, metric=metric, fmt=format_, x=x,
                            individual=individual, console=stdout, err_console=stderr)

    _guard(body)


@app.command("list")
def list_registries() -> None:
    """What the registries hold: datasets, models, optimizers, losses, schedules, metrics."""

    def body() -> None:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        from .catalog import read_catalog

        console = Console(highlight=False)
        for kind, entry in read_catalog().items():
            plural = kind + ("es" if kind.endswith("s") else "s")
            table = Table(title=plural, title_justify="left", show_header=False, box=None)
            table.add_column("name", style="bold")
            table.add_column("what")
            for name, text in entry["entries"]:
                table.add_row(escape(name), escape(text))  # help text is plain: "[...]" is no markup
            if entry.get("hint"):
                table.add_row("...", escape(entry["hint"]))
            console.print(table)
            console.print()

    _guard(body)


def main() -> None:
    """The `lrtool` command: run it, then leave the interpreter quickly and quietly."""
    try:
        app()
    finally:  # app() ends with SystemExit, which goes on to the interpreter
        _prepare_exit()


def _prepare_exit() -> None:
    """Make the interpreter's shutdown short and signal-proof; everything is already written.

    - `gc.freeze()`: the shutdown skips the cyclic collection of every object torch, dynamo and
      matplotlib made (about 1-2 s after a run); refcounted objects are still finalised, and every
      file, CSV and logger was closed by the command before this point.
    - SIGINT, SIGTERM and SIGHUP are ignored for the rest of the shutdown (now a fraction of a second): a second
      Ctrl-C after an interrupted run neither prints a KeyboardInterrupt traceback from a finaliser nor
      replaces the command's exit code. An ignored signal is the one kind the interpreter's own
      finalisation does not reset to the default (which would kill the process with the signal).
    Only the console entry point does this: the in-process CliRunner of the tests keeps its process as is.
    """
    import gc
    import signal

    from .errors import STOP_SIGNALS

    try:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
    except ValueError:  # main() called from another thread: signals stay as they are
        pass
    gc.freeze()


if __name__ == "__main__":  # pragma: no cover
    main()

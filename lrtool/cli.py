"""The `lrtool` command line: each command parses, calls the library and prints.

Heavy packages (torch, torchvision, pandas, matplotlib) are imported inside the commands, so
`lrtool --help` and argument errors answer at once.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from .errors import LrtoolError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="lrtool: LR range tests, schedules and experiment runs for PyTorch.",
)

_DEBUG = {"on": False}

SetOpt = Annotated[Optional[list[str]], typer.Option(
    "--set", "-s", metavar="KEY=VALUE",
    help="Override a config key, value parsed as YAML (repeatable): --set optimizer.lr=3e-3")]
OutOpt = Annotated[Optional[Path], typer.Option(
    "--out", "-o", help="Run directory (must not exist or be empty); default runs/<config>-<command>-<time>")]
DeviceOpt = Annotated[Optional[str], typer.Option("--device", "-d", help="auto | cpu | cuda | cuda:N | mps")]
ConfigArg = Annotated[Optional[Path], typer.Argument(
    help="YAML config file; omitted: the built-in quickstart defaults", show_default=False)]


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False) -> None:
    _DEBUG["on"] = debug


def _fail(message: str, code: int) -> None:
    print(f"lrtool: error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def _guard(fn: Callable[[], int | None]) -> None:
    """Run a command body: LrtoolError -> one line + its exit code; anything else -> one line + exit 1."""
    try:
        code = fn()
    except typer.Exit:
        raise
    except LrtoolError as e:
        if _DEBUG["on"]:
            raise
        _fail(str(e), e.exit_code)
    except KeyboardInterrupt:
        print("lrtool: interrupted", file=sys.stderr)
        raise typer.Exit(130)
    except Exception as e:  # noqa: BLE001 - the user sees one line; --debug shows the traceback
        if _DEBUG["on"]:
            raise
        _fail(f"{type(e).__name__}: {e} (run with --debug for the traceback)", 1)
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


def _consoles() -> tuple[Any, Any]:
    from rich.console import Console

    return Console(highlight=False), Console(stderr=True, highlight=False)


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
) -> None:
    """LR range test: sweep the LR, smooth the loss, stop on divergence, suggest learning rates."""

    def body() -> int:
        from .config import dump_config, load_config

        cfg = load_config(config, _overrides(set_, device=device, **{
            "find_lr.start_lr": start_lr, "find_lr.end_lr": end_lr, "find_lr.num_iter": num_iter,
            "find_lr.mode": mode}))
        from .build import build
        from .finder import run_find_lr
        from .runs import RunDir

        stdout, stderr = _consoles()
        setup = build(cfg)
        run = RunDir.create(out, Path(config).stem if config else "quickstart", "find-lr")
        run.write_config(dump_config(cfg))
        with _progress(stderr) as progress:
            summary = run_find_lr(setup, run, config_path=str(config) if config else None, progress=progress)
        _print_find_lr(stdout, summary, run.path)
        return 130 if summary["status"] == "interrupted" else 0

    _guard(body)


def _print_find_lr(console: Any, s: dict[str, Any], path: Path) -> None:
    from rich.table import Table

    from .finder import snippet

    stop = s["stop"]
    console.print(f"range test: {stop['steps_run']} steps, stopped: {stop['reason']} - {stop['message']}")
    table = Table(title="suggested learning rates", title_justify="left")
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
        console.print(text, markup=False, highlight=False)
    console.print(f"wrote {path}/ (lr_find.csv, lr_find.png, summary.json, config.yaml)")


@app.command("list")
def list_registries() -> None:
    """What the registries hold: datasets, models, optimizers, losses, schedules."""

    def body() -> None:
        from rich.console import Console
        from rich.table import Table

        from .data import DATASETS
        from .models import MODELS
        from .optim import LOSSES, OPTIMIZERS

        registries = [DATASETS, MODELS, OPTIMIZERS, LOSSES]
        try:
            from .schedules import SCHEDULES

            registries.append(SCHEDULES)
        except ImportError:
            pass
        console = Console(highlight=False)
        for reg in registries:
            plural = reg.kind + ("es" if reg.kind.endswith("s") else "s")
            table = Table(title=plural, title_justify="left", show_header=False, box=None)
            table.add_column("name", style="bold")
            table.add_column("what")
            for name in reg.names():
                table.add_row(name, reg.help(name))
            if reg.fallback_hint:
                table.add_row("...", reg.fallback_hint)
            console.print(table)
            console.print()

    _guard(body)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

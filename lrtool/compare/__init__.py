"""`lrtool compare`: read run directories and put them side by side.

Only files are read, never a server or a checkpoint: a run that is still running, was interrupted or
was killed is compared from what its CSVs hold at the moment, and labelled as such. The pieces are
small functions the tests call directly: `load_run`, `config_diff`, `seed_groups`, `steps_to_target`,
`comparison_table`; `compare_runs` ties them together for the CLI.

load.py reads runs (only through lrtool.rundir), facts.py turns one run into numbers (targets and
steps-to-target included), table.py builds the table, seed groups and config diff, render.py shows
it (rich, markdown, CSV, JSON) and series.py makes the overlay plots' curves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..rundir import RunDir, atomic_write_text, higher_is_better, now_iso
from .facts import (
    EPOCH_METRICS,
    FORMATS,
    METRICS,
    SUGGESTIONS,
    TEST_METRICS,
    X_AXES,
    Target,
    _choice,
    best_and_final,
    check_metric,
    default_metric,
    parse_target,
    run_metrics,
    run_record,
    status_label,
    steps_to_target,
)
from .load import RUN_FILES, Run, expand_patterns, flatten, load_run, load_runs
from .render import diff_lines, format_duration, print_table, render_rows, to_csv, to_json, to_markdown, verdict
from .series import write_plots
from .table import (
    Comparison,
    build_comparison,
    comparison_table,
    config_diff,
    format_value,
    group_label,
    machine_table,
    seed_groups,
)

__all__ = ["EPOCH_METRICS", "FORMATS", "METRICS", "RUN_FILES", "SUGGESTIONS", "TEST_METRICS", "X_AXES",
           "Comparison", "Run", "Target", "best_and_final",
           "check_metric", "default_metric", "run_metrics", "build_comparison", "compare_runs",
           "comparison_table", "config_diff", "diff_lines", "expand_patterns", "flatten", "format_duration",
           "format_value", "group_label", "higher_is_better", "load_run", "load_runs", "machine_table",
           "parse_target", "print_table", "render_rows", "run_record", "seed_groups",
           "status_label", "steps_to_target", "to_csv", "to_json", "to_markdown", "verdict", "write_outputs",
           "write_plots"]


# --------------------------------------------------------------------------- the command


def _output_dir(out: str | Path | None, root: str | Path = "runs") -> RunDir:
    """--out exactly (new or empty), else a new runs/compare-<YYYYmmdd-HHMMSS>[-N]."""
    return RunDir.create(out, "compare", "", root=root)


def write_outputs(cmp: Comparison, out: str | Path | None, x: str = "step",
                  warnings: list[str] | None = None) -> tuple[Path, list[str]]:
    """comparison.csv, comparison.md, summary.json and the plots.

    Args:
        cmp: the comparison.
        out: --out, or None for a new runs/compare-<time>.
        x: x axis of the train plots.
        warnings: where to report a plot that could not be drawn.

    Returns:
        (directory, names of the files written).
    """
    run_dir = _output_dir(out)
    atomic_write_text(run_dir.file("comparison.csv"), to_csv(cmp))
    atomic_write_text(run_dir.file("comparison.md"), to_markdown(cmp))
    names = ["comparison.csv", "comparison.md"]
    try:
        names += write_plots(cmp, run_dir.path, x)
    except Exception as e:  # noqa: BLE001 - the table is the answer; a figure is a bonus
        if warnings is not None:
            warnings.append(f"could not draw the plots: {type(e).__name__}: {e}")
    # marks the directory as a compare output, so a later `compare runs/*` skips it by name
    run_dir.write_summary({"command": "compare", "status": "completed", "created": now_iso(),
                           "runs": [r.shown_path for r in cmp.runs], "metric": cmp.metric,
                           "target": str(cmp.target) if cmp.target else None, "files": names})
    return run_dir.path, names


def compare_runs(patterns: list[str], *, out: str | Path | None = None, target: str | None = None,
                 metric: str | None = None, fmt: str = "table", x: str = "step", individual: bool = False,
                 console: Any = None, err_console: Any = None) -> int:
    """`lrtool compare`: print the comparison and write it, with plots, to a directory.

    Args:
        patterns: run directories or globs (train and find-lr runs).
        out: output directory (new or empty); None: runs/compare-<YYYYmmdd-HHMMSS> for the table
            format, nothing for csv, md and json.
        target: "METRIC=VALUE": steps/epochs/seconds until a run reached it.
        metric: ranks the rows (best first, by its direction) and gets a delta column; None: the
            runs' monitor (train.monitor, by default their first validation metric).
        fmt: table (rich) | csv | md | json, printed to stdout.
        x: x axis of the train plots: step | epoch | time.
        individual: also list each run of a seed group.
        console: rich Console for stdout; err_console: for warnings and notes.

    Returns:
        The exit code, 0. Bad input raises LrtoolError.
    """
    from rich.console import Console
    from rich.text import Text

    fmt = _choice("--format", fmt, FORMATS)
    x = _choice("--x", x, X_AXES)
    if metric is not None:
        check_metric("--metric", metric)  # its form now; against the runs' columns once they are read
    tgt = parse_target(target) if target is not None else None
    console = console or Console(highlight=False)
    err_console = err_console or Console(stderr=True, highlight=False)
    runs, warnings = load_runs(patterns)
    for w in warnings:
        err_console.print(Text(f"warning: {w}", style="yellow"), soft_wrap=True)
    if tgt is not None:
        epoch_metrics, test_metrics = run_metrics(runs)
        if epoch_metrics or test_metrics:
            check_metric("--target metric", tgt.metric, epoch_metrics + test_metrics)
    cmp = build_comparison(runs, target=tgt, metric=metric, individual=individual)
    problems: list[str] = []
    # csv, md and json are the answer on stdout (for scripts): they leave files only where --out asks
    written = write_outputs(cmp, out, x, problems) if out is not None or fmt == "table" else None
    if fmt == "table":
        print_table(cmp, console)
    else:
        text = {"csv": to_csv, "md": to_markdown, "json": to_json}[fmt](cmp)
        # plain write: rich would wrap long lines and break the machine-readable output
        console.file.write(text)
        console.file.flush()
    for r in runs:
        for note in r.notes:
            err_console.print(Text(f"note: {r.name}: {note}", style="yellow"), soft_wrap=True)
    for p in problems:
        err_console.print(Text(f"warning: {p}", style="yellow"), soft_wrap=True)
    if written is not None:
        out_path, names = written
        where = err_console if fmt != "table" else console
        where.print(Text(f"wrote {out_path}/ ({', '.join(names)})"), soft_wrap=True)
    return 0

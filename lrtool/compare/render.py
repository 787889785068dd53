"""Showing the comparison: the rich table, markdown, CSV and JSON, and the verdict."""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..rundir import higher_is_better
from .facts import EPOCH_METRICS, SUGGESTIONS, TEST_METRICS
from .table import Comparison, _has_values, _sort_key, format_value, machine_table

# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class _Col:
    header: str
    key: str
    kind: str  # text, status, acc, loss, int, time, lr, target, target_time, delta, steps, clr, minloss
    better: str | None = None  # "max" / "min": the best value in the column is highlighted


def _display_columns(cmp: Comparison, command: str) -> list[_Col]:
    """The columns the terminal and markdown tables show for train or find-lr rows."""
    df = cmp.table[cmp.table["command"] == command]

    def has(col: str) -> bool:
        return col in df and _has_values(df[col])

    cols = [_Col("run", "run", "text"), _Col("schedule", "schedule", "text"),
            _Col("status", "status_label", "status")]
    if command == "find-lr":
        cols.append(_Col("steps", "steps_done", "int"))
        cols += [_Col(f"{s}\nlr", f"{s}_lr", "lr") for s in SUGGESTIONS if has(f"{s}_lr")]
        if has("clr_max_lr"):
            cols.append(_Col("cyclic\nbase..max", "clr_max_lr", "clr"))
        if has("min_loss"):
            cols.append(_Col("min loss\n@ lr", "min_loss", "minloss"))
        if has("wall_s"):
            cols.append(_Col("wall\ntime", "wall_s", "time"))
        return cols
    for m in EPOCH_METRICS:
        if f"best_{m}" in df:
            better = "max" if higher_is_better(m) else "min"
            kind = "acc" if higher_is_better(m) else "loss"
            cols += [_Col(f"{m}\nfinal", f"final_{m}", kind, better),
                     _Col(f"{m}\nbest", f"best_{m}", kind, better)]
    for m in TEST_METRICS:
        if has(m):
            cols.append(_Col(m, m, "acc" if higher_is_better(m) else "loss",
                             "max" if higher_is_better(m) else "min"))
    if has("wall_s"):
        # not highlighted: a run that stopped early is quick without being better
        cols.append(_Col("wall\ntime", "wall_s", "time"))
    if cmp.target is not None:
        # one column (steps, epochs, seconds) keeps the table narrow; fewest steps is highlighted
        cols.append(_Col(f"to reach\n{cmp.target}", "target_step", "target", "min"))
    delta = f"delta_{_sort_key(cmp.metric)}"
    if has(delta):
        what = cmp.metric if cmp.metric in TEST_METRICS else f"best {cmp.metric}"
        cols.append(_Col(f"Δ {what}".replace(" ", "\n", 1), delta,
                         "delta_acc" if higher_is_better(cmp.metric) else "delta"))
    return cols


def _isnum(v: Any) -> bool:
    """A finite real number (numpy scalars included, bools and pandas NA not)."""
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and math.isfinite(v)


def _count(v: Any) -> int:
    """A count cell as an int (NaN and NA are 0)."""
    return int(v) if _isnum(v) else 0


def format_duration(seconds: float) -> str:
    """12.3s, 3m04s, 1h02m."""
    if not _isnum(seconds):
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def _fmt_number(v: Any, kind: str) -> str:
    """A number as its column shows it ("-" when missing)."""
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if not _isnum(v):  # missing, or NaN (no validation split, or a diverged run's last epoch)
        return "-"
    if kind == "acc":
        return f"{v:.4f}"
    if kind == "loss":
        return f"{v:.4g}"
    if kind == "lr":
        return f"{v:.3g}"
    if kind in ("time", "target_time"):
        return format_duration(v)
    if kind == "delta_acc":
        return f"{v:+.4f}"
    if kind == "delta":
        return f"{v:+.4g}"
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}"


def _mean_std(row: pd.Series, key: str, kind: str, sep: str = " ") -> str:
    """mean ± std (n) for a seed group's column; `sep` goes before the ±."""
    n = _count(row.get(f"{key}_n"))
    mean, std = row.get(key), row.get(f"{key}_std")
    if not _isnum(mean):
        return "-"
    fmt = kind
    text = _fmt_number(mean, fmt)
    if _isnum(std):
        text += f"{sep}± " + (format_duration(std) if fmt == "time" else _fmt_number(std, fmt))
    return f"{text} ({n})"


def _cell(row: pd.Series, col: _Col, sep: str = " ") -> str:
    """The text of one cell; seed groups show mean ± std (n). `sep` "\n" stacks a cell's parts."""
    group = _count(row.get("n_runs")) > 1
    if col.kind == "text":
        text = str(row.get(col.key) or "")
        if col.key == "run" and row.get("group") and not group:
            text = "  · " + text  # one run of the seed group above
        return text
    if col.kind == "status":
        text = str(row.get("status_label") or "")
        done, planned = row.get("epochs_done"), row.get("epochs_planned")
        if row.get("command") == "train" and row.get("status") != "completed" and not group \
                and _isnum(done) and _isnum(planned):
            text += f" (ep {done:.0f}/{planned:.0f})"
        return text
    if col.kind == "clr":
        lo, hi = row.get("clr_base_lr"), row.get("clr_max_lr")
        return f"{lo:.3g}..{hi:.3g}" if _isnum(lo) and _isnum(hi) else "-"
    if col.kind == "minloss":
        v, lr = row.get("min_loss"), row.get("min_loss_lr")
        return f"{v:.4g} @ {lr:.3g}" if _isnum(v) and _isnum(lr) else "-"
    v = row.get(col.key)
    if col.kind == "target":
        if not _isnum(v):
            return "not reached"
        parts = [("step ", "target_step", "int"), ("ep ", "target_epoch", "int"), ("", "target_s", "time")]
        if not group:
            return (", " if sep == " " else sep).join(
                prefix + _fmt_number(row.get(key), kind) for prefix, key, kind in parts)
        texts = [prefix + _mean_std(row, key, kind).rsplit(" (", 1)[0] for prefix, key, kind in parts]
        reached = f"({_count(row.get('target_reached'))}/{_count(row['n_runs'])} reached)"
        return (", " if sep == " " else sep).join(texts) + (" " if sep == " " else sep) + reached
    if group and f"{col.key}_n" in row:
        return _mean_std(row, col.key, col.kind, sep)
    text = _fmt_number(v, col.kind)
    if col.key.startswith("best_") and text != "-":
        epoch = row.get(f"{col.key}_epoch")
        if _isnum(epoch):
            text += f"{sep}@ep{epoch:.0f}"
    return text


def _best_rows(df: pd.DataFrame, col: _Col) -> set[int]:
    """Positions of the rows holding the best value of a column, among runs and groups."""
    if col.better is None or col.key not in df:
        return set()
    values = pd.to_numeric(df[col.key], errors="coerce").reset_index(drop=True)
    top = ((df["group"] == "") | (df["n_runs"] > 1)).reset_index(drop=True)  # not a group's members
    if col.key == "target_step" and "target_reached" in df:
        # a seed group wins the target column only when every one of its runs reached the target
        every = (df["target_reached"].fillna(0) >= df["n_runs"].fillna(1)).reset_index(drop=True)
        top = top & every
    values = values[top & values.map(_isnum)]
    if len(values) < 2:
        return set()
    best = values.max() if col.better == "max" else values.min()
    return set(values.index[values == best])


def render_rows(cmp: Comparison, command: str = "train", sep: str = " "
                ) -> tuple[list[_Col], list[list[str]], list[set[int]]]:
    """For the train (or find-lr) rows: columns, cell texts, and per column the rows to highlight.

    Args:
        cmp: the comparison.
        command: "train" or "find-lr": which rows.
        sep: between a value and its ± std or @epoch; "\n" keeps terminal columns narrow.

    Returns:
        (columns, cells as rows of strings, for each column the row positions to highlight).
    """
    df = cmp.table[cmp.table["command"] == command]
    if df.empty:
        return [], [], []
    cols = _display_columns(cmp, command)
    cells = [[_cell(row, c, sep) for c in cols] for _, row in df.iterrows()]
    return cols, cells, [_best_rows(df, c) for c in cols]


def diff_lines(cmp: Comparison) -> list[str]:
    """`key: value (runs), value (runs)` for each differing config key."""
    lines = []
    for key, per_run in cmp.diff.items():
        by_value: dict[str, list[str]] = {}
        for name, v in per_run.items():
            by_value.setdefault(format_value(v) if v is not None else "(unset)", []).append(name)
        lines.append(f"{key}: " + ", ".join(f"{v} ({', '.join(names)})" for v, names in by_value.items()))
    return lines


def verdict(cmp: Comparison) -> list[str]:
    """Which run is best by the ranking metric and by how much; which reached the target first."""
    df = cmp.table
    top = df[((df["group"] == "") | (df["n_runs"] > 1)) & (df["command"] == "train")]
    out = []
    key = _sort_key(cmp.metric)
    ranked = top[top[key].map(_isnum)] if key in top else top.iloc[0:0]
    if not ranked.empty:
        kind = "acc" if higher_is_better(cmp.metric) else "loss"
        what = cmp.metric if key == cmp.metric else f"best {cmp.metric}"
        first = ranked.iloc[0]
        text = f"best by {what}: {first['run']} ({_fmt_number(first[key], kind)})"
        if len(ranked) > 1:
            second = ranked.iloc[1]
            gap = abs(first[key] - second[key])
            text += f", {_fmt_number(gap, kind)} {'above' if kind == 'acc' else 'below'} {second['run']}"
        out.append(text)
    if cmp.target is not None:
        reached = top[top["target_step"].map(_isnum)] if "target_step" in top else top.iloc[0:0]
        if "n_runs" in reached and "target_reached" in reached:
            # a seed group counts only when every run in it reached the target
            reached = reached[reached["target_reached"].fillna(0) >= reached["n_runs"].fillna(1)]
        if reached.empty:
            out.append(f"no run reached {cmp.target}")
        else:
            first = reached.loc[reached["target_step"].idxmin()]
            out.append(f"fewest steps to reach {cmp.target}: {first['run']} "
                       f"(step {_fmt_number(first['target_step'], 'int')}, "
                       f"epoch {_fmt_number(first['target_epoch'], 'int')}, "
                       f"{format_duration(first.get('target_s'))})")
    return out


def _sections(cmp: Comparison) -> list[tuple[str, str]]:
    """(command, title) of the tables to show: training runs, then range tests."""
    have = set(cmp.table["command"])
    titles = [("train", "training runs"), ("find-lr", "LR range tests")]
    return [(c, t) for c, t in titles if c in have]


def to_markdown(cmp: Comparison) -> str:
    """The comparison as markdown for a pull request: config differences, then the table(s)."""
    out = []
    lines = diff_lines(cmp)
    if lines:
        out.append("**Config differences**\n")
        out += [f"- `{line.split(': ', 1)[0]}`: {line.split(': ', 1)[1]}" for line in lines]
        out.append("")
    if cmp.target is not None:
        out += [f"Target: `{cmp.target}`", ""]

    def esc(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")

    sections = _sections(cmp)
    for command, title in sections:
        cols, cells, highlight = render_rows(cmp, command)
        if len(sections) > 1:
            out += [f"**{title[0].upper()}{title[1:]}**", ""]
        out.append("| " + " | ".join(esc(c.header) for c in cols) + " |")
        out.append("|" + "|".join("---" if c.kind in ("text", "status") else "---:" for c in cols) + "|")
        for i, row in enumerate(cells):
            shown = [f"**{esc(v)}**" if i in highlight[j] else esc(v) for j, v in enumerate(row)]
            out.append("| " + " | ".join(shown) + " |")
        out.append("")
    out += verdict(cmp)
    return "\n".join(out).rstrip("\n") + "\n"


def to_csv(cmp: Comparison) -> str:
    """The machine table as CSV."""
    return machine_table(cmp).to_csv(index=False)


def to_json(cmp: Comparison) -> str:
    """The machine table as a JSON list of row objects (NaN as null)."""
    records = json.loads(machine_table(cmp).to_json(orient="records"))
    return json.dumps(records, indent=2) + "\n"


def print_table(cmp: Comparison, console: Any) -> None:
    """The rich table(s), with the config differences above and the verdict below."""
    from rich import box
    from rich.segment import Segment
    from rich.table import Table
    from rich.text import Text

    lines = diff_lines(cmp)
    if lines:
        console.print(Text("config differences:", style="bold"))
        for line in lines:
            console.print(Text("  " + line))
    elif len(cmp.runs) > 1:
        console.print(Text("configs: identical"))
    for command, title in _sections(cmp):
        cols, cells, highlight = render_rows(cmp, command, sep="\n")
        df = cmp.table[cmp.table["command"] == command]
        n_runs = int(df.loc[(df["group"] == "") | (df["n_runs"] > 1), "n_runs"].sum())
        n_groups = int((df["n_runs"] > 1).sum())
        title += f": {n_runs} run{'s' if n_runs != 1 else ''}"
        if n_groups:
            title += f", {n_groups} seed group{'s' if n_groups > 1 else ''} as mean ± std (n)"
        if command == "train" and cmp.target is not None:
            title += f"; target {cmp.target}"
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for j, c in enumerate(cols):
            text = c.kind in ("text", "status")
            longest = max((len(line) for row in cells for line in row[j].split("\n")), default=1)
            # numbers never break mid-value; names and statuses wrap only past a readable width
            table.add_column(c.header, justify="left" if text else "right", no_wrap=not text,
                             min_width=min(longest, 16) if text else None)
        for i, row in enumerate(cells):
            table.add_row(*[Text(v, style="bold green" if i in highlight[j] else "")
                            for j, v in enumerate(row)])
        # written to a file or a pipe, a wide table is printed whole rather than squeezed into
        # ellipses; a terminal gets it fitted to its width, since soft-wrapped rows are unreadable
        if not console.is_terminal and console.width < 220:
            lines = console.render_lines(table, console.options.update_width(220), pad=False)
            natural = max(Segment.get_line_length(line) for line in lines)
            if natural > console.width:
                table.width = natural
        console.print(table, crop=False)
    for line in verdict(cmp):
        console.print(Text(line))

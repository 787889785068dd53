"""The comparison table: one row per run or seed group, the config diff, the machine-readable table."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import pandas as pd

from ..rundir import higher_is_better
from .facts import (
    EPOCH_METRICS,
    METRICS,
    SUGGESTIONS,
    TEST_METRICS,
    Target,
    check_metric,
    default_metric,
    run_metrics,
    run_record,
)
from .load import Run, _num

# --------------------------------------------------------------------------- config diff, seed groups


def _value_key(v: Any) -> str:
    """A comparable, hashable form of a config value."""
    return json.dumps(v, sort_keys=True, default=str)


def format_value(v: Any) -> str:
    """A config value as a person would write it in YAML."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v, default=str)
    return str(v)


def config_diff(runs: Sequence[Run]) -> dict[str, dict[str, Any]]:
    """The config keys whose values differ between runs, and nothing else of the config.

    Args:
        runs: loaded runs; those without a config.yaml are left out.

    Returns:
        {dotted key: {run name: value}} in key order; a run lacking a key maps to None. A key unset in
        every run (missing or None) is no difference.
    """
    with_config = [r for r in runs if r.has_config]
    keys: list[str] = []
    for r in with_config:
        keys += [k for k in r.config if k not in keys]
    diff: dict[str, dict[str, Any]] = {}
    for key in keys:
        # missing and None both mean unset (an older config lacks a key a newer one writes as null)
        values = [r.config.get(key) for r in with_config]
        if len({_value_key(v) for v in values}) > 1:
            diff[key] = {r.name: v for r, v in zip(with_config, values)}
    return diff


def seed_groups(runs: Sequence[Run]) -> list[list[Run]]:
    """Runs whose configs differ only in `seed` (same command), in order of first appearance.

    Args:
        runs: loaded runs; a run without a config.yaml is always alone.

    Returns:
        A list of groups; a group of one is a plain run.
    """
    groups: dict[Any, list[Run]] = {}
    for i, r in enumerate(runs):
        if r.has_config:
            key: Any = (r.command, _value_key({k: v for k, v in r.config.items() if k != "seed"}))
        else:
            key = ("alone", i)
        groups.setdefault(key, []).append(r)
    return list(groups.values())


def group_label(group: Sequence[Run], by_names: bool = False) -> str:
    """A seed group's name: the runs' common name prefix (whole tokens) and their seeds.

    Args:
        group: the runs of one seed group.
        by_names: name it by its first runs' names instead (when prefixes collide).

    Returns:
        e.g. "digits-cyclic (seeds 0, 1, 2)".
    """
    names = [r.name for r in group]
    prefix = os.path.commonprefix(names)
    # cut back to a token boundary so "digits-s0, digits-s1" give "digits", not "digits-s"
    if any(len(n) > len(prefix) and n[len(prefix)].isalnum() for n in names):
        cut = max(prefix.rfind(c) for c in "-_. /")
        prefix = prefix[:cut] if cut > 0 else ""
    prefix = prefix.rstrip("-_. /")
    if not prefix or by_names:
        prefix = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
    seeds = ", ".join(format_value(r.config.get("seed", r.summary.seed)) for r in group)
    return f"{prefix} (seeds {seeds})"


def _labels(groups: Sequence[Sequence[Run]]) -> list[str]:
    """Row names of the groups: a run's name, or a seed group's label, unique among them."""
    labels = [g[0].name if len(g) == 1 else group_label(g) for g in groups]
    for i, g in enumerate(groups):
        # runs named <config>-<schedule>-<time> share prefixes across groups: fall back to names
        if len(g) > 1 and labels.count(labels[i]) > 1:
            labels[i] = group_label(g, by_names=True)
    return labels


# --------------------------------------------------------------------------- the table

def value_columns(epoch_metrics: Sequence[str] = EPOCH_METRICS,
                  test_metrics: Sequence[str] = TEST_METRICS) -> list[str]:
    """Results that a seed group shows as mean ± std (n): the table gets <col>_std and <col>_n."""
    return ([f"{kind}_{m}" for m in epoch_metrics for kind in ("final", "best")]
            + list(test_metrics)
            + ["wall_s", "target_step", "target_epoch", "target_s"]
            + [f"{s}_lr" for s in SUGGESTIONS]
            + ["clr_base_lr", "clr_max_lr", "onecycle_max_lr", "min_loss", "min_loss_lr"])


def mean_columns(epoch_metrics: Sequence[str] = EPOCH_METRICS) -> list[str]:
    """Bookkeeping a seed group shows as a plain mean."""
    return [f"best_{m}_{at}" for m in epoch_metrics for at in ("epoch", "step")] + ["steps_done", "epochs_done"]


# a classifier's (kept for callers that import them)
VALUE_COLUMNS = value_columns()
MEAN_COLUMNS = mean_columns()


def _joined(values: Iterable[Any]) -> str:
    """One value when all agree, else the distinct values joined (in order)."""
    distinct: list[str] = []
    for v in values:
        s = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
        if s not in distinct:
            distinct.append(s)
    return distinct[0] if len(distinct) == 1 else " / ".join(distinct)


def _same(values: pd.Series) -> float:
    """The value all rows share, else NaN."""
    distinct = set(values.dropna().astype(float))
    return distinct.pop() if len(distinct) == 1 else math.nan


def _group_status(labels: Sequence[str], statuses: Sequence[str]) -> str:
    """'completed' when all agree, else counts like '2 completed, 1 diverged'."""
    if len(set(labels)) == 1:
        return labels[0]
    counts: dict[str, int] = {}
    for s in statuses:
        counts[s] = counts.get(s, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in counts.items())


def _aggregate(label: str, records: list[dict[str, Any]], epoch_metrics: Sequence[str] = EPOCH_METRICS,
               test_metrics: Sequence[str] = TEST_METRICS) -> dict[str, Any]:
    """One row for a seed group: mean in each numeric column, plus <col>_std and <col>_n."""
    df = pd.DataFrame(records)
    row: dict[str, Any] = {"run": label, "group": label, "n_runs": len(records),
                           "path": ";".join(df["path"]), "command": records[0]["command"],
                           "schedule": _joined(df["schedule"]),
                           "status": _joined(df["status"]),
                           "status_label": _group_status(list(df["status_label"]), list(df["status"])),
                           "epochs_planned": _same(df.get("epochs_planned", pd.Series(dtype=float)))}
    values_cols = value_columns(epoch_metrics, test_metrics)
    for col in [*values_cols, *mean_columns(epoch_metrics)]:
        if col not in df:
            continue
        values = df[col].astype(float)
        values = values.where(values.map(math.isfinite))  # a diverged run's inf is not averaged
        n = int(values.notna().sum())
        row[col] = float(values.mean()) if n else math.nan
        if col in values_cols:
            row[f"{col}_std"] = float(values.std(ddof=1)) if n > 1 else math.nan
            row[f"{col}_n"] = n
    if "target_reached" in df:
        row["target_reached"] = float(df["target_reached"].fillna(0).sum())
    return row


def _sort_key(metric: str) -> str:
    """The table column a metric ranks by: its best value (test metrics have only one)."""
    return metric if metric.startswith("test_") else f"best_{metric}"


@dataclass
class Comparison:
    """The comparison as data: the machine table, the config diff, and what to tell the user."""

    runs: list[Run]
    groups: list[list[Run]]
    table: pd.DataFrame
    diff: dict[str, dict[str, Any]]
    metric: str
    target: Target | None
    individual: bool
    epoch_metrics: list[str] = field(default_factory=lambda: list(EPOCH_METRICS))  # the runs' columns
    test_metrics: list[str] = field(default_factory=lambda: list(TEST_METRICS))


def resolve_metric(runs: Sequence[Run], metric: str | None) -> tuple[str, list[str], list[str]]:
    """(ranking metric, epoch metrics, test metrics) of a comparison: --metric checked against the runs'
    columns, or by default the runs' monitor (their first validation metric for runs without one)."""
    epoch_metrics, test_metrics = run_metrics(runs)
    known = epoch_metrics + test_metrics
    if metric is None:
        return default_metric(runs, known), epoch_metrics, test_metrics
    return check_metric("--metric", metric, known or METRICS), epoch_metrics, test_metrics


def comparison_table(runs: Sequence[Run], *, target: Target | None = None, metric: str | None = None,
                     individual: bool = False) -> pd.DataFrame:
    """The comparison as a DataFrame: one row per run, seed groups as one mean row.

    Args:
        runs: loaded runs.
        target: the --target, or None.
        metric: the metric that ranks the rows (best value first, by its direction) and gets a delta
            column; None: the runs' monitor.
        individual: also list each run of a seed group, right after its group row.

    Returns:
        A DataFrame with raw numbers: columns run, group (the seed group a row belongs to, empty
        otherwise), n_runs, command, schedule, status_label, progress columns, final_/best_<metric>
        and best_<metric>_epoch/_step, test_*, wall_s, target_*, find-lr suggestion columns,
        delta_<ranked column>; for seed groups <col>_std and <col>_n. Columns no row has are dropped.
    """
    metric, epoch_metrics, test_metrics = resolve_metric(runs, metric)
    blocks: list[list[dict[str, Any]]] = []
    groups = seed_groups(runs)
    for group, label in zip(groups, _labels(groups)):
        records = [run_record(r, target, epoch_metrics, test_metrics) for r in group]
        if len(group) == 1:
            blocks.append([{**records[0], "group": "", "n_runs": 1}])
            continue
        members = [{**rec, "group": label, "n_runs": 1} for rec in records] if individual else []
        blocks.append([_aggregate(label, records, epoch_metrics, test_metrics)] + members)
    key = _sort_key(metric)
    sign = -1.0 if higher_is_better(metric) else 1.0

    def rank(block: list[dict[str, Any]]) -> tuple[int, float]:
        v = _num(block[0].get(key))
        return (0, sign * v) if math.isfinite(v) else (1, 0.0)

    blocks.sort(key=rank)  # stable: ties and runs without the metric keep the order given
    rows = [row for block in blocks for row in block]
    df = pd.DataFrame(rows)
    for col in [c for c in df.columns if c.endswith("_n") and c[:-2] in df]:
        plain = df["n_runs"] == 1  # a single run counts 1 where it has the value, 0 where not
        df.loc[plain, col] = df.loc[plain, col[:-2]].notna().astype(int)
    top = [row for row in (b[0] for b in blocks) if math.isfinite(_num(row.get(key)))]
    if len(top) >= 2 and key in df:
        df[f"delta_{key}"] = df[key] - _num(top[0][key])
    return _select_columns(df, metric, epoch_metrics, test_metrics)


def _select_columns(df: pd.DataFrame, metric: str, epoch_metrics: Sequence[str] = EPOCH_METRICS,
                    test_metrics: Sequence[str] = TEST_METRICS) -> pd.DataFrame:
    """Order the columns and drop the ones no row has a value in (train columns only when needed)."""
    shown = [m for m in epoch_metrics if m.startswith("val_")]
    has_val = any(f"best_{m}" in df and df[f"best_{m}"].notna().any() for m in shown)
    if metric.startswith("train_") or not has_val:
        shown += [m for m in epoch_metrics if m.startswith("train_") and m not in shown]
    order = ["run", "group", "n_runs", "command", "schedule", "status", "status_label",
             "steps_done", "epochs_done", "epochs_planned"]
    for m in shown:
        order += [f"final_{m}", f"best_{m}", f"best_{m}_epoch", f"best_{m}_step"]
    order += list(test_metrics) + ["wall_s", "target_step", "target_epoch", "target_s", "target_reached"]
    order += [f"{s}_lr" for s in SUGGESTIONS] + ["clr_base_lr", "clr_max_lr", "onecycle_max_lr",
                                                 "min_loss", "min_loss_lr"]
    order += [c for c in df.columns if c.startswith("delta_")]
    cols = []
    for c in order:
        for name in (c, f"{c}_std", f"{c}_n"):
            if name in df and name not in cols:
                cols.append(name)
    cols.append("path")
    keep_always = {"run", "group", "n_runs", "command", "schedule", "status", "status_label", "path"}
    df = df[cols]
    empty = [c for c in cols if c not in keep_always and not _has_values(df[c])]
    # a _n column is kept exactly when its mean column is
    empty += [f"{c}_n" for c in empty if f"{c}_n" in df]
    df = df.drop(columns=sorted(set(empty))).reset_index(drop=True)
    for c in [c for c in df.columns if c.endswith("_n") or c in ("n_runs", "target_reached")]:
        df[c] = df[c].astype("Int64")  # counts print as 3, not 3.0
    return df


def _has_values(s: pd.Series) -> bool:
    """Whether any cell holds something (not NaN, None or "")."""
    return bool(s.map(lambda v: not (v is None or v is pd.NA or v == ""
                                     or (isinstance(v, float) and math.isnan(v)))).any())


def build_comparison(runs: Sequence[Run], *, target: Target | None = None, metric: str | None = None,
                     individual: bool = False) -> Comparison:
    """Everything compare shows, as data.

    Args:
        runs: loaded runs.
        target: the --target, or None.
        metric: ranks the rows (None: the runs' monitor).
        individual: list the runs of each seed group too.

    Returns:
        The Comparison.
    """
    runs = list(runs)
    metric, epoch_metrics, test_metrics = resolve_metric(runs, metric)
    return Comparison(runs=runs, groups=seed_groups(runs),
                      table=comparison_table(runs, target=target, metric=metric, individual=individual),
                      diff=config_diff(runs), metric=metric, target=target, individual=individual,
                      epoch_metrics=epoch_metrics, test_metrics=test_metrics)


def machine_table(cmp: Comparison) -> pd.DataFrame:
    """The table for csv/json: the comparison table plus the differing config keys as columns."""
    df = cmp.table.copy()
    by_path = {r.shown_path: r for r in cmp.runs}
    for key in cmp.diff:
        # a seed group's cell lists its runs' values when they differ (its seeds)
        df[key] = [", ".join(dict.fromkeys(
                       format_value(by_path[p].config[key]) if key in by_path[p].config else ""
                       for p in str(paths).split(";")))
                   for paths in df["path"]]
    return df

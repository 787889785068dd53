"""Several schedules and/or seeds in one `lrtool train`: one run each in a sweep directory, then compared."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..errors import ExitCode, LrtoolError, RunFailed


def run_sweep(config: Path | None, names: list[str | None], seeds: list[int | None], overrides: list[str], *,
              lr_from: Path | None, out: Path | None, stem: str, console: Any, live_console: Any,
              print_run: Callable[[Any, dict, Path], None], live: Callable[[], Any] = lambda: None) -> ExitCode:
    """Train every (schedule, seed) combination in turn, then print their comparison.

    Every combination's config is validated before the first run starts. A run that fails or
    diverges is recorded and the sweep goes on; Ctrl-C stops the sweep after saving the current run.

    `live` makes the progress display of each run (or returns None for none).

    Returns:
        The exit code: OK when every run completed, FAILED when any failed or diverged, SIGINT/SIGTERM
        when interrupted.
    """
    from ..config import check_components
    from ..rundir import RunDir, now_iso
    from ..schedules import SCHEDULES
    from .train import load_train_config, run_training

    plans = []
    for name in names:
        for seed in seeds:
            cfg, taken = load_train_config(config, overrides, schedule=name, seed=seed, lr_from=lr_from)
            check_components(cfg)
            label = f"{SCHEDULES.canonical(cfg.schedule.name) or cfg.schedule.name}-seed{cfg.seed}"
            plans.append((label, cfg, taken))
    labels = [p[0] for p in plans]
    if len(set(labels)) != len(labels):
        raise LrtoolError(f"--schedule/--seeds: the same run appears twice ({', '.join(labels)})")
    parent = RunDir.create(out, stem, "sweep")
    if lr_from is not None and plans[0][2]:
        console.print(f"--lr-from {lr_from}: " + ", ".join(f"{k}={v:.3g}" for k, v in plans[0][2].items()),
                      markup=False)
    console.print(f"sweep of {len(plans)} runs into {parent.path}: {', '.join(labels)}", markup=False)
    record: dict[str, Any] = {"command": "sweep", "status": "running", "started": now_iso(), "config":
                              str(config) if config else None, "runs": []}
    parent.write_summary(record)
    codes = []
    for i, (label, cfg, _taken) in enumerate(plans, 1):
        console.rule(f"[{i}/{len(plans)}] {label}")
        entry: dict[str, Any] = {"name": label, "dir": label}
        try:
            result = run_training(cfg, out=parent.path / label, stem=stem,
                                  config_path=str(config) if config else None,
                                  live=live(), echo=lambda s: console.print(s, markup=False))
            print_run(console, result.summary, result.run_dir)
            entry["status"] = result.summary["status"]
            code = result.exit_code
        except (RunFailed, LrtoolError) as e:  # recorded; the sweep goes on
            console.print(f"run {label} failed: {e}", style="red", markup=False)
            entry.update(status="failed", error=str(e))
            code = ExitCode.FAILED
        codes.append(code)
        record["runs"].append(entry)
        parent.write_summary(record)
        if code.interrupted:
            break
    interrupted = any(c.interrupted for c in codes)
    record.update(status="interrupted" if interrupted else "completed" if not any(codes) else "failed",
                  ended=now_iso())
    parent.write_summary(record)
    run_dirs = [str(parent.path / e["dir"]) for e in record["runs"]
                if (parent.path / e["dir"] / "summary.json").exists()]
    if run_dirs and parent.writes:  # under torchrun: rank 0 only
        from ..compare import compare_runs

        console.rule("comparison")
        compare_runs(run_dirs, out=parent.path / "comparison", console=console, err_console=live_console)
    failed = [e["name"] for e in record["runs"] if e["status"] != "completed"]
    if failed:
        console.print(f"{len(failed)} of {len(plans)} runs did not complete: {', '.join(failed)}", markup=False)
    return next((c for c in codes if c.interrupted), ExitCode.FAILED if any(codes) else ExitCode.OK)

"""Several schedules and/or seeds in one `lrtool train`: one run each in a sweep directory, then compared."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..errors import ExitCode, LrtoolError, RunFailed
from .launch import Launch, member_dir, not_started


def run_sweep(config: Path | None, names: list[str | None], seeds: list[int | None], overrides: list[str], *,
              lr_from: Path | None, out: Path | None, stem: str, console: Any, live_console: Any,
              print_run: Callable[[Any, Any], None], live: Callable[[], Any] = lambda: None,
              launch: Launch | None = None) -> ExitCode:
    """Train every (schedule, seed) combination in turn, then print their comparison.

    Every combination's config is validated before the first run starts. A run that fails or
    diverges is recorded and the sweep goes on; Ctrl-C stops the sweep after saving the current run.

    `live` makes the progress display of each run (or returns None for none); `print_run(console,
    result)` prints a finished run's TrainResult. `launch` runs the members side by side (--jobs,
    --launcher) or only one of them (--member, for job arrays): see launch.py.

    Returns:
        The exit code: OK when every run completed, FAILED when any failed or diverged, SIGINT/SIGTERM/SIGHUP
        when interrupted.
    """
    from ..config import check_components
    from ..loggers import check_loggers
    from ..rundir import RunDir, now_iso
    from ..schedules import SCHEDULES
    from .train import load_train_config, run_training

    plans = []
    for name in names:
        for seed in seeds:
            cfg, taken = load_train_config(config, overrides, schedule=name, seed=seed, lr_from=lr_from)
            check_components(cfg)
            check_loggers(cfg.train.loggers)
            label = f"{SCHEDULES.canonical(cfg.schedule.name) or cfg.schedule.name}-seed{cfg.seed}"
            plans.append((label, cfg, taken))
    labels = [p[0] for p in plans]
    if len(set(labels)) != len(labels):
        raise LrtoolError(f"--schedule/--seeds: the same run appears twice ({', '.join(labels)})")
    launch = launch or Launch()
    if launch.member is not None:
        return run_member(plans, launch.member, out, config, stem, console, print_run, live)
    ray = None
    if launch.launcher == "ray":  # before the sweep directory: an unreachable cluster is a usage error
        from .launch import init_ray

        ray = init_ray(launch)
    parent = RunDir.create(out, stem, "sweep")
    if lr_from is not None and plans[0][2]:
        console.print(f"--lr-from {lr_from}: " + ", ".join(f"{k}={v:.3g}" for k, v in plans[0][2].items()),
                      markup=False)
    console.print(f"sweep of {len(plans)} runs into {parent.path}: {', '.join(labels)}", markup=False)
    record: dict[str, Any] = {"command": "sweep", "status": "running", "started": now_iso(), "config":
                              str(config) if config else None, "runs": []}
    parent.write_summary(record)
    codes = []
    if launch.parallel:
        codes = _run_parallel(plans, launch, ray, parent, record, console, print_run,
                              config=config, names=names, seeds=seeds, overrides=overrides, lr_from=lr_from)
    # the sequential sweep, in this process (parallel members ran above)
    for i, (label, cfg, _taken) in enumerate(plans if not launch.parallel else [], 1):
        console.rule(f"[{i}/{len(plans)}] {label}")
        entry: dict[str, Any] = {"name": label, "dir": label}
        try:
            result = run_training(cfg, out=parent.path / label, stem=stem,
                                  config_path=str(config) if config else None,
                                  live=live(), echo=lambda s: console.print(s, markup=False),
                                  tags={"lrtool.sweep": parent.path.resolve().name})
            print_run(console, result)
            entry["status"] = result.summary["status"]
            code = result.exit_code
        except (RunFailed, LrtoolError) as e:  # recorded; the sweep goes on
            console.print(f"run {label} failed: {e}", style="red", markup=False)
            entry.update(status="failed", error=str(e))
            code = ExitCode.FAILED
        codes.append(code)
        entry["dir"] = member_dir(parent.path, label)  # a run refused before its directory was made has none
        record["runs"].append(entry)
        parent.write_summary(record)
        if code.interrupted:  # the members after it are recorded as never started, as the parallel sweep does
            record["runs"] += [not_started(console, later) for later, _cfg, _t in plans[i:]]
            parent.write_summary(record)
            break
    interrupted = any(c.interrupted for c in codes)
    record.update(status="interrupted" if interrupted else "completed" if not any(codes) else "failed",
                  ended=now_iso())
    parent.write_summary(record)
    run_dirs = [str(parent.path / e["dir"]) for e in record["runs"]
                if e["dir"] and (parent.path / e["dir"] / "summary.json").exists()]
    if run_dirs and parent.writes:  # under torchrun: rank 0 only
        from ..compare import compare_runs

        console.rule("comparison")
        compare_runs(run_dirs, out=parent.path / "comparison", console=console, err_console=live_console)
    failed = [e["name"] for e in record["runs"] if e["status"] != "completed"]
    if failed:
        console.print(f"{len(failed)} of {len(plans)} runs did not complete: {', '.join(failed)}", markup=False)
    return next((c for c in codes if c.interrupted), ExitCode.FAILED if any(codes) else ExitCode.OK)


def _run_parallel(plans: list, launch: Launch, ray: Any, parent: Any, record: dict[str, Any], console: Any,
                  print_run: Callable[[Any, dict, Path], None], **sweep: Any) -> list[ExitCode]:
    """Run every member in a process of its own (local --jobs or Ray tasks); their exit codes in order."""
    from ..loggers import prepare_loggers
    from .launch import Member, Recorder, member_command, run_local, run_ray

    members = [Member(k, label, cfg, member_command(sweep["config"], sweep["names"], sweep["seeds"],
                                                    sweep["overrides"], sweep["lr_from"], parent.path, k))
               for k, (label, cfg, _taken) in enumerate(plans)]
    prepare_loggers(plans[0][1])  # one shared store, set up before the members write to it at once
    rec = Recorder(members, parent, record, console, print_run)
    if ray is not None:
        return run_ray(members, launch, parent, rec, ray)
    return run_local(members, launch.jobs, parent, rec)


def run_member(plans: list, k: int, out: Path | None, config: Path | None, stem: str, console: Any,
               print_run: Callable[[Any, dict, Path], None], live: Callable[[], Any]) -> ExitCode:
    """--member K: train only member K of the sweep into OUT/<its name> (one task of a job array)."""
    from .train import run_training

    if k >= len(plans):
        raise LrtoolError(f"--member: expected 0..{len(plans) - 1} (the sweep's {len(plans)} members: "
                          f"{', '.join(p[0] for p in plans)}), got {k}")
    label, cfg, _taken = plans[k]
    parent = Path(out)  # type: ignore[arg-type] - Launch.check() requires --out with --member
    try:
        parent.mkdir(parents=True, exist_ok=True)  # the other members may be creating it right now
    except OSError as e:
        raise LrtoolError(f"--out {parent}: cannot create the sweep directory ({e.strerror})") from None
    console.print(f"sweep member {k} of {len(plans)}: {label} into {parent / label}", markup=False)
    result = run_training(cfg, out=parent / label, stem=stem, config_path=str(config) if config else None,
                          live=live(), echo=lambda s: console.print(s, markup=False),
                          tags={"lrtool.sweep": parent.resolve().name})
    print_run(console, result)
    return result.exit_code

"""A sweep's members side by side: local processes (`--jobs N`) or Ray tasks (`--launcher ray`).

Every member runs as `lrtool train <the sweep's arguments> --out SWEEP_DIR --member K` in a process of
its own: the very command a job-array task runs, so a member's files are the same whichever way it
was launched. The launcher only starts members, forwards Ctrl-C/SIGTERM/SIGHUP to them and records how
each one ended in the sweep's summary.json, in the sweep's order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import STOP_SIGNALS, ExitCode, LrtoolError

LAUNCHERS = ("local", "ray")
RAY_OBJECT_STORE = 256 * 1024**2  # members pass no data through Ray; a small store fits a small /dev/shm
POLL_S = 0.2


@dataclass
class Launch:
    """How a sweep runs its members (the --jobs/--launcher/--member/--member-gpus/--member-cpus options)."""

    jobs: int = 1
    launcher: str = "local"
    member: int | None = None
    member_gpus: float | None = None
    member_cpus: float | None = None

    @property
    def parallel(self) -> bool:
        return self.member is None and (self.jobs > 1 or self.launcher == "ray")

    @property
    def given(self) -> bool:
        return self != Launch()

    def check(self, out: Path | None, sweep: bool) -> None:
        """One-line LrtoolError for options that do not go together (before any config is read).

        Args:
            out: --out.
            sweep: whether the command line names a sweep (several --schedule names or --seeds).
        """
        if self.launcher not in LAUNCHERS:
            raise LrtoolError(f"--launcher: expected one of ({', '.join(LAUNCHERS)}), got {self.launcher!r}")
        if self.jobs < 1:
            raise LrtoolError(f"--jobs: expected the number of members to run at once (1 or more), got {self.jobs}")
        for option, value in (("--member-gpus", self.member_gpus), ("--member-cpus", self.member_cpus)):
            if value is not None and self.launcher != "ray":
                raise LrtoolError(f"{option}: only with --launcher ray (--jobs gives each local member one GPU "
                                  "when there are several, or an equal share of the CPU threads)")
        if self.member_gpus is not None and self.member_gpus < 0:
            raise LrtoolError(f"--member-gpus: expected 0 or more GPUs per member, got {self.member_gpus:g}")
        if self.member_cpus is not None and self.member_cpus <= 0:
            raise LrtoolError(f"--member-cpus: expected more than 0 CPUs per member, got {self.member_cpus:g}")
        if self.member is not None:
            if self.member < 0:
                raise LrtoolError(f"--member: expected a member index (0 for the first), got {self.member}")
            if self.jobs > 1 or self.launcher != "local":
                raise LrtoolError("--member runs one member in this process; drop --jobs/--launcher")
            if out is None:
                raise LrtoolError("--member: give the sweep directory with --out (every member of a job array "
                                  "writes into the same one)")
        if self.given and not sweep:
            raise LrtoolError("--jobs/--launcher/--member/--member-gpus/--member-cpus: these run the members of "
                              "a sweep; give several --schedule names or --seeds")
        if self.launcher == "ray":
            import importlib.util

            if importlib.util.find_spec("ray") is None:
                raise LrtoolError("--launcher ray: ray is an optional extra that is not installed; install it "
                                  "with pip install \"lrtool[ray]\" (in a checkout: pip install -e \".[ray]\")")


@dataclass
class Member:
    """One member of a sweep: its index, directory name, config and the command that runs it."""

    index: int
    label: str
    cfg: Any
    command: list[str]


def member_command(config: Path | None, names: list[str | None], seeds: list[int | None], overrides: list[str],
                   lr_from: Path | None, sweep_dir: Path, index: int) -> list[str]:
    """`python -m lrtool train ...` that runs member `index` of this sweep into `sweep_dir` (run from the same cwd)."""
    cmd = [sys.executable, "-m", "lrtool", "train"]
    if config is not None:
        cmd.append(str(config))
    if names != [None]:
        cmd += ["--schedule", ",".join(str(n) for n in names)]
    if seeds != [None]:
        cmd += ["--seeds", ",".join(str(s) for s in seeds)]
    for item in overrides:
        cmd += ["--set", item]
    if lr_from is not None:
        cmd += ["--lr-from", str(lr_from)]
    return cmd + ["--out", str(sweep_dir), "--member", str(index)]


def gpu_ids(cfgs: list[Any]) -> list[str]:
    """The GPUs local members are spread over: none when a member runs on CPU or names its own cuda:N."""
    if any(cfg.device not in ("auto", "cuda") for cfg in cfgs):
        return []
    import torch

    if not torch.cuda.is_available():
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip()]
    return [str(i) for i in range(torch.cuda.device_count())]


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Signals:
    """A stop signal to the launcher: stop starting members and pass each signal on to the running ones."""

    def __init__(self, forward: Callable[[int], None] = lambda sig: None):
        self.signal: int | None = None  # the first one
        self.received: list[int] = []
        self.forward = forward

    @contextmanager
    def installed(self) -> Iterator["Signals"]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handler(signum: int, _frame: Any) -> None:
            self.signal = self.signal or signum
            self.received.append(signum)
            self.forward(signum)  # a second Ctrl-C reaches the members too: they stop at once

        old = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)


def not_started(console: Any, label: str) -> dict[str, Any]:
    """Say that the sweep member `label` never ran (the sweep was stopped first); its summary entry (no dir)."""
    console.print(f"run {label} was not started: the sweep was stopped", markup=False)
    return {"name": label, "dir": None, "status": "interrupted", "error": "not started: the sweep was stopped"}


def member_dir(parent: Path, label: str) -> str | None:
    """A sweep member's `dir` entry: its directory's name, or None when it was never created."""
    return label if (parent / label).is_dir() else None


def _stopped_by(returncode: int) -> int | None:
    """The stop signal (SIGINT/SIGTERM/SIGHUP) a member process's exit code says stopped it, else None."""
    for signum in STOP_SIGNALS:
        if returncode in (-signum, ExitCode.for_signal(signum)):
            return signum
    return None


def _last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
                 if line.strip()]
    except OSError:
        return ""
    line = lines[-1] if lines else ""
    return line.removeprefix("lrtool: error: ")


class Recorder:
    """Collects how each member ended, prints it and keeps the sweep's summary.json in the sweep's order."""

    def __init__(self, members: list[Member], parent: Any, record: dict[str, Any], console: Any,
                 print_run: Callable[[Any, Any], None]):
        self.members, self.parent, self.record = members, parent, record
        self.console, self.print_run = console, print_run
        self.entries: dict[int, dict[str, Any]] = {}
        self.codes: dict[int, ExitCode] = {}

    def ended(self, m: Member, returncode: int | None, error: str | None = None, signum: int | None = None) -> None:
        """Member `m` exited with `returncode` (None: it never started, the sweep got `signum`)."""
        from ..rundir import read_run_summary

        path = self.parent.path / m.label
        log = self.parent.path / "logs" / f"{m.label}.log"
        entry: dict[str, Any] = {"name": m.label, "dir": member_dir(self.parent.path, m.label)}
        self.console.rule(f"[{m.index + 1}/{len(self.members)}] {m.label}")
        summary = None
        if (path / "summary.json").exists():
            try:
                summary = read_run_summary(path, "sweep member", "train")
            except LrtoolError:
                summary = None
        if returncode is None:
            entry.update(not_started(self.console, m.label))
            code = ExitCode.for_signal(signum)
        elif summary is not None and summary.get("status") != "running":
            from .train import TrainResult

            figures = [n for n in ("lr.png", "loss.png", "metrics.png") if (path / n).is_file()]
            self.print_run(self.console, TrainResult(summary, path, figures=figures))
            entry["status"] = summary["status"]
            code = ExitCode(summary.get("exit_code", ExitCode.for_status(summary["status"])))
        elif (stopped := _stopped_by(returncode)) is not None:
            # a signal (the sweep's, passed on) stopped it while it was setting up, before it wrote a summary
            why = f"stopped by {signal.Signals(stopped).name} before it started training; run it alone with " \
                  f"--member {m.index}"
            self.console.print(f"run {m.label} was {why}", markup=False)
            entry.update(status="interrupted", error=why)
            code = ExitCode.for_signal(stopped)
        else:  # it ended before or without finishing its summary: the reason is in its log
            why = error or _last_line(log) or f"exit code {returncode}"
            if returncode < 0:
                why = f"killed by {signal.Signals(-returncode).name}"
            self.console.print(f"run {m.label} failed: {why} (log: {log})", style="red", markup=False)
            entry.update(status="failed", error=why)
            code = ExitCode.FAILED
        self.entries[m.index] = entry
        self.codes[m.index] = code
        self.record["runs"] = [self.entries[k] for k in sorted(self.entries)]
        self.parent.write_summary(self.record)

    def result(self) -> list[ExitCode]:
        return [self.codes[k] for k in sorted(self.codes)]


def _open_log(parent: Any, m: Member) -> Any:
    logs = parent.path / "logs"
    logs.mkdir(exist_ok=True)
    return open(logs / f"{m.label}.log", "w", encoding="utf-8")


def run_local(members: list[Member], jobs: int, parent: Any, rec: Recorder) -> list[ExitCode]:
    """Run the members as local processes, at most `jobs` at once; returns their exit codes in order."""
    gpus = gpu_ids([m.cfg for m in members])
    threads = max(1, cpu_count() // jobs)
    pending = deque(members)
    running: dict[int, tuple[Member, subprocess.Popen]] = {}  # slot -> member, process

    def forward(sig: int) -> None:
        for _m, proc in list(running.values()):
            if proc.poll() is None:
                proc.send_signal(sig)

    with Signals(forward).installed() as stop:
        while (pending and stop.signal is None) or running:
            while pending and len(running) < jobs and stop.signal is None:
                m = pending.popleft()
                slot = next(i for i in range(jobs) if i not in running)
                env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": str(threads),
                       "MKL_NUM_THREADS": str(threads)}
                where = f"CPU, {threads} thread{'s' if threads > 1 else ''}"
                if gpus:  # one GPU per member, round robin when there are more jobs than GPUs
                    env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
                    where = f"GPU {env['CUDA_VISIBLE_DEVICES']}"
                with _open_log(parent, m) as log:  # the child keeps its own descriptor
                    # a session of its own: a terminal's Ctrl-C reaches the member once, through forward()
                    proc = subprocess.Popen(m.command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
                running[slot] = (m, proc)
                rec.console.print(f"started [{m.index + 1}/{len(members)}] {m.label} on {where} "
                                  f"(log: {parent.path / 'logs' / (m.label + '.log')})", markup=False)
            for slot, (m, proc) in list(running.items()):
                if proc.poll() is not None:
                    del running[slot]
                    rec.ended(m, proc.returncode)
            time.sleep(POLL_S)
    for m in pending:
        rec.ended(m, None, signum=stop.signal)
    return rec.result()


# --------------------------------------------------------------------------- Ray


class StopBoard:
    """A Ray actor the members poll: the signals the driver received, so each member stops cleanly."""

    def __init__(self) -> None:
        self.signals: list[int] = []

    def add(self, sig: int) -> None:
        self.signals.append(sig)

    def get(self) -> list[int]:
        return list(self.signals)


def _unblock_signals() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, set(STOP_SIGNALS))


def ray_member(command: list[str], cwd: str, log_path: str, threads: int, board: Any) -> int | None:
    """A Ray task: run one member's command, passing on the driver's signals; None when stopped before it began."""
    import ray

    if ray.get(board.get.remote()):
        return None
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    command = [sys.executable, *command[1:]]  # this node's Python
    with open(log_path, "w", encoding="utf-8") as log:
        # Ray workers block SIGINT, and a blocked signal stays blocked across exec: unblock it for the member
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_unblock_signals)
    sent = 0
    while True:
        try:
            return proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass
        signals = ray.get(board.get.remote())
        for sig in signals[sent:]:
            proc.send_signal(sig)
        sent = len(signals)


def _check_address(address: str) -> None:
    """RAY_ADDRESS pointing at nothing makes ray.init retry forever: fail in seconds instead."""
    import socket

    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as e:
        raise LrtoolError(f"RAY_ADDRESS={address}: no Ray cluster answers there ({e.strerror or e}); "
                          "start one with `ray start --head`, or unset RAY_ADDRESS for a local Ray instance") from None


def init_ray(launch: Launch) -> Any:
    """Connect to the cluster in RAY_ADDRESS, or start a private local instance; checks member resources.

    Returns:
        The ray module, initialised.
    """
    import logging

    import ray

    address = os.environ.get("RAY_ADDRESS", "").strip()
    common = {"logging_level": logging.WARNING, "log_to_driver": False}
    try:
        if address and address != "local":
            _check_address(address)
            ray.init(address=address, **common)
        else:
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            # address="local": a private instance even when `ray start` runs a cluster on this machine
            ray.init(address="local", include_dashboard=False, object_store_memory=RAY_OBJECT_STORE, **common)
    except LrtoolError:
        raise
    except Exception as e:  # noqa: BLE001 - ConnectionError, ValueError, RuntimeError from ray.init
        raise LrtoolError(f"--launcher ray: cannot start or reach Ray ({type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else ''})") from None
    have = ray.cluster_resources()
    for option, key, want in (("--member-gpus", "GPU", launch.member_gpus),
                              ("--member-cpus", "CPU", launch.member_cpus)):
        if want and want > have.get(key, 0):
            ray.shutdown()
            raise LrtoolError(f"{option} {want:g}: the Ray cluster has {have.get(key, 0):g} {key}s in all, "
                              "so no member could start")
    return ray


def run_ray(members: list[Member], launch: Launch, parent: Any, rec: Recorder, ray: Any) -> list[ExitCode]:
    """Run each member as a Ray task with its resources; returns their exit codes in the sweep's order."""
    try:
        gpus = launch.member_gpus
        if gpus is None:  # one GPU each when the cluster has GPUs and the members may use them
            gpus = 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 and all(
                m.cfg.device in ("auto", "cuda") for m in members) else 0.0
        cpus = launch.member_cpus or 1.0
        board = ray.remote(num_cpus=0)(StopBoard).remote()
        task = ray.remote(max_retries=0)(ray_member).options(num_cpus=cpus, num_gpus=gpus)
        limit = launch.jobs if launch.jobs > 1 else len(members)
        pending = deque(members)
        refs: dict[Any, Member] = {}
        (parent.path / "logs").mkdir(exist_ok=True)
        where = f"{cpus:g} CPU{'s' if cpus != 1 else ''}" + \
            (f", {gpus:g} GPU{'s' if gpus != 1 else ''}" if gpus else "")
        with Signals().installed() as stop:
            told = 0
            while (pending and stop.signal is None) or refs:
                while pending and len(refs) < limit and stop.signal is None:
                    m = pending.popleft()
                    log = parent.path / "logs" / f"{m.label}.log"
                    refs[task.remote(m.command, os.getcwd(), str(log.resolve()), max(1, int(cpus)), board)] = m
                    rec.console.print(f"submitted [{m.index + 1}/{len(members)}] {m.label} to Ray ({where})",
                                      markup=False)
                for sig in stop.received[told:]:  # each signal the driver got, in order, to every member
                    board.add.remote(sig)
                told = len(stop.received)
                done, _ = ray.wait(list(refs), num_returns=1, timeout=POLL_S * 2)
                for ref in done:
                    m = refs.pop(ref)
                    error = None
                    try:
                        returncode = ray.get(ref)
                    except Exception as e:  # noqa: BLE001 - the task itself broke (worker died, ...)
                        returncode, error = 1, f"Ray task failed: {type(e).__name__}: {str(e).splitlines()[0]}"
                    rec.ended(m, returncode, error=error, signum=stop.signal)
        for m in pending:
            rec.ended(m, None, signum=stop.signal)
        return rec.result()
    finally:
        ray.shutdown()

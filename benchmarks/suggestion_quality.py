"""How good is a range test's suggestion? Measured against the best fixed LR of a grid, on several tasks,
for lrtool's rules and the peers' (torch-lr-finder, fastai, Lightning).

    python benchmarks/suggestion_quality.py            # the table in BENCHMARKS.md (about 10 min, 2 cores)
    python benchmarks/suggestion_quality.py --quick    # a smoke run: 1 seed, small grid, few epochs

For every task:
- ground truth: a grid of fixed LRs (log-spaced) x 3 seeds, each trained for the task's budget at a constant
  LR; the grid's best LR is the one with the best mean final validation metric (accuracy, or MSE for the
  regression);
- 3 range tests (seeds 0-2) with lrtool's own sweep (finder.range_test) run without a divergence stop, so
  every tool's rule sees the same raw losses and applies its own smoothing and stop on them:
  lrtool's (bias-corrected EMA 0.98, stop at 4x), torch-lr-finder's (EMA 0.05 seeded with the first loss,
  stop at 5x), fastai's (debiased EMA 0.98, stop at 4x, trims num_iter//10 and 5), Lightning's (EMA with its
  off-by-one debiasing, stop at 4x; skips 10 and 1); the peers' rules are re-implemented from their
  sources' behaviour (none of their code is used);
- a rule's metric at its suggestion is interpolated on the grid's mean curve (in log LR); regret = best
  grid metric minus that (accuracy points; for the regression, % of the best MSE);
- the CLR bounds and the one-cycle peak are trained with their schedules for the same budget (seed i uses
  range test i's bounds).

Budgets are small (few epochs, small models) so that the whole benchmark fits in about ten minutes on two
loaded CPU cores; a GPU would allow the full budgets.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lrtool.config.schema import FindLRConfig  # noqa: E402
from lrtool.data.splits import TensorSplit  # noqa: E402
from lrtool.models import build_model  # noqa: E402
from lrtool.optim import build_optimizer, set_lr_and_momentum  # noqa: E402
from lrtool.run import engine, finder  # noqa: E402
from lrtool.run.suggest import suggest  # noqa: E402
from lrtool.schedules import Plan, build_schedule, resolve_schedule  # noqa: E402
from lrtool.smoothing import centred_ema, ema  # noqa: E402

CPU = torch.device("cpu")
FP32 = engine.Precision("fp32", CPU)


# --------------------------------------------------------------------------- tasks


@dataclass
class Task:
    """A model + data + optimizer with a fixed training budget, and the LR range to search."""

    name: str
    train: TensorSplit
    val: TensorSplit
    model: dict[str, Any]  # lrtool model name and kwargs
    optimizer: dict[str, Any]  # lrtool optimizer name and kwargs (lr set per run)
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    regression: bool
    epochs: int
    batch_size: int
    grid: tuple[float, float]  # lowest and highest LR of the ground-truth grid
    sweep: tuple[float, float]  # start_lr, end_lr of the range test
    num_classes: int = 1
    input_shape: tuple[int, ...] = ()
    results: dict[str, Any] = field(default_factory=dict)

    def build(self, seed: int, lr: float) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        torch.manual_seed(seed)
        model = build_model(self.model["name"], {k: v for k, v in self.model.items() if k != "name"},
                            input_shape=self.input_shape, num_classes=self.num_classes)
        opt = build_optimizer(self.optimizer["name"], {**{k: v for k, v in self.optimizer.items() if k != "name"},
                                                       "lr": lr}, model)
        return model, opt


def _standardise(x_train: np.ndarray, x_val: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    mean, std = x_train.mean(0), x_train.std(0) + 1e-8
    return (torch.tensor((x_train - mean) / std, dtype=torch.float32),
            torch.tensor((x_val - mean) / std, dtype=torch.float32))


def _sklearn_split(loader: Callable, regression: bool) -> tuple[TensorSplit, TensorSplit, int, int]:
    """An 80/20 split (fixed seed) of a scikit-learn dataset, features (and regression targets) standardised."""
    x, y = loader(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    cut = int(0.8 * len(y))
    tr, va = order[:cut], order[cut:]
    x_tr, x_va = _standardise(x[tr], x[va])
    if regression:
        y_tr, y_va = _standardise(y[tr, None], y[va, None])
        return TensorSplit(x_tr, y_tr[:, 0]), TensorSplit(x_va, y_va[:, 0]), 1, x.shape[1]
    y_t = torch.tensor(y, dtype=torch.long)
    return TensorSplit(x_tr, y_t[tr]), TensorSplit(x_va, y_t[va]), int(y.max()) + 1, x.shape[1]


def _mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.mse_loss(out.squeeze(-1), y)


def make_tasks(quick: bool) -> list[Task]:
    """The benchmark's tasks: digits (MLP; convnet with SGD and with Adam), breast_cancer, diabetes."""
    from sklearn.datasets import load_breast_cancer, load_diabetes

    from lrtool.config import load_config
    from lrtool.run.build import build_dataset

    cfg = load_config(None, ["device=cpu", "data.split_seed=0"])
    digits = build_dataset(cfg, CPU)
    ce = torch.nn.functional.cross_entropy
    scale = 0.5 if quick else 1.0
    common = dict(train=digits.train, val=digits.val, loss=ce, regression=False, batch_size=64,
                  num_classes=digits.num_classes, input_shape=tuple(digits.input_shape))
    conv = {"name": "convnet", "channels": [16, 32, 64]}
    tasks = [
        Task("digits-mlp-sgd", model={"name": "mlp", "hidden": [64]},
             optimizer={"name": "SGD", "momentum": 0.9}, epochs=max(2, int(8 * scale)),
             grid=(1e-3, 3.0), sweep=(1e-4, 10.0), **common),
        Task("digits-conv-sgd", model=conv, optimizer={"name": "SGD", "momentum": 0.9},
             epochs=max(1, int(3 * scale)), grid=(1e-3, 3.0), sweep=(1e-4, 10.0), **common),
        Task("digits-conv-adam", model=conv, optimizer={"name": "Adam"},
             epochs=max(1, int(3 * scale)), grid=(1e-5, 3e-1), sweep=(1e-6, 1.0), **common),
    ]
    tr, va, k, d = _sklearn_split(load_breast_cancer, regression=False)
    tasks.append(Task("breast_cancer-mlp-sgd", train=tr, val=va, model={"name": "mlp", "hidden": [32]},
                      optimizer={"name": "SGD", "momentum": 0.9}, loss=ce, regression=False, batch_size=32,
                      epochs=max(3, int(10 * scale)), grid=(1e-4, 3.0), sweep=(1e-5, 10.0), num_classes=k,
                      input_shape=(d,)))
    tr, va, _, d = _sklearn_split(load_diabetes, regression=True)
    tasks.append(Task("diabetes-mlp-sgd (MSE)", train=tr, val=va, model={"name": "mlp", "hidden": [32]},
                      optimizer={"name": "SGD", "momentum": 0.9}, loss=_mse, regression=True, batch_size=32,
                      epochs=max(5, int(20 * scale)), grid=(1e-4, 1.0), sweep=(1e-5, 10.0), num_classes=1,
                      input_shape=(d,)))
    return tasks


# --------------------------------------------------------------------------- training


def train_once(task: Task, seed: int, lr_of: Callable[[int], float],
               momentum_of: Callable[[int], float | None] = lambda s: None) -> float:
    """Train for the task's budget with the LR `lr_of(step)`; returns the final validation metric."""
    model, opt = task.build(seed, lr_of(0))
    gen = torch.Generator().manual_seed(seed)
    step = 0
    model.train()
    for _ in range(task.epochs):
        for x, y in task.train.batches(task.batch_size, shuffle=True, generator=gen):
            m = momentum_of(step)
            set_lr_and_momentum(opt, [lr_of(step)], None if m is None else [m])
            engine.forward_backward(model, x, y, task.loss, FP32)
            engine.optimizer_step(model, opt, FP32)
            step += 1
    return val_metric(task, model)


@torch.no_grad()
def val_metric(task: Task, model: torch.nn.Module) -> float:
    """Validation accuracy, or MSE for the regression (the whole split in one forward pass)."""
    model.eval()
    out = model(task.val.x)
    if task.regression:
        loss = float(task.loss(out, task.val.y))
        # a run that blew up is no better than predicting the mean (MSE 1 on standardised targets)
        return loss if math.isfinite(loss) and loss < 1.0 else 1.0
    return float((out.argmax(dim=1) == task.val.y).float().mean())


def steps_per_epoch(task: Task) -> int:
    return task.train.num_batches(task.batch_size)


def run_schedule(task: Task, seed: int, section: dict[str, Any], momentum: float | None) -> float:
    spec = resolve_schedule(section)
    sched = build_schedule(spec, [section.get("max_lr", 0.1)], Plan(steps_per_epoch(task), task.epochs),
                           None if momentum is None else [momentum])
    return train_once(task, seed, lambda s: sched.lr(s)[0],
                      lambda s: (sched.momentum(s) or [None])[0])


# --------------------------------------------------------------------------- range test and the rules


def raw_curve(task: Task, seed: int, num_iter: int) -> tuple[list[float], list[float]]:
    """lrtool's sweep with no divergence stop (it still stops at a non-finite loss): (lrs, raw losses)."""
    model, opt = task.build(seed, 1.0)
    cfg = FindLRConfig(start_lr=task.sweep[0], end_lr=task.sweep[1], num_iter=num_iter,
                       diverge_threshold=math.inf)
    result = finder.range_test(model, opt, task.loss, task.train, cfg, batch_size=task.batch_size,
                               precision=FP32, generator=torch.Generator().manual_seed(seed))
    return [r["lr"] for r in result.rows], [r["loss"] for r in result.rows]


def stop_at(smoothed: list[float], factor: float, best_first: bool = True) -> int:
    """How many points a sweep records when it stops once the smoothed loss exceeds factor x its best
    (the diverging point is recorded, as every tool does); a non-finite value ends it too."""
    best = math.inf
    for i, v in enumerate(smoothed):
        if not math.isfinite(v):
            return i
        if best_first:
            best = min(best, v)
        if i > 0 and v > factor * best:
            return i + 1
        if not best_first:
            best = min(best, v)
    return len(smoothed)


def lrtool_rules(lrs: list[float], raw: list[float], num_iter: int, centred: bool = False) -> dict[str, Any]:
    """lrtool's suggestions as find-lr makes them (EMA 0.98, stop at 4x); centred: the finished curve
    re-smoothed with the two-sided EMA instead."""
    smoothed = ema(raw, 0.98)
    n = stop_at(smoothed, 4.0, best_first=False)
    if centred:
        smoothed = centred_ema(raw[:n], 0.95)
    out = suggest(lrs[:n], smoothed[:n], diverged_at_end=n < len(raw), num_iter=num_iter)
    return out


def torch_lr_finder_rule(lrs: list[float], raw: list[float]) -> float | None:
    """torch-lr-finder: EMA with weight 0.05 on the new loss seeded with the first, stop above 5x the best
    (point recorded), skip 10 at the start and 5 at the end, argmin of np.gradient by index."""
    hist: list[float] = []
    best = math.inf
    for i, loss in enumerate(raw):
        if not math.isfinite(loss):
            hist.append(loss)  # the peer records it and goes on until the loss exceeds 5x: NaN never does
            break
        if i == 0:
            best = loss
        else:
            loss = 0.05 * loss + 0.95 * hist[-1]
            best = min(best, loss)
        hist.append(loss)
        if loss > 5 * best:
            break
    ls, ll = lrs[:len(hist)][10:-5], hist[10:-5]
    if len(ll) < 2:
        return None
    return float(ls[int(np.argmin(np.gradient(np.array(ll))))])


def fastai_valley(lrs: list[float], raw: list[float], num_iter: int) -> float | None:
    """fastai's lr_find: debiased EMA 0.98, stop above 4x the best (recorded), trim [num_iter//10:-5], NaN
    truncation, valley = the middle of the longest decreasing subsequence."""
    smoothed = ema(raw, 0.98)
    n = stop_at(smoothed, 4.0, best_first=True)
    ls, ll = lrs[:n][num_iter // 10:-5], smoothed[:n][num_iter // 10:-5]
    cut = next((i for i, v in enumerate(ll) if not math.isfinite(v)), len(ll))
    ls, ll = ls[:cut], ll[:cut]
    if len(ll) < 2:
        return None
    lds = [1] * len(ll)
    max_start = max_end = 0
    for i in range(1, len(ll)):
        for j in range(i):
            if ll[i] < ll[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    return float(ls[max_start + int(sections) + int(sections / 2)])


def lightning_rule(lrs: list[float], raw: list[float]) -> float | None:
    """Lightning: EMA 0.98 debiased with 1 - beta**(n+1), stop check before the best update (at 4x),
    suggestion(skip_begin=10, skip_end=1): argmin of the gradient against the raw LR over finite points."""
    avg, best, hist = 0.0, 0.0, []
    for k, loss in enumerate(raw, start=1):
        avg = 0.98 * avg + 0.02 * loss
        smoothed = avg / (1 - 0.98 ** (k + 1))
        stop = k > 1 and smoothed > 4.0 * best
        if smoothed < best or k == 1:
            best = smoothed
        hist.append(smoothed)
        if stop:
            break
    ls, ll = np.array(lrs[:len(hist)][10:-1]), np.array(hist[10:-1])
    finite = np.isfinite(ll)
    ls, ll = ls[finite], ll[finite]
    if len(ll) < 2:
        return None
    return float(ls[int(np.argmin(np.gradient(ll, ls)))])


def rules_of(lrs: list[float], raw: list[float], num_iter: int) -> tuple[dict[str, float | None], dict]:
    """Every rule's suggested LR on one raw curve, and lrtool's full result (schedule bounds, shape)."""
    ours = lrtool_rules(lrs, raw, num_iter)
    lagfree = lrtool_rules(lrs, raw, num_iter, centred=True)

    def lr(result: dict, name: str) -> float | None:
        s = result["suggestions"].get(name)
        return None if s is None else s["lr"]

    rules = {f"lrtool {k}": lr(ours, k) for k in ("steepest", "valley", "valley_trimmed", "minimum")}
    rules["lrtool default lr"] = ours["lr"]
    rules.update({f"lrtool {k} (centred)": lr(lagfree, k) for k in ("steepest", "valley", "valley_trimmed",
                                                                      "minimum")})
    rules["torch-lr-finder"] = torch_lr_finder_rule(lrs, raw)
    rules["fastai valley"] = fastai_valley(lrs, raw, num_iter)
    rules["lightning steepest"] = lightning_rule(lrs, raw)
    return rules, ours


# --------------------------------------------------------------------------- the benchmark


def interp(grid_lrs: np.ndarray, metric: np.ndarray, lr: float) -> float:
    """The grid's mean metric at `lr`, linear in log LR (clamped to the grid's ends)."""
    return float(np.interp(math.log10(lr), np.log10(grid_lrs), metric))


def run_task(task: Task, grid_n: int, seeds: list[int], num_iter: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    grid_lrs = np.logspace(math.log10(task.grid[0]), math.log10(task.grid[1]), grid_n)
    per_seed = np.array([[train_once(task, s, lambda _step, lr=lr: lr) for s in seeds] for lr in grid_lrs])
    metric = per_seed.mean(axis=1)
    best_i = int(np.argmin(metric) if task.regression else np.argmax(metric))
    best_lr, best = float(grid_lrs[best_i]), float(metric[best_i])
    t_grid = time.perf_counter() - t0

    def regret(value: float) -> float:
        return 100 * (value - best) / best if task.regression else 100 * (best - value)

    curves = [raw_curve(task, s, num_iter) for s in seeds]
    suggested: dict[str, list[float | None]] = {}
    shapes, schedules = [], {"cyclic (CLR bounds)": [], "one-cycle (peak)": []}
    momentum = task.optimizer.get("momentum")
    if task.optimizer["name"] == "Adam":
        momentum = 0.9
    for s, (lrs, raw) in zip(seeds, curves):
        rules, ours = rules_of(lrs, raw, num_iter)
        for k, v in rules.items():
            suggested.setdefault(k, []).append(v)
        shapes.append(ours["shape"])
        if ours["clr"]:
            clr = ours["clr"]
            schedules["cyclic (CLR bounds)"].append(run_schedule(
                task, s, {"name": "cyclic", "base_lr": clr["base_lr"], "max_lr": clr["max_lr"]}, momentum))
            schedules["one-cycle (peak)"].append(run_schedule(
                task, s, {"name": "onecycle", "max_lr": ours["onecycle"]["max_lr"]}, momentum))
    rows = {}
    for k, values in suggested.items():
        got = [v for v in values if v is not None]
        if not got:
            rows[k] = None
            continue
        regrets = [regret(interp(grid_lrs, metric, v)) for v in got]
        ratio = math.exp(statistics.mean(math.log(v / best_lr) for v in got))
        rows[k] = {"ratio": ratio, "regret": statistics.mean(regrets), "spread": max(got) / min(got),
                   "missing": len(values) - len(got)}
    sched_rows = {k: ({"regret": regret(statistics.mean(v))} if v else None) for k, v in schedules.items()}
    # "no clear valley": the verdict (shape never_falls) should fire when no LR of the sweep trains well
    useful = (best < 0.9 if task.regression else best > 1.5 / task.num_classes)
    return {"task": task.name, "grid": grid_lrs.tolist(), "metric": metric.tolist(), "per_seed": per_seed.tolist(),
            "best_lr": best_lr, "best": best, "rules": rows, "schedules": sched_rows, "shapes": shapes,
            "grid_trains": useful, "seconds": time.perf_counter() - t0, "grid_seconds": t_grid}


def control(quick: bool) -> dict[str, Any]:
    """A sweep where no LR trains (digits MLP, SGD, every LR from 30 to 3e4): the verdict should fire."""
    task = make_tasks(quick)[0]
    task.sweep, task.epochs = (30.0, 3e4), 2
    lrs, raw = raw_curve(task, 0, 60)
    shape = lrtool_rules(lrs, raw, 60)["shape"]
    accs = [train_once(task, 0, lambda _s, lr=lr: lr) for lr in (30.0, 300.0, 3e3)]
    return {"shape": shape, "best_acc": max(accs)}


def fmt_cell(row: dict[str, Any] | None, regression: bool) -> str:
    if row is None:
        return "none"
    unit = "%" if regression else ""
    text = f"{row['ratio']:.2g}x / {row['regret']:+.1f}{unit} / {row['spread']:.2g}x"
    return text + (f" ({row['missing']} none)" if row["missing"] else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 seed, 8 grid LRs, half the epochs (smoke run)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (more oversubscribe a loaded machine)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [0] if args.quick else [0, 1, 2]
    grid_n = 8 if args.quick else 14
    num_iter = 100
    t0 = time.perf_counter()
    results = []
    for task in make_tasks(args.quick):
        r = run_task(task, grid_n, seeds, num_iter)
        r["regression"] = task.regression
        results.append(r)
        print(f"# {task.name}: best fixed LR {r['best_lr']:.3g} -> {r['best']:.4f} "
              f"({'val MSE' if task.regression else 'val acc'}); {task.epochs} epochs; "
              f"{r['seconds']:.0f} s (grid {r['grid_seconds']:.0f} s); shapes {r['shapes']}", flush=True)
    ctl = control(args.quick)

    names = list(results[0]["rules"])
    print()
    print("cell: suggested LR / grid-best LR (geometric mean over the range-test seeds) / regret "
          "(accuracy points, or % of the best MSE) / spread (max/min suggested LR over the seeds)")
    head = "| rule | " + " | ".join(r["task"] for r in results) + " | mean regret | mean abs log2 ratio |"
    print(head)
    print("|" + "---|" * (len(results) + 3))
    for name in names:
        cells = [fmt_cell(r["rules"][name], r["regression"]) for r in results]
        got = [r["rules"][name] for r in results if r["rules"][name]]
        mean_regret = statistics.mean(x["regret"] for x in got) if got else float("nan")
        mean_log = statistics.mean(abs(math.log2(x["ratio"])) for x in got) if got else float("nan")
        print(f"| {name} | " + " | ".join(cells) + f" | {mean_regret:.2f} | {mean_log:.2f} |")
    for name in results[0]["schedules"]:
        cells = [("none" if r["schedules"][name] is None else
                  f"regret {r['schedules'][name]['regret']:+.1f}{'%' if r['regression'] else ''}") for r in results]
        got = [r["schedules"][name]["regret"] for r in results if r["schedules"][name]]
        print(f"| {name} | " + " | ".join(cells) + f" | {statistics.mean(got):.2f} | |")
    print()
    print("grid (mean metric per LR):")
    for r in results:
        print(f"  {r['task']}: " + ", ".join(f"{lr:.2g}:{m:.3f}" for lr, m in zip(r["grid"], r["metric"])))
    print()
    print("'no clear valley' verdict: " + "; ".join(
        f"{r['task']}: fired {sum(s == 'never_falls' for s in r['shapes'])}/{len(r['shapes'])}, grid trains: "
        f"{r['grid_trains']}" for r in results)
          + f"; control (sweep 30..3e4, nothing trains, best acc {ctl['best_acc']:.3f}): shape {ctl['shape']}")
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()

"""Schedules: exact values, equality with torch's own schedulers, config rules and errors."""

from __future__ import annotations

import copy
import json
import math
import random
import subprocess
import sys
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lrtool.errors import LrtoolError
from lrtool.schedules import (
    SCHEDULES,
    Plan,
    Schedule,
    ScheduleSpec,
    build_schedule,
    choose_schedule,
    fill_lr_bounds,
    preview,
    resolve_schedule,
)

TL = torch.optim.lr_scheduler
LRS = [0.01, 0.05]  # two param groups with different base lrs


def approx(values, rel=1e-9):
    return pytest.approx(values, rel=rel, abs=1e-15)


def build(section, lrs=(0.01,), spe=1, epochs=9, momenta=None) -> Schedule:
    """resolve + build in one go."""
    return build_schedule(resolve_schedule(section), list(lrs), Plan(spe, epochs),
                          base_momenta=momenta)


def curve(schedule: Schedule, n: int | None = None, group: int = 0) -> list[float]:
    """LR of one group at every step of the run."""
    n = schedule.plan.total_steps if n is None else n
    return [schedule.lr(s)[group] for s in range(n)]


def torch_run(cls: str, kwargs: dict, n: int, lrs=LRS, optim: str = "sgd", metrics=None):
    """LRs and momenta torch gives after 0..n-1 scheduler steps (the documented call order)."""
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in lrs]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, lrs)]
    opt = (torch.optim.SGD(groups, lr=lrs[0], momentum=0.9) if optim == "sgd"
           else torch.optim.Adam(groups, lr=lrs[0]))
    sched = getattr(TL, cls)(opt, **kwargs)
    out, moms = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(n):
            if i:
                opt.step()
                sched.step(metrics[i - 1]) if metrics is not None else sched.step()
            out.append([float(v) for v in sched.get_last_lr()])
            moms.append([g["momentum"] if optim == "sgd" else g["betas"][0] for g in opt.param_groups])
    return out, moms


# ----------------------------------------------------------------------------------------------
# Tutorial tables

def test_steplr_tutorial_table():
    s = build({"name": "StepLR", "step_size": 3, "gamma": 0.1})
    assert curve(s) == approx([0.01] * 3 + [0.001] * 3 + [0.0001] * 3)
    assert s.boundaries() == [(3, "decay x0.1"), (6, "decay x0.1")]


def test_exponentiallr_tutorial_table():
    s = build({"name": "ExponentialLR", "gamma": 0.95})
    assert curve(s)[:4] == approx([0.01, 0.0095, 0.009025, 0.00857375])
    assert curve(s)[8] == approx(0.01 * 0.95 ** 8)


def test_short_step_defaults_to_two_decays_over_the_run():
    assert curve(build({"name": "step"})) == approx([0.01] * 3 + [0.001] * 3 + [0.0001] * 3)


# ----------------------------------------------------------------------------------------------
# Every torch class against torch, several kwarg sets, two param groups

# (class, lrtool kwargs, torch kwargs or None for the same)
TORCH_CASES = [
    ("StepLR", {"step_size": 3, "gamma": 0.1}, None),
    ("StepLR", {"step_size": 2, "gamma": 0.5}, None),
    ("MultiStepLR", {"milestones": [2, 5], "gamma": 0.1}, None),
    ("MultiStepLR", {"milestones": [0, 4, 4, 7], "gamma": 0.5}, None),
    ("ExponentialLR", {"gamma": 0.9}, None),
    ("ExponentialLR", {"gamma": 0.5}, None),
    ("CosineAnnealingLR", {"T_max": 4, "eta_min": 0.001}, None),  # runs past T_max: rises again
    ("CosineAnnealingLR", {"T_max": 10}, None),
    ("CosineAnnealingWarmRestarts", {"T_0": 2, "T_mult": 2, "eta_min": 0.001}, None),
    ("CosineAnnealingWarmRestarts", {"T_0": 3}, None),
    ("CyclicLR", {"base_lr": 0.001, "max_lr": 0.01, "step_size_up": 3}, None),
    ("CyclicLR", {"base_lr": [0.001, 0.002], "max_lr": [0.01, 0.03], "step_size_up": 2,
                  "step_size_down": 4, "mode": "triangular2"}, None),
    ("CyclicLR", {"base_lr": 0.001, "max_lr": 0.01, "step_size_up": 3, "mode": "exp_range",
                  "gamma": 0.9, "base_momentum": 0.7, "max_momentum": 0.95}, None),
    ("CyclicLR", {"base_lr": 0.001, "max_lr": 0.01, "step_size_up": 2.5, "cycle_momentum": False}, None),
    ("CyclicLR", {"base_lr": 0.001, "max_lr": 0.01, "step_size_up": 2, "scale_fn": "1 / (1.5 ** x)",
                  "scale_mode": "iterations"},
     {"base_lr": 0.001, "max_lr": 0.01, "step_size_up": 2, "scale_fn": lambda x: 1 / (1.5 ** x),
      "scale_mode": "iterations"}),
    ("OneCycleLR", {"max_lr": 0.1}, "total"),
    ("OneCycleLR", {"max_lr": [0.1, 0.2], "three_phase": True, "pct_start": 0.25}, "total"),
    ("OneCycleLR", {"max_lr": 0.1, "anneal_strategy": "linear", "div_factor": 10.0,
                    "final_div_factor": 100.0, "base_momentum": 0.8}, "total"),
    ("LambdaLR", {"lr_lambda": "0.5 ** (epoch // 3)"}, {"lr_lambda": lambda e: 0.5 ** (e // 3)}),
    ("LambdaLR", {"lr_lambda": ["1 / (1 + epoch)", "max(0.1, 1 - 0.1 * step)"]},
     {"lr_lambda": [lambda e: 1 / (1 + e), lambda e: max(0.1, 1 - 0.1 * e)]}),
    ("MultiplicativeLR", {"lr_lambda": 0.9}, {"lr_lambda": lambda e: 0.9}),
    ("MultiplicativeLR", {"lr_lambda": "0.95 if epoch < 3 else 0.8"},
     {"lr_lambda": lambda e: 0.95 if e < 3 else 0.8}),
    ("LinearLR", {"start_factor": 0.25, "total_iters": 4}, None),
    ("LinearLR", {"start_factor": 1.0, "end_factor": 0.1, "total_iters": 3}, None),
    ("LinearLR", {}, None),
    ("ConstantLR", {"factor": 0.5, "total_iters": 3}, None),
    ("ConstantLR", {}, None),
    ("PolynomialLR", {"total_iters": 4, "power": 2.0}, None),
    ("PolynomialLR", {"total_iters": 12}, None),
]


def _torch_kwargs(cls, ours, theirs, n):
    if theirs == "total":
        return {**ours, "total_steps": n}
    return dict(ours) if theirs is None else theirs


@pytest.mark.parametrize("interval", ["epoch", "step"])
@pytest.mark.parametrize("cls,ours,theirs", TORCH_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(TORCH_CASES)])
def test_torch_classes_match_torch(cls, ours, theirs, interval):
    spe, epochs = (3, 10) if interval == "epoch" else (4, 5)
    n = epochs if interval == "epoch" else spe * epochs  # scheduler steps in the run
    momenta = [0.9, 0.9]
    s = build({"name": cls, "interval": interval, **ours}, LRS, spe, epochs, momenta=momenta)
    want_lr, want_mom = torch_run(cls, _torch_kwargs(cls, ours, theirs, n), n)
    cycles_momentum = cls in ("CyclicLR", "OneCycleLR") and ours.get("cycle_momentum", True)
    for step in range(spe * epochs):
        u = step // spe if interval == "epoch" else step
        assert s.lr(step) == approx(want_lr[u]), (step, u)
        if cycles_momentum:
            assert s.momentum(step) == approx(want_mom[u]), step
        else:
            assert s.momentum(step) is None
    if interval == "epoch":  # constant inside an epoch, changes only at boundaries
        lrs = curve(s)
        assert all(lrs[i] == lrs[i - 1] for i in range(1, len(lrs)) if i % spe)


@pytest.mark.parametrize("cls,kwargs", [
    ("CyclicLR", {"base_lr": 0.001, "max_lr": 0.01, "step_size_up": 3}),
    ("OneCycleLR", {"max_lr": 0.1, "total_steps": 20}),
])
def test_adam_beta1_is_cycled_like_torch(cls, kwargs):
    s = build({"name": cls, **kwargs}, LRS, 4, 5, momenta=[0.9, 0.9])
    want_lr, want_beta1 = torch_run(cls, kwargs, 20, optim="adam")
    assert [s.lr(i) for i in range(20)] == [approx(v) for v in want_lr]
    assert [s.momentum(i) for i in range(20)] == [approx(v) for v in want_beta1]


def test_torch_cycle_momentum_needs_an_optimizer_with_momentum():
    with pytest.raises(LrtoolError, match=r"^schedule.cycle_momentum: the optimizer has no momentum"):
        build({"name": "OneCycleLR", "max_lr": 0.1}, momenta=None)
    assert build({"name": "onecycle"}, momenta=None).momentum(0) is None  # short names: quietly off


# ----------------------------------------------------------------------------------------------
# Plateau

PLATEAU_METRICS = [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.7, 0.9]


@pytest.mark.parametrize("kwargs", [
    {"patience": 1, "factor": 0.5},
    {"patience": 0, "factor": 0.5, "cooldown": 2, "min_lr": [0.0, 0.03]},
    {"patience": 1, "threshold": 0.1, "threshold_mode": "abs", "factor": 0.2},
    {"mode": "max", "patience": 2, "factor": 0.5, "threshold": 0.0},
])
def test_plateau_matches_torch(kwargs):
    spe = 2
    s = build({"name": "ReduceLROnPlateau", **kwargs}, LRS, spe, len(PLATEAU_METRICS) + 1)
    want, _ = torch_run("ReduceLROnPlateau", kwargs, len(PLATEAU_METRICS) + 1,
                        metrics=PLATEAU_METRICS)
    assert s.needs_metric and s.monitor == ("val_acc" if kwargs.get("mode") == "max" else "val_loss")
    for epoch, metric in enumerate(PLATEAU_METRICS):
        for step in range(epoch * spe, (epoch + 1) * spe):
            assert s.lr(step) == approx(want[epoch])
        s.observe(epoch, metric)
    assert s.lr(len(PLATEAU_METRICS) * spe) == approx(want[-1])


def test_plateau_state_dict_round_trip_gives_the_same_future():
    section = {"name": "plateau", "patience": 1, "factor": 0.5}
    a, b = build(section, LRS, 3, 20), build(section, LRS, 3, 20)
    for epoch, metric in enumerate(PLATEAU_METRICS[:6]):
        a.observe(epoch, metric)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    assert b.state_dict() == a.state_dict() and a.state_dict()["reduced_after"]
    for epoch, metric in enumerate(PLATEAU_METRICS[6:], start=6):
        a.observe(epoch, metric)
        b.observe(epoch, metric)
    assert curve(a) == curve(b)
    assert curve(a, group=1) == curve(b, group=1)


def test_plateau_reobserving_an_epoch_replaces_it():
    a, b = (build({"name": "plateau", "patience": 0}, spe=1, epochs=6) for _ in range(2))
    for epoch, metric in enumerate([1.0, 2.0, 3.0]):  # two bad epochs: two reductions
        a.observe(epoch, metric)
    a.observe(1, 0.5)  # epoch 1 re-run after a resume: improving now
    for epoch, metric in enumerate([1.0, 0.5]):
        b.observe(epoch, metric)
    assert curve(a) == curve(b) == approx([0.01] * 6)


def test_plateau_short_name_infers_mode_from_monitor():
    s = build({"name": "plateau", "monitor": "val_acc", "patience": 0})
    assert s.monitor == "val_acc"
    s.observe(0, 0.5)
    s.observe(1, 0.6)  # accuracy going up is an improvement
    assert s.lr(2) == approx([0.01])
    s.observe(2, 0.55)
    assert s.lr(3) == approx([0.001])


def test_non_plateau_schedules_ignore_metrics():
    s = build({"name": "cosine"})
    s.observe(0, 1.0)
    assert not s.needs_metric and s.state_dict() == {"name": "cosine"}
    s.load_state_dict({"name": "cosine"})


# ----------------------------------------------------------------------------------------------
# Short names: exact values

def test_constant_multistep_exponential():
    assert curve(build({"name": "constant", "factor": 0.5}, epochs=3)) == approx([0.005] * 3)
    ms = build({"name": "multistep"}, epochs=8)  # 50% and 75% of 8 epochs: 4 and 6
    assert curve(ms) == approx([0.01] * 4 + [0.001] * 2 + [0.0001] * 2)
    ex = build({"name": "exponential"}, epochs=10)  # reaches 1% at the end of the run
    assert ex.lr(9)[0] == approx(0.01 * 0.01 ** 0.9)
    assert curve(build({"name": "exponential", "gamma": 0.95}))[:3] == approx([0.01, 0.0095, 0.009025])


def test_cosine_to_a_floor_over_the_run():
    s = build({"name": "cosine", "min_lr": 0.001}, lrs=[0.1], spe=5, epochs=2)
    assert s.interval == "step"
    assert s.lr(0) == approx([0.1])
    assert s.lr(5) == approx([0.001 + 0.099 * 0.5])
    assert s.lr(9) == approx([0.001 + 0.099 * (1 + math.cos(math.pi * 0.9)) / 2])
    short = build({"name": "cosine", "eta_min": 0.001, "length": "50%"}, lrs=[0.1], spe=5, epochs=2)
    assert curve(short)[5:] == approx([0.001] * 5)  # stays at the floor after `length`
    assert short.boundaries() == [(5, "floor")]


def test_poly_with_power_and_floor():
    s = build({"name": "poly", "power": 2.0, "min_lr": 0.001}, lrs=[0.1], spe=10, epochs=1)
    assert s.lr(5) == approx([0.001 + 0.099 * 0.25])


def test_sgdr_float_t_mult_decay_and_restarts():
    s = build({"name": "sgdr", "cycle": 4, "t_mult": 1.5, "decay": 0.5}, lrs=[0.1], spe=10, epochs=3)
    # cycles of 4, 6, 9, 13.5 steps starting at 0, 4, 10, 19; peaks 0.1, 0.05, 0.025, 0.0125
    assert [s.lr(i)[0] for i in (0, 4, 10, 19)] == approx([0.1, 0.05, 0.025, 0.0125])
    assert s.lr(2) == approx([0.05])  # half way through the first cycle
    assert s.lr(7) == approx([0.025])  # 3 of 6 into the second
    assert s.boundaries() == [(4, "restart 1"), (10, "restart 2"), (19, "restart 3")]


def test_sgdr_cycle_limit_default_fill_and_restart_warmup():
    s = build({"name": "sgdr", "cycles": 2, "t_mult": 2.0, "min_lr": 0.001}, lrs=[0.1], spe=12, epochs=1)
    # no `cycle`: 2 cycles fill 12 steps -> 4 then 8
    assert s.boundaries() == [(4, "restart 1")]
    assert s.lr(4) == approx([0.1]) and s.lr(8) == approx([0.0505])
    limited = build({"name": "sgdr", "cycle": 3, "cycles": 2, "min_lr": 0.001},
                    lrs=[0.1], spe=10, epochs=1)
    assert curve(limited)[6:] == approx([0.001] * 4)
    assert limited.boundaries() == [(3, "restart 1"), (6, "floor")]
    rw = build({"name": "sgdr", "cycle": 6, "restart_warmup": 2}, lrs=[0.1], spe=12, epochs=1)
    assert [rw.lr(i)[0] for i in (6, 7, 8)] == approx([0.0, 0.05, 0.1])  # ramp, then the peak
    assert rw.lr(10) == approx([0.05])  # cosine over the remaining 4 steps


def test_cyclic_modes_and_inverse_momentum():
    base = {"name": "cyclic", "base_lr": 0.001, "max_lr": 0.006, "step_size": 5}
    tri = build(base, spe=10, epochs=3, momenta=[0.9])
    assert [tri.lr(i)[0] for i in (0, 2, 5, 10, 15)] == approx([0.001, 0.003, 0.006, 0.001, 0.006])
    assert [tri.momentum(i)[0] for i in (0, 5, 10)] == approx([0.95, 0.85, 0.95])
    assert tri.boundaries()[:3] == [(5, "peak"), (10, "cycle start"), (15, "peak")]
    tri2 = build({**base, "mode": "triangular2"}, spe=10, epochs=3)
    assert tri2.lr(15) == approx([0.001 + 0.005 / 2]) and tri2.momentum(0) is None
    exp = build({**base, "mode": "exp_range", "gamma": 0.9}, spe=10, epochs=3)
    assert exp.lr(5) == approx([0.001 + 0.005 * 0.9 ** 5])
    default = build({"name": "cyclic"}, lrs=[0.008], spe=10, epochs=10)  # 4-epoch half cycle
    assert default.lr(0) == approx([0.002]) and default.lr(40) == approx([0.008])


def test_cyclic_short_equals_torch_cycliclr():
    s = build({"name": "cyclic", "base_lr": 0.001, "max_lr": 0.01, "step_size": 3}, LRS, 4, 5,
              momenta=[0.9, 0.9])
    kwargs = {"base_lr": 0.001, "max_lr": 0.01, "step_size_up": 3, "base_momentum": 0.85,
              "max_momentum": 0.95}
    want_lr, want_mom = torch_run("CyclicLR", kwargs, 20)
    assert [s.lr(i) for i in range(20)] == [approx(v) for v in want_lr]
    assert [s.momentum(i) for i in range(20)] == [approx(v) for v in want_mom]


def test_onecycle_equals_torch_onecyclelr():
    s = build({"name": "onecycle"}, LRS, 7, 3, momenta=[0.9, 0.9])
    want_lr, want_mom = torch_run("OneCycleLR", {"max_lr": LRS, "total_steps": 21}, 21)
    assert [s.lr(i) for i in range(21)] == [approx(v) for v in want_lr]
    assert [s.momentum(i) for i in range(21)] == [approx(v) for v in want_mom]
    assert s.lr(0) == approx([0.01 / 25, 0.05 / 25])
    assert s.boundaries() == [(6, "peak")]  # pct_start 0.3 of 21 steps: peak at 5.3


# ----------------------------------------------------------------------------------------------
# Warmup

def test_warmup_in_front_of_step_is_a_prefix():
    s = build({"name": "StepLR", "step_size": 3, "warmup": {"epochs": 1, "start_factor": 0.1}},
              spe=4, epochs=10)
    assert curve(s)[:4] == approx([0.001 + 0.009 * i / 4 for i in range(4)])
    assert curve(s)[4:16] == approx([0.01] * 12)  # the schedule's epochs 0-2 are real epochs 1-3
    assert s.lr(16) == approx([0.001])
    assert s.boundaries() == [(4, "warmup end"), (16, "decay x0.1"), (28, "decay x0.1")]


def test_warmup_in_steps_ending_mid_epoch_keeps_epoch_boundaries():
    s = build({"name": "StepLR", "step_size": 1, "warmup": {"steps": 6}}, spe=4, epochs=4)
    lrs = curve(s)
    assert lrs[6:8] == approx([0.01, 0.01])  # rest of epoch 1 is the schedule's epoch 0
    assert lrs[8:12] == approx([0.001] * 4) and lrs[12:] == approx([0.0001] * 4)


def test_warmup_in_front_of_cosine_reaches_peak_and_floor():
    s = build({"name": "cosine", "warmup": "5 steps"}, lrs=[0.1], spe=5, epochs=5)
    assert s.lr(0) == approx([0.001])
    assert s.lr(5) == approx([0.1])
    assert s.lr(15) == approx([0.05])  # half way through the 20 steps after warmup
    assert s.lr(24)[0] == approx(0.05 * (1 + math.cos(math.pi * 19 / 20)))


def test_warmup_start_lr_per_group_and_epoch_unit():
    s = build({"name": "constant", "warmup": {"length": 2, "start_lr": [0.0, 0.01]},
               "interval": "epoch"}, lrs=LRS, spe=2, epochs=4)
    assert s.warmup_steps == 4
    assert s.lr(2) == approx([0.005, 0.03])


def test_warmup_in_front_of_plateau_ignores_warmup_epochs():
    s = build({"name": "plateau", "patience": 0, "warmup": {"epochs": 2}}, spe=2, epochs=6)
    assert s.needs_metric and s.lr(0) == approx([0.0001])
    s.observe(0, 5.0)
    s.observe(1, 9.0)  # worse, but still warming up: ignored
    s.observe(2, 1.0)
    s.observe(3, 2.0)
    assert curve(s)[4:] == approx([0.01] * 4 + [0.001] * 4)
    assert s.state_dict()["history"] == [[2, 1.0], [3, 2.0]]


def test_warmup_cosine_default_warmup_hold_and_floor():
    s = build({"name": "warmup_cosine", "hold": "10 steps", "min_lr": 0.001},
              lrs=[0.1], spe=10, epochs=10)
    assert s.warmup_steps == 5  # 5% of 100 steps
    assert s.lr(0) == approx([0.001]) and s.lr(5) == approx([0.1])
    assert curve(s)[5:15] == approx([0.1] * 10)
    assert s.lr(15 + 85 // 2)[0] < 0.06
    assert s.lr(99)[0] == approx(0.001 + 0.099 * (1 + math.cos(math.pi * 84 / 85)) / 2)
    assert s.boundaries() == [(5, "warmup end"), (15, "decay start")]
    assert build({"name": "warmup_cosine", "warmup": 0}, lrs=[0.1]).warmup_steps == 0


# ----------------------------------------------------------------------------------------------
# Durations

def test_duration_strings_convert_and_round():
    s = build({"name": "step", "step_size": "2 epochs"}, spe=5, epochs=6)  # interval epoch
    assert s.boundaries()[0] == (10, "decay x0.1")
    s = build({"name": "StepLR", "step_size": "12 steps"}, spe=5, epochs=6)  # 2.4 epochs -> 2
    assert s.boundaries()[0] == (10, "decay x0.1")
    s = build({"name": "cosine", "length": "1 epoch"}, spe=5, epochs=6)
    assert s.boundaries() == [(5, "floor")]
    s = build({"name": "MultiStepLR", "milestones": ["30%", "2 epochs"]}, epochs=10)
    assert s.boundaries() == [(2, "decay x0.1"), (3, "decay x0.1")]


# ----------------------------------------------------------------------------------------------
# Config rules

SECTION = {
    "name": "cyclic", "interval": "step", "warmup": {"steps": 2},
    "base_lr": 0.001, "max_lr": 0.01,
    "step": {"step_size": 3, "gamma": 0.5, "interval": "epoch"},
    "onecycle": {"max_lr": 0.1},
    "ReduceLROnPlateau": {"patience": 2, "interval": "epoch", "warmup": None},
}


def switch(section, name):
    """The spec after ``--schedule name``: choose_schedule (as load_config applies it), then resolve."""
    return resolve_schedule(choose_schedule(copy.deepcopy(section), name))


def test_schedule_switching_between_blocks():
    spec = resolve_schedule(SECTION)
    assert (spec.name, spec.kwargs, spec.interval, spec.warmup) == (
        "cyclic", {"base_lr": 0.001, "max_lr": 0.01}, "step", {"steps": 2, "start_factor": 0.01})
    spec = switch(SECTION, "onecycle")  # flat kwargs belong to cyclic: moved to its block
    assert (spec.name, spec.kwargs, spec.interval) == ("onecycle", {"max_lr": 0.1}, "step")
    spec = switch(SECTION, "STEP")
    assert (spec.name, spec.kwargs, spec.interval) == ("step", {"step_size": 3, "gamma": 0.5}, "epoch")
    spec = switch(SECTION, "reducelronplateau")
    assert (spec.name, spec.warmup, spec.keys["patience"]) == (
        "ReduceLROnPlateau", None, "schedule.ReduceLROnPlateau.patience")
    spec = resolve_schedule({"name": "step", "gamma": 0.5, "step": {"step_size": 2}})
    assert spec.kwargs == {"gamma": 0.5, "step_size": 2}  # flat + own block when name is chosen
    assert resolve_schedule({"name": "cosine"}).interval == "step"
    assert resolve_schedule({"name": "StepLR", "step_size": 1}).interval == "epoch"


def test_fill_lr_bounds_goes_to_blocks_and_to_the_chosen_schedule():
    section = {"name": "clr", "step_size": 3, "OneCycleLR": {"pct_start": 0.25}, "onecycle": None}
    got, taken = fill_lr_bounds(section, base_lr=0.01, max_lr=0.1, onecycle_max_lr=0.2)
    assert got is section
    assert section == {"name": "clr", "step_size": 3, "OneCycleLR": {"pct_start": 0.25, "max_lr": 0.2},
                       "onecycle": None, "base_lr": 0.01, "max_lr": 0.1}
    assert taken == {"schedule.base_lr": 0.01, "schedule.max_lr": 0.1, "schedule.OneCycleLR.max_lr": 0.2}
    assert fill_lr_bounds(None, base_lr=1, max_lr=2, onecycle_max_lr=3) == ({}, {})  # constant: nothing
    assert fill_lr_bounds("bad", base_lr=1, max_lr=2, onecycle_max_lr=3) == ("bad", {})


@pytest.mark.parametrize("section,name,message", [
    ({"name": "cosin"}, None, r"^schedule.name: unknown schedule 'cosin' \(did you mean 'cosine'\?\); "
                              r"valid choices: StepLR, "),
    (SECTION, "onecylce", r"^--schedule: unknown schedule 'onecylce' \(did you mean 'onecycle'\?\)"),
    ({}, None, r"^schedule.name: missing; expected one of: StepLR"),
    ({"name": "StepLR", "step_size": 3, "gama": 0.1}, None,
     r"^schedule.gama: unknown argument for StepLR \(did you mean 'gamma'\?\); valid arguments: "
     r"step_size, gamma"),
    ({"name": "cosine", "step": {"step_sise": 3}}, None, r"^schedule.step.step_sise: unknown argument"),
    ({"name": "StepLR", "step_size": 3, "last_epoch": 4}, None, r"^schedule.last_epoch: not accepted"),
    ({"name": "StepLR", "step_size": 3, "verbose": True}, None, r"^schedule.verbose: not accepted"),
    ({"name": "StepLR"}, None, r"^schedule.step_size: required by StepLR but not set"),
    ({"name": "cosine", "StepLR": {}}, "StepLR", r"^schedule.step_size: required by StepLR but not set"),
    ({"name": "step", "interval": "batch"}, None,
     r"^schedule.interval: expected one of \(epoch, step\), got 'batch'"),
    ({"name": "plateau", "interval": "step"}, None,
     r"^schedule.interval: plateau runs per epoch only, got 'step'"),
    ({"name": "step", "gamma": 0.5, "step": {"gamma": 0.2}}, None,
     r"^schedule.step.gamma: also set as schedule.gamma; set it in one place"),
    ({"name": "cosine", "onecycle": 3}, None, r"^schedule.onecycle: the arguments of schedule onecycle "
                                              r"must be a mapping, got 3"),
    ({"name": "cosine", "warmup": {"epoch": 1}}, None,
     r"^schedule.warmup.epoch: unknown warmup setting \(did you mean 'epochs'\?\)"),
    ({"name": "cosine", "warmup": {"epochs": 1, "steps": 3}}, None,
     r"^schedule.warmup: give exactly one of steps, epochs, length"),
    ({"name": "cosine", "warmup": {"epochs": 1, "start_factor": 2}}, None,
     r"^schedule.warmup.start_factor: expected a number >= 0 and <= 1, got 2"),
    ({"name": "cosine", "warmup": "2 weeks"}, None, r"^schedule.warmup.length: expected a number"),
    # without a name the section's schedule is config's default, constant, which keeps its arguments
    ({"step_size": 3}, "step", r"^schedule.constant.step_size: unknown argument for constant"),
    ({"name": "cosine", "step": {"interval": "epochs"}}, None,
     r"^schedule.step.interval: expected one of \(epoch, step\), got 'epochs' "
     r"\(did you mean 'epoch'\?\)"),
    ({"name": "cosine", "warmup": {"epochs": 1}, "plateau": {"warmup": {"steps": 1.5}}}, None,
     r"^schedule.plateau.warmup.steps: expected a whole number, got 1.5"),
])
def test_resolve_errors(section, name, message):
    with pytest.raises(LrtoolError, match=message) as info:
        switch(section, name) if name else resolve_schedule(section)
    assert "\n" not in str(info.value)


# ----------------------------------------------------------------------------------------------
# Impossible plans fail before training

@pytest.mark.parametrize("section,plan,message", [
    ({"name": "OneCycleLR", "max_lr": 0.1, "total_steps": 20}, (10, 3),
     r"^schedule.total_steps: one-cycle total_steps=20 is shorter than the run "
     r"\(the run has 30 steps\)"),
    ({"name": "OneCycleLR", "max_lr": 0.1, "epochs": 2, "steps_per_epoch": 10}, (10, 3),
     r"^schedule.epochs: one-cycle total_steps=20 is shorter"),
    ({"name": "cosine", "warmup": {"epochs": 9}}, (5, 9),
     r"^schedule.warmup: 45 warmup steps leave no training for the schedule \(the run has 45 steps\)"),
    ({"name": "cyclic", "base_lr": 0.01, "max_lr": 0.01}, (5, 9),
     r"^schedule.base_lr: base_lr 0.01 of param group 0 must be below max_lr 0.01"),
    ({"name": "CyclicLR", "base_lr": [0.001, 0.2], "max_lr": 0.1}, (5, 9),
     r"^schedule.base_lr: base_lr 0.2 of param group 1 must be below max_lr 0.1"),
    ({"name": "CosineAnnealingWarmRestarts", "T_0": 0}, (5, 9),
     r"^schedule.T_0: expected a positive duration, got 0"),
    ({"name": "sgdr", "cycle": -2}, (5, 9), r"^schedule.cycle: expected a non-negative duration"),
    ({"name": "StepLR", "step_size": 2.5}, (5, 9),
     r"^schedule.step_size: expected a whole number of epochs, got 2.5"),
    ({"name": "onecycle", "onecycle": {"pct_start": 1.5}}, (5, 9),
     r"^schedule.onecycle.pct_start: expected a number >= 0 and <= 1, got 1.5"),
    ({"name": "OneCycleLR", "max_lr": 0.1, "pct_start": 0.1}, (10, 1),
     r"^schedule.pct_start: pct_start x total = 1"),
    ({"name": "ReduceLROnPlateau", "factor": 1.0}, (5, 9),
     r"^schedule.factor: expected a factor below 1"),
    ({"name": "LambdaLR", "lr_lambda": ["1", "2", "3"]}, (5, 9),
     r"^schedule.lr_lambda: expected one expression or a list of 2"),
    ({"name": "warmup_cosine", "hold": "100%"}, (5, 9), r"^schedule.hold: hold 43 steps leaves no room"),
    ({"name": "cosine", "cosine": {"min_lr": 1}}, (5, 9),
     r"^schedule.cosine.min_lr: expected a floor below the optimizer's lr of param group 0 \(0.01\), got 1; "
     r"the LR would rise"),
    ({"name": "sgdr", "eta_min": [0.001, 0.05]}, (5, 9),
     r"^schedule.eta_min: expected a floor below the optimizer's lr of param group 1 \(0.05\), got 0.05;"),
    ({"name": "poly", "min_lr": 0.01}, (5, 9), r"^schedule.min_lr: expected a floor below the optimizer's lr"),
    ({"name": "warmup_cosine", "min_lr": 0.5}, (5, 9), r"^schedule.min_lr: expected a floor below"),
    ({"name": "cyclic", "mode": "triangle"}, (5, 9),
     r"^schedule.mode: expected one of \(triangular, triangular2, exp_range\), got 'triangle' "
     r"\(did you mean 'triangular'\?\)"),
])
def test_impossible_plans_raise_before_training(section, plan, message):
    with pytest.raises(LrtoolError, match=message) as info:
        build(section, lrs=LRS, spe=plan[0], epochs=plan[1], momenta=[0.9, 0.9])
    assert "\n" not in str(info.value)


def test_a_floor_at_the_lr_is_refused_but_torchs_cosine_annealing_rises_to_eta_min_as_torch_does():
    with pytest.raises(LrtoolError, match=r"^schedule.min_lr: expected a floor below the optimizer's lr \(0.01\), "
                                          r"got 0.01; the LR would rise to it instead of decaying$"):
        build({"name": "cosine", "min_lr": 0.01})
    rising = curve(build({"name": "CosineAnnealingLR", "eta_min": 0.5}))
    assert rising[0] == pytest.approx(0.01) and rising[-1] > 0.4


# ----------------------------------------------------------------------------------------------
# The expression evaluator

@pytest.mark.parametrize("expr,message", [
    ("__import__('os').system('true')", r"is not allowed \(calling \"__import__"),
    ("__import__('os')", r"is not allowed \(calling '__import__'\)"),
    ("epoch.real", r"is not allowed \(attribute access\)"),
    ("'0.5'", r"only numbers are allowed"),
    ("open('x')", r"calling 'open'"),
    ("[1, 2][0]", r"is not allowed \(subscript"),
    ("(lambda: 1)()", r"calling"),
    ("epochs * 0.1", r"unknown name \(did you mean 'epoch'\?\)"),
    ("epoch +", r"invalid expression"),
    ("min(epoch)", r"min takes 2 to any arguments"),
    ("exp(x=1)", r"only plain positional arguments"),
    ("log(epoch - 3)", r"fails at epoch=0: math domain error"),
    ("10.0 ** (100 * epoch)", r"fails at epoch=4"),
    ("1 - epoch", r"gives -1.0 at epoch=2; expected a finite factor >= 0"),
    ("(epoch - 9) ** 0.5", r"fails at epoch=0: result is not a real number"),
])
def test_expression_evaluator_rejects_unsafe_or_bad_input(expr, message):
    with pytest.raises(LrtoolError, match=r"^schedule.lr_lambda: .*" + message) as info:
        build({"name": "LambdaLR", "lr_lambda": expr})
    assert "\n" not in str(info.value)


def test_scale_fn_is_an_expression_checked_before_training():
    with pytest.raises(LrtoolError, match=r"^schedule.scale_fn: '1 / \(x - 2\)' fails at x=2"):
        build({"name": "CyclicLR", "base_lr": 0.001, "max_lr": 0.01, "scale_fn": "1 / (x - 2)",
               "scale_mode": "iterations", "cycle_momentum": False})


def test_expression_evaluator_features():
    expr = "max(0.1, cos(pi * t / 18)) if not (step > 6 and epoch < 8) else floor(e) / 4 + sqrt(4) % 2"
    s = build({"name": "LambdaLR", "lr_lambda": expr})
    want = [max(0.1, math.cos(math.pi * t / 18)) if not (6 < t < 8) else 0.5 for t in range(9)]
    assert curve(s) == approx([0.01 * w for w in want])


# ----------------------------------------------------------------------------------------------
# Purity, preview, API shape

ALL_SECTIONS = [
    {"name": "constant"}, {"name": "step"}, {"name": "multistep"}, {"name": "exponential"},
    {"name": "cosine", "warmup": {"epochs": 1}}, {"name": "sgdr", "t_mult": 1.5, "decay": 0.7},
    {"name": "cyclic", "mode": "triangular2"}, {"name": "onecycle"}, {"name": "plateau"},
    {"name": "poly"}, {"name": "warmup_cosine", "hold": "10%"},
    {"name": "MultiplicativeLR", "lr_lambda": "0.97"},
]


@pytest.mark.parametrize("section", ALL_SECTIONS, ids=[s["name"] for s in ALL_SECTIONS])
def test_lr_is_pure_and_preview_agrees(section):
    spec = resolve_schedule(section)
    plan = Plan(7, 6)
    s = build_schedule(spec, LRS, plan, base_momenta=[0.9, 0.9])
    in_order = [(s.lr(i), s.momentum(i)) for i in range(plan.total_steps)]
    fresh = build_schedule(spec, LRS, plan, base_momenta=[0.9, 0.9])
    steps = list(range(plan.total_steps))
    random.Random(0).shuffle(steps)
    assert {i: (fresh.lr(i), fresh.momentum(i)) for i in steps} == dict(enumerate(in_order))
    rows = preview(spec, LRS, plan, base_momenta=[0.9, 0.9])
    assert [r["step"] for r in rows] == list(range(plan.total_steps))
    for row, (lrs, mom) in zip(rows, in_order):
        assert row["epoch"] == row["step"] // 7
        assert (row["lr"], row["lr/pg0"], row["lr/pg1"]) == (lrs[0], lrs[0], lrs[1])
        assert row.get("momentum") == (None if mom is None else mom[0])
    assert all(v >= 0 and math.isfinite(v) for lrs, _ in in_order for v in lrs)


def test_preview_single_group_has_no_group_columns():
    rows = preview(resolve_schedule({"name": "cosine"}), [0.1], Plan(2, 2))
    assert set(rows[0]) == {"step", "epoch", "lr"}


@settings(max_examples=40, deadline=None)
@given(spe=st.integers(1, 6), epochs=st.integers(2, 8), warm=st.integers(0, 12),
       name=st.sampled_from(["step", "multistep", "exponential", "ExponentialLR", "LinearLR",
                             "cosine", "poly"]))
def test_epoch_interval_changes_only_at_epoch_boundaries(spe, epochs, warm, name):
    warm = min(warm, spe * epochs - 1)
    kwargs = {"gamma": 0.5} if name == "ExponentialLR" else {}
    s = build({"name": name, "interval": "epoch", "warmup": {"steps": warm}, **kwargs},
              spe=spe, epochs=epochs)
    lrs = curve(s)
    for i in range(warm + 1, len(lrs)):
        if i % spe:
            assert lrs[i] == lrs[i - 1]


def test_every_registered_schedule_builds_with_defaults_or_minimal_args():
    minimal = {"StepLR": {"step_size": 2}, "MultiStepLR": {"milestones": [2]},
               "ExponentialLR": {"gamma": 0.9}, "CosineAnnealingWarmRestarts": {"T_0": 2},
               "CyclicLR": {"base_lr": 0.001, "max_lr": 0.1}, "OneCycleLR": {"max_lr": 0.1},
               "LambdaLR": {"lr_lambda": "1"}, "MultiplicativeLR": {"lr_lambda": "1"}}
    for name in SCHEDULES.names():
        s = build({"name": name, **minimal.get(name, {})}, lrs=LRS, spe=3, epochs=9, momenta=[0.9, 0.9])
        assert len(s.lr(5)) == 2 and s.interval in ("epoch", "step")
        assert SCHEDULES.help(name)


def test_spec_built_by_hand_is_checked_too():
    with pytest.raises(LrtoolError, match=r"^schedule.step_sise: unknown argument"):
        build_schedule(ScheduleSpec("step", {"step_sise": 2}, "epoch", None), [0.1], Plan(1, 9))
    s = build_schedule(ScheduleSpec("StepLR", {"step_size": 2}), [0.1], Plan(1, 9))
    assert s.interval == "epoch"


def test_plan_rejects_empty_runs():
    with pytest.raises(LrtoolError, match=r"^steps_per_epoch: expected a positive whole number, got 0"):
        Plan(0, 3)
    assert Plan(4, 3).total_steps == 12


def test_module_does_not_import_torch():
    code = "import sys, lrtool.schedules; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)

"""What a range test tells people: suggestions from the sane part of the curve, --lr-from keeping the
measured param-group ratios, sample-weighted gradient accumulation, and warnings for suspicious plans."""

from __future__ import annotations

import math
import re

import pytest

from lrtool.run.finder import sweep
from lrtool.run.suggest import suggest, usable_length

from .conftest import invoke, rows, summary, write_base_config

DIGITS = """\
seed: 0
device: cpu
data: {name: digits, batch_size: 64, val_fraction: 0.2}
model: {name: mlp, hidden: [32]}
optimizer: {name: SGD, lr: 0.05, momentum: 0.9}
train: {epochs: 2, plots: false, checkpoints: false}
find_lr: {start_lr: 1.0e-4, end_lr: 10, num_iter: 200, val_every: 0}
"""


# ---------------------------------------------------------------- suggestions before the explosion


def test_exploded_sweep_suggests_from_before_the_minimum(tmp_path):
    # the case: no divergence stop, the sweep runs to NaN; the EMA decaying from 1e31 after the
    # explosion must not read as the steepest descent
    cfg = write_base_config(tmp_path, "digits.yaml", DIGITS)
    out = tmp_path / "lrf"
    res = invoke("find-lr", cfg, "--out", out, "--set", "find_lr.end_lr=1e30",
                 "--set", "find_lr.diverge_threshold=.inf")
    assert res.exit_code == 0, res.output
    s = summary(out)
    i_min = s["suggestions"]["minimum"]["min_step"]
    # the 0.387, within one step of this sweep (x1.48 a step: 34 decades in 200 steps; the steepest
    # slope is taken over +-m/10 points since the benchmark, which moves it by one step here)
    assert 0.387 / 1.5 < s["suggestions"]["steepest"]["lr"] < 0.387 * 1.5
    for name, sug in s["suggestions"].items():
        assert sug["step"] <= i_min, name
        assert sug["loss"] < 3.0, name  # the loss at the start is 2.3; the exploded part is 1e31
    # the same answer as a sweep that stops at a finite threshold
    out10 = tmp_path / "lrf10"
    assert invoke("find-lr", cfg, "--out", out10, "--set", "find_lr.end_lr=1e30",
                  "--set", "find_lr.diverge_threshold=10").exit_code == 0
    assert summary(out10)["suggestions"]["steepest"]["lr"] == pytest.approx(s["suggestions"]["steepest"]["lr"])


def test_every_rule_ignores_a_curve_that_explodes_and_decays():
    lrs = sweep(1e-4, 1e4, 120)
    # falls from 2.3 to 0.5 by step 40, explodes to 1e30 at step 50, then the EMA decays for 70 steps
    loss = [2.3 - 1.8 * min(i, 40) / 40 for i in range(50)] + [1e30 * 0.9 ** k for k in range(70)]
    assert usable_length(loss) == 50
    out = suggest(lrs, loss, diverged_at_end=True, num_iter=120)
    for name, sug in out["suggestions"].items():
        assert sug is not None and sug["step"] <= 40 and sug["loss"] <= 2.3, name
    assert out["clr"]["max_lr"] <= lrs[40] and out["onecycle"]["max_lr"] <= lrs[40]


def test_a_partial_sweep_never_asks_to_raise_end_lr():
    """Interrupted while the loss still fell: the curve's end says nothing about end_lr."""
    lrs = [1e-4 * 10 ** (i / 10) for i in range(30)]
    falling = [2.0 - 0.05 * i for i in range(30)]
    whole = suggest(lrs, falling, num_iter=30)
    assert whole["shape"] == "never_rises" and any("raise end_lr" in n for n in whole["notes"])
    assert whole["partial"] is False
    cut = suggest(lrs, falling, num_iter=60, partial=True)
    assert cut["partial"] is True and cut["shape"] == "u" and cut["lr"] == whole["lr"]
    assert cut["notes"] == [f"partial sweep: the suggestions come from the LRs swept before the interrupt (up to "
                            f"{lrs[-1]:.3g}); run find-lr again and let it finish to confirm them"]
    flat = suggest(lrs, [2.0] * 30, num_iter=60, partial=True)
    assert flat["lr"] is None and flat["notes"] == [
        "the loss never fell before the sweep was interrupted: no suggestion; run find-lr again and let it finish"]


def test_trimmed_valley_drops_fastai_ends():
    lrs = sweep(1e-6, 10.0, 100)
    x = [math.log10(v) for v in lrs]
    loss = [2.3 - 2.0 / (1 + math.exp(-(v + 2) * 4)) + (8 * (v + 0.5) ** 2 if v > -0.5 else 0.0) for v in x]
    out = suggest(lrs, loss, diverged_at_end=True, num_iter=100)
    whole, trimmed = out["suggestions"]["valley"], out["suggestions"]["valley_trimmed"]
    assert trimmed["step"] >= 10 and trimmed["lr"] > whole["lr"]
    assert out["lr_rule"] in out["suggestions"] and out["lr"] == out["suggestions"][out["lr_rule"]]["lr"]


# ---------------------------------------------------------------- --lr-from keeps the swept group ratios

GROUPS = """\
seed: 0
device: cpu
data: {name: synthetic, n_samples: 160, n_features: 8, n_classes: 3, batch_size: 32}
model: {name: mlp, hidden: [16]}
optimizer: {name: SGD, lr: 0.01, momentum: 0.9, param_groups: [{match: head, lr: 0.1}]}
train: {epochs: 1, plots: false, checkpoints: false}
find_lr: {start_lr: 1.0e-4, end_lr: 100, num_iter: 30, smooth: 0.9}
"""


def _config_lrs(run):
    import yaml

    doc = yaml.safe_load((run / "config.yaml").read_text())
    return doc["optimizer"], doc["schedule"]


def test_lr_from_keeps_the_param_group_ratio(tmp_path):
    cfg = write_base_config(tmp_path, "groups.yaml", GROUPS)
    lrf = tmp_path / "lrf"
    assert invoke("find-lr", cfg, "--out", lrf).exit_code == 0
    s = summary(lrf)
    assert s["sweep"]["lr_ratios"] == pytest.approx([1.0, 10.0])
    suggested = s["lr"]
    run = tmp_path / "fixed"
    res = invoke("train", cfg, "--lr-from", lrf, "--out", run)
    assert res.exit_code == 0, res.output
    optimizer, _ = _config_lrs(run)
    assert optimizer["lr"] == pytest.approx(suggested)
    assert optimizer["param_groups"][0]["lr"] == pytest.approx(10 * suggested)
    steps = rows(run / "steps.csv")
    assert float(steps[0]["lr/pg1"]) == pytest.approx(10 * float(steps[0]["lr/pg0"]))
    # one-cycle: both peaks from the test, the head's at 10x
    one = tmp_path / "one"
    res = invoke("train", cfg, "--lr-from", lrf, "--schedule", "onecycle", "--out", one)
    assert res.exit_code == 0, res.output
    _, schedule = _config_lrs(one)
    peak = s["onecycle"]["max_lr"]
    assert schedule["max_lr"] == pytest.approx([peak, 10 * peak])
    lr0 = [float(r["lr/pg0"]) for r in rows(one / "steps.csv")]
    lr1 = [float(r["lr/pg1"]) for r in rows(one / "steps.csv")]
    assert max(lr1) == pytest.approx(10 * max(lr0), rel=1e-6)


def test_lr_from_refuses_a_test_of_other_groups(tmp_path):
    cfg = write_base_config(tmp_path, "groups.yaml", GROUPS)
    lrf = tmp_path / "lrf"
    assert invoke("find-lr", cfg, "--out", lrf).exit_code == 0
    plain = write_base_config(tmp_path, "plain.yaml", GROUPS.replace(", param_groups: [{match: head, lr: 0.1}]", ""))
    res = invoke("train", plain, "--lr-from", lrf, "--out", tmp_path / "x")
    assert res.exit_code != 0 and "swept 2 param group(s)" in res.output


@pytest.mark.parametrize("groups, expected", [
    # another match: the suggestion was measured with other parameters at the ratio
    ("[{match: bias, lr: 0.1}]", "optimizer.param_groups[0]: match 'bias' differs from the range test's 'head'; "
                                 "rerun lrtool find-lr with these param groups"),
    # the same match at another ratio to optimizer.lr (5x, swept at 10x)
    ("[{match: head, lr: 0.05}]", "optimizer.param_groups[0]: lr 0.05 is 5x optimizer.lr (0.01), the range test "
                                  "swept this group at 10x; rerun lrtool find-lr with these param groups"),
])
def test_lr_from_refuses_groups_other_than_the_swept_ones(tmp_path, groups, expected):
    cfg = write_base_config(tmp_path, "groups.yaml", GROUPS)
    lrf = tmp_path / "lrf"
    assert invoke("find-lr", cfg, "--out", lrf).exit_code == 0
    res = invoke("train", cfg, "--lr-from", lrf, "--set", f"optimizer.param_groups={groups}", "--out", tmp_path / "x")
    assert res.exit_code == 2 and res.stderr.startswith(f"lrtool: error: --lr-from {lrf}: {expected}")
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "x").exists()
    # other options of the group may differ, and a group that sets no lr takes the swept ratio
    for k, same in enumerate(("[{match: head, lr: 0.1, weight_decay: 0.01}]", "[{match: head}]")):
        res = invoke("train", cfg, "--lr-from", lrf, "--set", f"optimizer.param_groups={same}",
                     "--out", tmp_path / f"y{k}")
        assert res.exit_code == 0, res.output
        assert _config_lrs(tmp_path / f"y{k}")[0]["param_groups"][0]["lr"] == pytest.approx(10 * summary(lrf)["lr"])


def test_lr_from_refuses_groups_a_one_group_test_never_swept(tmp_path):
    plain = write_base_config(tmp_path, "plain.yaml", GROUPS.replace(", param_groups: [{match: head, lr: 0.1}]", ""))
    lrf = tmp_path / "lrf"
    assert invoke("find-lr", plain, "--out", lrf).exit_code == 0
    cfg = write_base_config(tmp_path, "groups.yaml", GROUPS)
    res = invoke("train", cfg, "--lr-from", lrf, "--out", tmp_path / "x")
    assert res.exit_code == 2 and res.stderr.startswith(
        f"lrtool: error: --lr-from {lrf}: the range test swept 1 param group(s), this config's optimizer has 2; "
        "rerun lrtool find-lr with these param groups")


def test_the_pasted_snippet_keeps_the_group_ratios(tmp_path):
    import yaml

    cfg = write_base_config(tmp_path, "groups.yaml", GROUPS)
    lrf = tmp_path / "lrf"
    res = invoke("find-lr", cfg, "--out", lrf)
    assert res.exit_code == 0, res.output
    s = summary(lrf)
    assert s["sweep"]["group_match"] == ["head"]
    text = res.output.split("paste into your config (or use `lrtool train --lr-from`):\n")[1].split("\nwrote ")[0]
    pasted = yaml.safe_load(text)
    lr, clr, peak = s["lr"], s["clr"], s["onecycle"]["max_lr"]
    assert pasted["optimizer"]["lr"] == pytest.approx(lr, rel=5e-3)
    assert pasted["optimizer"]["param_groups"] == [{"match": "head", "lr": pytest.approx(10 * lr, rel=5e-3)}]
    assert pasted["schedule"]["cyclic"]["max_lr"] == pytest.approx([clr["max_lr"], 10 * clr["max_lr"]], rel=5e-3)
    assert pasted["schedule"]["onecycle"]["max_lr"] == pytest.approx([peak, 10 * peak], rel=5e-3)


# ---------------------------------------------------------------- a suggestion far from the valley is flagged


def test_a_suggestion_decades_from_the_valley_gets_a_note():
    # the trial's regression curve: flat and noisy at the start, where a small early dip reads as the steepest
    # descent (2.6e-06) while the loss really falls around 0.02
    lrs = sweep(1e-7, 10, 80)
    loss = [1.0 - 0.04 * min(max(i - 12, 0), 2) / 2 - 0.06 * min(max(i - 35, 0), 30) / 30 + 0.5 * max(i - 70, 0)
            for i in range(80)]
    out = suggest(lrs, loss, num_iter=80, diverged_at_end=True)
    steep, valley = out["suggestions"]["steepest"], out["suggestions"]["valley"]
    assert out["lr"] == steep["lr"] < valley["lr"] / 100  # the default rule is unchanged
    assert out["notes"] == [
        f"the steepest suggestion ({steep['lr']:.3g}, step {steep['step']}) is more than 100x from the valley "
        f"({valley['lr']:.3g}, step {valley['step']}): the curve is likely flat or noisy where one of them lies; "
        "look at the plot (lr_find.png) before training at either"]
    assert suggest(lrs, loss, num_iter=80, diverged_at_end=True, rule="valley")["notes"] == []


# ---------------------------------------------------------------- gradient accumulation is sample-weighted


def _losses(run, name="steps.csv", column="loss"):
    return [float(r[column]) for r in rows(run / name)]


def test_accumulation_equals_one_batch_of_the_same_samples_in_train(tmp_path):
    cfg = write_base_config(tmp_path, "digits.yaml", DIGITS)
    one, acc = tmp_path / "one", tmp_path / "acc"
    assert invoke("train", cfg, "--out", one).exit_code == 0
    res = invoke("train", cfg, "--out", acc, "--set", "data.batch_size=16", "--set", "train.accumulate=4")
    assert res.exit_code == 0, res.output
    a, b = _losses(one), _losses(acc)
    assert len(a) == len(b) == 46  # 23 steps an epoch; step 22 is the short last window (16 + 14 samples)
    assert b == pytest.approx(a, rel=1e-5)
    assert _losses(acc, "epochs.csv", "val_loss") == pytest.approx(_losses(one, "epochs.csv", "val_loss"), rel=1e-5)
    assert _losses(acc, "epochs.csv", "train_loss") == pytest.approx(_losses(one, "epochs.csv", "train_loss"),
                                                                     rel=1e-5)


def test_accumulation_equals_one_batch_of_the_same_samples_in_find_lr(tmp_path):
    cfg = write_base_config(tmp_path, "digits.yaml", DIGITS)
    one, acc = tmp_path / "one", tmp_path / "acc"
    assert invoke("find-lr", cfg, "--out", one, "--set", "find_lr.num_iter=30").exit_code == 0
    assert invoke("find-lr", cfg, "--out", acc, "--set", "find_lr.num_iter=30", "--set", "data.batch_size=16",
                  "--set", "train.accumulate=4").exit_code == 0
    # the first 22 steps draw the same 64 samples both ways (later the epoch boundary falls differently)
    assert _losses(acc, "lr_find.csv")[:22] == pytest.approx(_losses(one, "lr_find.csv")[:22], rel=1e-5)


# ---------------------------------------------------------------- legal but suspicious plans warn

@pytest.mark.parametrize("section,plan,message", [
    # the case: a cycle of 1000 counted per epoch over a 10-epoch run
    ({"name": "OneCycleLR", "max_lr": 0.1, "total_steps": 1000, "interval": "epoch"}, (23, 10),
     r"^schedule.total_steps: one-cycle total_steps=1000 is much longer than the run .*reaches 4.2% of max_lr "
     r"and never anneals"),
    ({"name": "CyclicLR", "base_lr": 0.001, "max_lr": 0.1}, (23, 10),  # torch's step_size_up=2000 > 230 steps
     r"^schedule.step_size_up: the cycle is much longer than the run"),
    ({"name": "cyclic", "step_size": 1}, (100, 10), r"^schedule.step_size: the cycle is much shorter than the run"),
    ({"name": "MultiStepLR", "milestones": [3, 12]}, (5, 9),
     r"^schedule.milestones: milestone 12 is beyond the last epoch of the run \(epochs 0..8\): it never happens"),
    ({"name": "multistep", "milestones": [3, 8], "warmup": {"epochs": 2}}, (5, 9),
     r"^schedule.milestones: milestone 8 is beyond .* \(epochs 0..6 counted after warmup\)"),
    ({"name": "StepLR", "step_size": 9}, (5, 9),
     r"^schedule.step_size: step_size 9 epochs is not shorter than the run .*never changes"),
    ({"name": "CosineAnnealingWarmRestarts", "T_0": 20}, (5, 9), r"^schedule.T_0: .*no restart ever happens"),
    ({"name": "sgdr", "cycle": "2 epochs", "cycles": 8}, (5, 9),
     r"^schedule.cycles: only 5 of the 8 cycles fit in the run"),
    ({"name": "CosineAnnealingLR", "T_max": 3}, (5, 9), r"^schedule.T_max: .*climbs back up"),
    ({"name": "CosineAnnealingLR", "T_max": 40}, (5, 9), r"^schedule.T_max: .*much longer than the run"),
    ({"name": "cosine", "warmup": {"epochs": 6}}, (5, 9), r"^schedule.warmup: warmup takes 30 of the run's 45 steps"),
])
def test_suspicious_plans_build_with_a_warning(section, plan, message):
    from lrtool.schedules import Plan, build_schedule, resolve_schedule

    schedule = build_schedule(resolve_schedule(section), [0.01], Plan(*plan), base_momenta=[0.9])
    assert len(schedule.notes) == 1 and "\n" not in schedule.notes[0]
    assert re.match(message, schedule.notes[0]), schedule.notes


@pytest.mark.parametrize("section", [{"name": "onecycle"}, {"name": "cyclic"}, {"name": "cosine"},
                                     {"name": "step"}, {"name": "sgdr"}, {"name": "OneCycleLR", "max_lr": 0.1},
                                     {"name": "cosine", "warmup": {"epochs": 1}}])
def test_ordinary_plans_have_no_warnings(section):
    from lrtool.schedules import Plan, build_schedule, resolve_schedule

    assert build_schedule(resolve_schedule(section), [0.01], Plan(23, 10), base_momenta=[0.9]).notes == []


def test_train_prints_and_records_the_warnings(tmp_path):
    cfg = write_base_config(tmp_path)
    out = tmp_path / "run"
    res = invoke("train", cfg, "--out", out, "--set", "schedule.name=MultiStepLR", "--set", "schedule.milestones=[1,5]")
    assert res.exit_code == 0, res.output
    assert "warning: schedule.milestones: milestone 5 is beyond" in res.output
    assert summary(out)["notes"] == [n for n in summary(out)["notes"] if "never happens" in n] != []

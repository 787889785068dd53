"""The range test: sweep values, smoothing, divergence and NaN stops, state restore, suggestions."""

from __future__ import annotations

import math
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lrtool.run import engine
from lrtool.run.finder import diverged, range_test, smooth, sweep
from lrtool.run.suggest import snippet, suggest


class Split:
    """A minimal in-memory split with the data module's batches() interface."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def batches(self, batch_size, *, shuffle, generator=None, drop_last=False):
        idx = torch.randperm(len(self), generator=generator) if shuffle else torch.arange(len(self))
        stop = len(self) - len(self) % batch_size if drop_last else len(self)
        for i in range(0, stop, batch_size):
            j = idx[i:i + batch_size]
            yield self.x[j], self.y[j]


def xor_task(n: int = 256, seed: int = 0) -> Split:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 2, (n, 2), generator=g).float()
    y = (x[:, 0] != x[:, 1]).long()
    return Split(x + 0.05 * torch.randn(n, 2, generator=g), y)


def cfg(**kw):
    base = dict(start_lr=1e-4, end_lr=10.0, num_iter=60, mode="exp", smooth=0.9, diverge_threshold=4.0,
                val_every=0, val_samples=64)
    base.update(kw)
    return SimpleNamespace(**base)


def make(seed: int = 0, opt: str = "sgd"):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(),
                                torch.nn.Linear(16, 2))
    if opt == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    return model, optimizer


def run(model, optimizer, c, split=None, **kw):
    precision = engine.Precision("fp32", torch.device("cpu"))
    return range_test(model, optimizer, torch.nn.functional.cross_entropy, split or xor_task(), c,
                      batch_size=32, precision=precision, generator=torch.Generator().manual_seed(0), **kw)


# ---------------------------------------------------------------- sweep and smoothing


def test_exp_sweep_hits_both_ends_and_is_geometric():
    lrs = sweep(1e-7, 10.0, 100, "exp")
    assert len(lrs) == 100
    assert lrs[0] == 1e-7 and lrs[-1] == 10.0
    ratio = (10.0 / 1e-7) ** (1 / 99)
    for a, b in zip(lrs, lrs[1:]):
        assert b / a == pytest.approx(ratio, rel=1e-12)
    assert lrs[50] == pytest.approx(1e-7 * (1e8) ** (50 / 99), rel=1e-12)


def test_linear_sweep_values():
    assert sweep(0.0001, 1.0, 5, "linear") == pytest.approx([0.0001, 0.250075, 0.50005, 0.750025, 1.0])


def test_sweep_rejects_bad_mode():
    with pytest.raises(ValueError, match="expected one of"):
        sweep(1e-3, 1.0, 10, "expo")


def test_smoothing_is_bias_corrected_ema():
    losses = [2.0, 1.0, 4.0, 3.0]
    beta = 0.9
    avg, expected = 0.0, []
    for t, v in enumerate(losses, 1):
        avg = beta * avg + (1 - beta) * v
        expected.append(avg / (1 - beta**t))
    assert smooth(losses, beta) == pytest.approx(expected, rel=1e-12)
    assert smooth(losses, beta)[0] == pytest.approx(2.0)  # bias correction: the first value is the loss
    assert smooth(losses, 0.0) == losses


def test_divergence_rule_for_positive_and_negative_losses():
    assert diverged(8.1, 2.0, 4.0) and not diverged(7.9, 2.0, 4.0)  # 4 x best for positive losses
    # best -2 with threshold 4: the loss must rise by 3 x |best| = 6, to above 4
    assert not diverged(3.9, -2.0, 4.0) and diverged(4.1, -2.0, 4.0)
    assert not diverged(-1.0, -2.0, 4.0)  # a rise to -1 is not divergence (4 x -2 = -8 would say so)


# ---------------------------------------------------------------- the sweep itself


def test_range_test_records_one_lr_per_step_and_diverges():
    model, opt = make()
    res = run(model, opt, cfg())
    assert res.stop_reason == "diverged"
    assert res.stop_step == len(res.rows) - 1 < 60
    assert [r["lr"] for r in res.rows] == sweep(1e-4, 10.0, 60)[: len(res.rows)]
    assert [r["step"] for r in res.rows] == list(range(len(res.rows)))
    raw = [r["loss"] for r in res.rows]
    assert [r["smoothed_loss"] for r in res.rows] == pytest.approx(smooth(raw, 0.9), rel=1e-9)
    last, best = res.rows[-1]["smoothed_loss"], min(r["smoothed_loss"] for r in res.rows[:-1])
    assert last > 4.0 * best
    assert "rose more than 4x" in res.message


def test_range_test_completes_without_divergence_at_small_lrs():
    model, opt = make()
    res = run(model, opt, cfg(start_lr=1e-6, end_lr=1e-3, num_iter=20))
    assert res.stop_reason == "completed" and len(res.rows) == 20
    assert res.rows[-1]["lr"] == 1e-3


def test_the_sweep_holds_no_list_of_num_iter_lrs():
    import tracemalloc

    model, opt = make()
    tracemalloc.start()
    try:
        res = run(model, opt, cfg(num_iter=1_000_000), should_stop=lambda: True)  # interrupted after step 0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert res.stop_reason == "interrupted" and len(res.rows) == 1 and "(step 1 of 1000000)" in res.message
    assert peak < 8_000_000  # a list of the million LRs alone takes 32 MB


def test_gradient_accumulation_keeps_one_lr_per_optimizer_step():
    model, opt = make()
    steps = []
    orig = opt.step

    def counting_step(*a, **k):
        steps.append(opt.param_groups[0]["lr"])
        return orig(*a, **k)

    opt.step = counting_step
    res = run(model, opt, cfg(start_lr=1e-5, end_lr=1e-2, num_iter=10), accumulate=3)
    assert len(res.rows) == 10
    assert steps == pytest.approx(sweep(1e-5, 1e-2, 10))


def test_nan_loss_stops_and_is_recorded():
    model, opt = make()
    x = xor_task()
    bad = Split(x.x.clone(), x.y)
    calls = {"n": 0}

    def loss_fn(out, y):
        calls["n"] += 1
        loss = torch.nn.functional.cross_entropy(out, y)
        return loss * float("nan") if calls["n"] == 5 else loss

    precision = engine.Precision("fp32", torch.device("cpu"))
    res = range_test(model, opt, loss_fn, bad, cfg(num_iter=30), batch_size=32, precision=precision,
                     generator=torch.Generator().manual_seed(0))
    assert res.stop_reason == "non_finite" and res.stop_step == 4
    assert math.isnan(res.rows[-1]["loss"]) and len(res.rows) == 5
    assert "nan" in res.message


@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize("how", ["diverged", "completed", "exception"])
def test_state_is_restored_bit_for_bit(opt, how):
    model, optimizer = make(opt=opt)
    # give the optimizer some state first, as after a bit of training
    loss = torch.nn.functional.cross_entropy(model(torch.randn(8, 2)), torch.randint(0, 2, (8,)))
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    model.eval()
    before_params = {k: v.clone() for k, v in model.state_dict().items()}
    before_opt = optimizer.state_dict()
    before_opt = {"state": {k: {n: (t.clone() if torch.is_tensor(t) else t) for n, t in s.items()}
                            for k, s in before_opt["state"].items()},
                  "param_groups": [dict(g) for g in before_opt["param_groups"]]}
    torch.manual_seed(123)
    random.seed(5)
    np.random.seed(7)
    rng = (torch.get_rng_state().clone(), random.getstate(), np.random.get_state()[1].copy())

    c = cfg() if how != "completed" else cfg(start_lr=1e-5, end_lr=1e-3, num_iter=10)
    if how == "exception":
        split = xor_task()
        original = split.batches
        count = {"n": 0}

        def failing(*a, **k):
            for b in original(*a, **k):
                count["n"] += 1
                if count["n"] == 4:
                    raise RuntimeError("boom")
                yield b

        split.batches = failing
        with pytest.raises(RuntimeError, match="boom"):
            run(model, optimizer, c, split=split)
    else:
        res = run(model, optimizer, c)
        assert res.stop_reason == how

    for k, v in model.state_dict().items():
        assert torch.equal(v, before_params[k]), k
    after = optimizer.state_dict()
    assert after["param_groups"] == before_opt["param_groups"]
    assert before_opt["state"] and after["state"].keys() == before_opt["state"].keys()  # momenta/moments exist
    for k, s in before_opt["state"].items():
        for n, t in s.items():
            assert torch.equal(after["state"][k][n], t) if torch.is_tensor(t) else after["state"][k][n] == t
    assert not model.training  # the mode is restored too
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(torch.get_rng_state(), rng[0])
    assert random.getstate() == rng[1]
    assert (np.random.get_state()[1] == rng[2]).all()


def test_periodic_validation_on_fixed_subset():
    model, opt = make()
    val = xor_task(64, seed=1)
    from lrtool.metrics import MetricSet

    res = run(model, opt, cfg(start_lr=1e-4, end_lr=1.0, num_iter=25, val_every=5), val=val,
              val_metrics=MetricSet(["accuracy"], "multiclass", 2))
    # seeded, and the LR stays low enough to complete: every 5th step, and the last
    assert res.stop_reason == "completed"
    measured = [r for r in res.rows if "val_acc" in r]
    assert [r["step"] for r in measured] == [0, 5, 10, 15, 20, 24]
    assert all(0.0 <= r["val_acc"] <= 1.0 for r in measured)


def test_param_groups_keep_their_ratio():
    model, _ = make()
    opt = torch.optim.SGD([{"params": model[0].parameters(), "lr": 0.1},
                           {"params": model[3].parameters(), "lr": 0.01}], lr=0.1)
    seen = []
    orig = opt.step

    def spy(*a, **k):
        seen.append([g["lr"] for g in opt.param_groups])
        return orig(*a, **k)

    opt.step = spy
    run(model, opt, cfg(start_lr=1e-4, end_lr=1e-2, num_iter=5))
    assert len(seen) == 5
    for (a, b), lr in zip(seen, sweep(1e-4, 1e-2, 5)):
        assert a == pytest.approx(lr) and b == pytest.approx(lr / 10)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]


# ---------------------------------------------------------------- suggestions on known curves


def u_curve(n: int = 100):
    lrs = sweep(1e-6, 10.0, n)
    x = np.log10(lrs)
    # flat at 2.3, a falling sigmoid centred at 1e-2, then a sharp rise after 1e-0.5
    loss = 2.3 - 2.0 / (1 + np.exp(-(x + 2) * 4)) + np.where(x > -0.5, (x + 0.5) ** 2 * 8, 0.0)
    return lrs, list(loss)


def test_suggestions_on_a_u_curve():
    lrs, loss = u_curve()
    out = suggest(lrs, loss, diverged_at_end=True)
    s = out["suggestions"]
    assert out["shape"] == "u" and out["notes"] == []
    # steepest: the sigmoid's centre, 1e-2 (within one sweep step)
    assert s["steepest"]["lr"] == pytest.approx(1e-2, rel=0.25)
    i_min = int(np.argmin(loss))
    assert s["minimum"]["lr"] == pytest.approx(lrs[i_min] / 10) and s["minimum"]["min_step"] == i_min
    assert lrs[s["minimum"]["step"]] == pytest.approx(lrs[i_min] / 10, rel=0.1)  # where it is drawn
    # valley: middle of the longest falling stretch, which runs from the start to the minimum
    third = i_min / 3  # the stretch runs from step 0 (length i_min + 1 ends at i_min)
    assert s["valley"]["step"] == int(third) + int(third / 2)
    assert out["lr"] == s[out["lr_rule"]]["lr"]
    assert out["clr"]["max_lr"] == pytest.approx(s["steepest"]["lr"])
    assert out["clr"]["base_lr"] == pytest.approx(out["clr"]["max_lr"] / 4)
    assert out["onecycle"]["max_lr"] == max(out["clr"]["max_lr"], s["minimum"]["lr"])
    text = snippet(out)
    assert "cyclic: {base_lr:" in text and "onecycle: {max_lr:" in text


def test_valley_matches_fastai_definition_on_a_small_curve():
    # the longest decreasing subsequence 6,5,4,3,2,1 has length 6 and ends at index 7: the stretch
    # is [7 - 6, 7] = [1, 7], a third of it is 2, and the pick is 1 + 2 + 1
    loss = [3.0, 6.0, 5.0, 4.0, 4.5, 3.0, 2.0, 1.0, 8.0]
    lrs = sweep(1e-3, 1.0, len(loss))
    out = suggest(lrs, loss, diverged_at_end=True)
    assert out["suggestions"]["valley"]["step"] == 4


def test_flat_curve_says_so_instead_of_a_number():
    lrs = sweep(1e-6, 1.0, 50)
    out = suggest(lrs, [1.0 + 1e-4 * math.sin(i) for i in range(50)], diverged_at_end=False)
    assert out["shape"] == "never_falls"
    assert out["lr"] is None and out["clr"] is None
    assert out["suggestions"] == {"steepest": None, "valley": None, "valley_trimmed": None, "minimum": None}
    assert "never fell" in out["notes"][0]
    assert snippet(out) == ""


def test_rising_curve_never_falls():
    lrs = sweep(1e-6, 1.0, 50)
    out = suggest(lrs, [1.0 + i * 0.1 for i in range(50)], diverged_at_end=True)
    assert out["shape"] == "never_falls" and out["lr"] is None


def test_never_rising_curve_is_flagged():
    lrs = sweep(1e-6, 1e-2, 60)
    loss = [2.0 - 1.5 * i / 59 for i in range(60)]  # still falling at end_lr
    out = suggest(lrs, loss, diverged_at_end=False)
    assert out["shape"] == "never_rises"
    assert "still falling at end_lr" in out["notes"][0]
    assert out["suggestions"]["minimum"]["min_step"] == 59
    assert out["lr"] is not None  # a suggestion, but flagged


def test_curve_is_cut_at_first_nan_and_too_short_curves_give_nothing():
    lrs, loss = u_curve()
    cut = suggest(lrs, loss[:70] + [float("nan")] * 30, diverged_at_end=True)
    assert cut["suggestions"]["minimum"]["min_step"] < 70
    short = suggest(lrs[:4], loss[:4])
    assert short["shape"] == "too_short" and short["lr"] is None


def test_accuracy_curve_sets_the_clr_base():
    lrs, loss = u_curve()
    steep = suggest(lrs, loss, diverged_at_end=True)["clr"]["max_lr"]
    val_lrs = [lrs[i] for i in range(0, 100, 10)]
    rise_at = next(l for l in val_lrs if l >= steep / 20)
    val_accs = [0.1 if l < rise_at else 0.9 for l in val_lrs]
    out = suggest(lrs, loss, diverged_at_end=True, val_lrs=val_lrs, val_accs=val_accs)
    assert out["clr"]["base_lr"] == pytest.approx(rise_at)
    assert out["clr"]["base_rule"] == "where validation accuracy starts to rise"

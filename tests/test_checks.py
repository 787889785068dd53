"""lrtool.checks: the one argument checker and its one wording, '<dotted.key>: expected ..., got ...'."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from lrtool import checks

from .conftest import error


def test_typed_values_and_their_wording():
    assert checks.number("a.b", 3) == 3.0 and isinstance(checks.number("a.b", 3), float)
    assert error(checks.number, "a.b", True) == "a.b: expected a number, got True"
    assert error(checks.number, "a.b", float("nan")) == "a.b: expected a number, got nan"
    assert error(checks.number, "a.b", 1.0, lo=0, hi=1, hi_open=True) == (
        "a.b: expected a number >= 0 and < 1, got 1.0")
    assert error(checks.number, "a.b", 0, lo=0, lo_open=True) == "a.b: expected a number > 0, got 0"
    assert checks.integer("n", 2, lo=2) == 2
    assert error(checks.integer, "n", 2.0, lo=1) == "n: expected an integer >= 1, got 2.0"
    assert checks.whole("n", 2.0) == 2 and isinstance(checks.whole("n", 2.0), int)
    assert error(checks.whole, "n", 1.5) == "n: expected a whole number >= 0, got 1.5"
    assert error(checks.flag, "x.on", "yes") == "x.on: expected true or false, got 'yes'"
    assert checks.choice("m.act", "ReLU", ("relu", "tanh"), ignore_case=True) == "relu"
    assert error(checks.choice, "m.act", "ReLU", ("relu", "tanh")) == (
        "m.act: expected one of (relu, tanh), got 'ReLU' (did you mean 'relu'?)")
    assert checks.widths("m.h", 8) == (8,) and checks.widths("m.h", [], allow_empty=True) == ()
    assert error(checks.widths, "m.h", []) == "m.h: expected a non-empty list of positive integers, got []"
    assert checks.folder("d.root", "~/x") == Path("~/x").expanduser()
    assert error(checks.folder, "d.root", 3) == "d.root: expected a folder path, got 3"
    optional_size = checks.optional(partial(checks.integer, lo=1))
    assert optional_size("s", None) is None and optional_size("s", 4) == 4


def test_argument_names():
    def builder(*, params, lr: float = 0.1, momentum: float = 0.0):
        return lr, momentum

    checks.check_kwargs(builder, {"lr": 1}, "opt", injected=("params",))
    assert error(checks.check_kwargs, builder, {"lrr": 1}, "opt", injected=("params",)) == (
        "opt.lrr: unknown argument (did you mean 'lr'?); valid arguments: lr, momentum")
    assert error(checks.check_kwargs, builder, {"lrr": 1}, "s", owner="cosine", hint="see the docs") == (
        "s.lrr: unknown argument for cosine (did you mean 'lr'?); valid arguments: params, lr, momentum "
        "(see the docs)")
    assert error(checks.check_kwargs, builder, {"params": 1}, "opt", injected=("params",)) == (
        "opt.params: set by lrtool itself, remove it from the config")
    assert error(checks.check_kwargs, builder, {"lr": 1}, "opt", refused={"lr": "use the schedule"}) == (
        "opt.lr: not accepted: use the schedule")
    checks.check_kwargs(lambda **kw: None, {"anything": 1}, "x")  # **kwargs takes all
    assert error(checks.check_required, builder, {}, "opt", owner="SGD") == (
        "opt.params: required by SGD but not set")
    assert error(checks.kwargs_dict, [1], "opt") == (
        "opt: arguments must be a mapping of name: value, got list")


def test_declared_value_checks_name_the_dotted_key():
    @checks.takes(rate=partial(checks.number, lo=0), on=checks.flag)
    def builder(*, rate: float = 1.0, on: bool = False, free: object = None):
        return rate, on, free

    assert checks.check_values(builder, {"rate": 2, "free": "x"}, "loss") == {"rate": 2.0, "free": "x"}
    assert error(checks.check_values, builder, {"rate": -1}, "experiments[0].loss") == (
        "experiments[0].loss.rate: expected a number >= 0, got -1")

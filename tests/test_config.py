"""Config loading, --set overrides and one-line validation errors."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from lrtool.config import Config, apply_override, dump_config, load_config, parse_yaml
from lrtool.errors import LrtoolError


def write(tmp_path, text: str, name: str = "c.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def error_of(*args, **kwargs) -> str:
    with pytest.raises(LrtoolError) as e:
        load_config(*args, **kwargs)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_readme_config_block_shows_the_real_defaults(tmp_path):
    """README's "The config" block claims each value shown is what a file leaving the key out gets."""
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The config", 1)[1]
    block = yaml.safe_load(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    defaults = load_config(write(tmp_path, "seed: 0\n")).to_dict()
    assert set(block) == set(defaults)
    for key, shown in block.items():
        if isinstance(shown, dict):
            assert shown.items() <= defaults[key].items(), key
        else:
            assert shown == defaults[key], key


def test_defaults_are_the_quickstart():
    cfg = load_config(None)
    assert cfg.data.name == "digits" and cfg.model.name == "mlp" and cfg.optimizer.name == "SGD"
    assert cfg.find_lr.mode == "exp" and cfg.find_lr.smooth == 0.98 and cfg.find_lr.diverge_threshold == 4.0


def test_yaml_reads_1e_minus_3_as_a_float():
    assert parse_yaml("lr: 1e-3") == {"lr": 0.001}
    assert parse_yaml("a: 3E+2\nb: 1.5\nc: 7\nd: '1e-3'") == {"a": 300.0, "b": 1.5, "c": 7, "d": "1e-3"}


def test_file_and_overrides(tmp_path):
    p = write(tmp_path, "optimizer: {name: Adam, lr: 1e-3, betas: [0.9, 0.99]}\nmodel: {name: mlp, hidden: [32]}\n")
    cfg = load_config(p, ["optimizer.lr=3e-3", "model.hidden=[8, 8]", "find_lr.num_iter=50", "seed=3"])
    assert cfg.optimizer.lr == 0.003 and cfg.optimizer.kwargs == {"lr": 0.003, "betas": [0.9, 0.99]}
    assert cfg.model.kwargs == {"hidden": [8, 8]}
    assert cfg.find_lr.num_iter == 50 and cfg.seed == 3


def test_set_creates_nested_keys_and_later_wins():
    doc: dict = {}
    apply_override(doc, "schedule.step.gamma=0.5")
    apply_override(doc, "schedule.step.gamma=0.25")
    assert doc == {"schedule": {"step": {"gamma": 0.25}}}


def test_set_null_removes_a_components_argument_but_is_null_for_lrtools_own_keys(tmp_path):
    from lrtool.config import check_components

    path = write(tmp_path, "data: {name: synthetic, task: regression, inputs: x}\n"
                           "loss: {name: HuberLoss, delta: 2}\n"
                           "schedule: {name: cosine, min_lr: 0.001, warmup: 1, sgdr: {cycle: 2 epochs, t_mult: 2}}\n")
    cfg = load_config(path, ["loss.name=MSELoss", "loss.delta=null", "data.inputs=null", "schedule.min_lr=null",
                             "schedule.sgdr.t_mult=null", "schedule.warmup=null", "model.hidden=null"])
    check_components(cfg)  # MSELoss has no delta: it is gone, not None
    assert "delta" not in cfg.loss.kwargs and cfg.data.inputs is None and "hidden" not in cfg.model.kwargs
    schedule = cfg.schedule.model_dump()
    assert "min_lr" not in schedule and schedule["sgdr"] == {"cycle": "2 epochs"} and schedule["warmup"] is None
    assert error_of(None, ["optimizer.lr=null"]) == "--set optimizer.lr: expected a valid number, got None"


def test_schedule_option_keeps_the_old_arguments_in_their_block(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("schedule: {name: step, step_size: 3, clr: {step_size: 2}}\n")
    cfg = load_config(path, schedule="CYCLIC")
    assert cfg.schedule.model_dump() == {"name": "cyclic", "clr": {"step_size": 2}, "step": {"step_size": 3}}
    with pytest.raises(LrtoolError, match=r"^--schedule: unknown schedule 'cosinus' \(did you mean 'cosine'"):
        load_config(path, schedule="cosinus")


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(None, ["optimizer.momentum=0.9", "data.batch_size=32"])
    p = write(tmp_path, dump_config(cfg), "resolved.yaml")
    again = load_config(p)
    assert again == cfg
    assert yaml.safe_load(p.read_text())["optimizer"] == {"name": "SGD", "lr": 0.05, "momentum": 0.9}


@pytest.mark.parametrize("sets, expected", [
    (["optimizer.lr=-0.1"], "--set optimizer.lr: expected a value greater than 0, got -0.1"),
    (["optimizer.lr=0"], "--set optimizer.lr: expected a value greater than 0, got 0"),
    (["data.batch_size=0"], "--set data.batch_size: expected a value greater than 0, got 0"),
    (["find_lr.end_lr=1e-8"], "--set find_lr.end_lr: must be greater than start_lr (0.0001), got 1e-08"),
    (["find_lr.mode=expo"], "--set find_lr.mode: expected 'exp' or 'linear', got 'expo'"),
    (["find_lr.num_iters=5"], "unknown key 'num_iters' (did you mean 'num_iter'?)"),
    (["optimiser.lr=1"], "unknown section 'optimiser' (did you mean 'optimizer'?)"),
    (["train.epochs=ten"], "--set train.epochs: expected a valid integer, got 'ten'"),
    (["device=gpu"], "--set device: expected one of auto, cpu, cuda, cuda:N, mps, got 'gpu'"),
    (["train.precision=fp8"], "expected 'fp32', 'bf16' or 'fp16', got 'fp8'"),
    (["find_lr.smooth=1"], "--set find_lr.smooth: expected a value less than 1, got 1"),
    (["find_lr.diverge_threshold=1"], "--set find_lr.diverge_threshold: expected a value greater than 1"),
    (["data=3"], "--set data: expected a mapping"),
    (["seed=1.5"], "--set seed: expected a valid integer, got 1.5"),
])
def test_bad_values_name_the_key(sets, expected):
    assert expected in error_of(None, sets)


def test_error_in_file_names_the_file(tmp_path):
    p = write(tmp_path, "find_lr:\n  num_iter: 1\n")
    assert error_of(p) == f"{p}: find_lr.num_iter: expected a value greater than or equal to 2, got 1"


def test_num_iter_has_an_upper_bound(tmp_path):
    # a billion steps filled 24 GB before the sweep began and was killed, leaving the run "running"
    p = write(tmp_path, "find_lr:\n  num_iter: 1000000000\n")
    assert error_of(p) == f"{p}: find_lr.num_iter: expected a value less than or equal to 1000000, got 1000000000"


@pytest.mark.parametrize("text, expected", [
    ("", "config file is empty"),
    ("- a\n- b\n", "expected a mapping of sections at the top level, got list"),
    ("data:\n  name: [digits\n", "YAML syntax error at line 3"),
    ("model: {name: mlp\n", "YAML syntax error at line 2"),
])
def test_bad_files(tmp_path, text, expected):
    assert expected in error_of(write(tmp_path, text))


def test_missing_file_and_directory(tmp_path):
    assert "config file not found" in error_of(tmp_path / "nope.yaml")
    assert "is a directory, expected a YAML config file" in error_of(tmp_path)


@pytest.mark.parametrize("item, expected", [
    ("optimizer.lr", "expected KEY=VALUE"),
    ("=3", "expected a dotted key"),
    ("a..b=3", "expected a dotted key"),
    ("optimizer.lr=[1, 2", "is not valid YAML"),
    ("seed.x=1", "'seed' holds the value 0, not a section that can hold 'x'"),
])
def test_malformed_set(item, expected):
    doc = {"seed": 0}
    with pytest.raises(LrtoolError, match=None) as e:
        apply_override(doc, item)
    assert expected in str(e.value)


def test_more_problems_are_counted_and_located(tmp_path):
    msg = error_of(None, ["optimizer.lr=-1", "data.batch_size=0"])
    assert msg.endswith("(+1 more problem: --set optimizer.lr)")
    path = write(tmp_path, "train: {epochs: 0, accumulate: 0, log_every: 0, grad_clip: -1}\n")
    assert error_of(path, ["epochz=1"]).endswith(
        "c.yaml: train.epochs: expected a value greater than 0, got 0 (+4 more problems: train.accumulate, "
        "train.grad_clip, train.log_every, ...)")


def test_config_model_is_strict():
    # a string is not coerced to a number (the loader turns this error into one lrtool line)
    with pytest.raises(ValidationError, match=r"train\.epochs\n  Input should be a valid integer") as e:
        Config.model_validate({"train": {"epochs": "3"}})
    assert e.value.error_count() == 1

"""Every shipped config validates, previews, and (on the embedded dataset) trains."""

from __future__ import annotations

from pathlib import Path

import pytest

from lrtool.config import check_components, load_config

from .conftest import invoke, rows, summary

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_the_recipes_are_all_there():
    names = {p.stem for p in CONFIGS}
    assert {"quickstart", "fixed_lr", "step_decay", "cyclic", "onecycle", "warmup_cosine", "sgdr",
            "mnist_convnet", "cifar10_resnet18", "cifar10_convnet", "clr_experiment"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_validates_and_previews(path, tmp_path):
    cfg = load_config(path)
    check_components(cfg)
    sets = []
    if cfg.data.name in ("mnist", "cifar10"):  # preview counts the training split: a small stand-in set
        from .test_data import write_cifar10, write_mnist

        if cfg.data.name == "mnist":
            write_mnist(tmp_path / "data", "MNIST")
        else:
            write_cifar10(tmp_path / "data")
        sets = ["--set", f"data.root={tmp_path / 'data'}"]
    res = invoke("preview", path, "--out", tmp_path / "p", *sets)
    assert res.exit_code == 0, res.output
    assert len(rows(tmp_path / "p" / "schedule.csv")) > 0


@pytest.mark.parametrize("path", [p for p in CONFIGS if load_config(p).data.name == "digits"], ids=lambda p: p.stem)
def test_digits_configs_train(path, tmp_path):
    run = tmp_path / "r"
    res = invoke("train", path, "--out", run, "--epochs", "2", "--set", "train.plots=false", "--set", "device=cpu")
    # recipes whose milestones/cycles need their full length refuse a 2-epoch plan with one line
    if res.exit_code == 2:
        assert res.output.startswith("lrtool: error: schedule")
        run = tmp_path / "r2"
        res = invoke("train", path, "--out", run, "--set", "train.plots=false", "--set", "device=cpu",
                     "--set", "train.log_every=50")
    assert res.exit_code == 0, res.output
    assert summary(run)["status"] == "completed"


def test_embedded_default_is_configs_quickstart():
    from lrtool.config import QUICKSTART

    shipped = Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml"
    assert QUICKSTART.read_text() == shipped.read_text()
    assert load_config(None) == load_config(shipped)

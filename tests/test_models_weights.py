"""torchvision `weights:` (enum name or local file, head replaced) and timm models by name."""

from __future__ import annotations

import sys

import pytest
import torch
import torchvision

from lrtool.errors import LrtoolError
from lrtool.models import build_model, validate_model


def test_local_weights_file_with_another_head(tmp_path):
    saved = torchvision.models.resnet18(num_classes=10)
    torch.save(saved.state_dict(), tmp_path / "r18.pt")
    model = build_model("resnet18", {"weights": str(tmp_path / "r18.pt")}, input_shape=(3, 32, 32), num_classes=3)
    assert torch.equal(model.conv1.weight, saved.conv1.weight) and model.fc.out_features == 3
    same = build_model("resnet18", {"weights": str(tmp_path / "r18.pt")}, input_shape=(3, 32, 32), num_classes=10)
    assert torch.equal(same.fc.weight, saved.fc.weight)  # the head kept when the classes agree
    # lrtool's own checkpoints hold the weights under "model"; grey images get the summed RGB kernel
    torch.save({"model": saved.state_dict()}, tmp_path / "last.pt")
    grey = build_model("resnet18", {"weights": str(tmp_path / "last.pt")}, input_shape=(1, 32, 32), num_classes=3)
    assert torch.equal(grey.conv1.weight, saved.conv1.weight.sum(1, keepdim=True))


def test_weights_enum_with_cached_file_and_head_replaced(tmp_path, monkeypatch):
    """`weights: DEFAULT` as torch hub would find it in its cache (no download here), for 3 classes."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    saved = torchvision.models.resnet18()
    url = torchvision.models.ResNet18_Weights.DEFAULT.url
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(saved.state_dict(), tmp_path / "hub" / "checkpoints" / url.rsplit("/", 1)[1])
    model = build_model("resnet18", {"weights": "DEFAULT"}, input_shape=(3, 32, 32), num_classes=3)
    assert torch.equal(model.layer1[0].conv1.weight, saved.layer1[0].conv1.weight) and model.fc.out_features == 3


def test_weights_errors_are_one_line(tmp_path):
    torch.save(torchvision.models.resnet34().state_dict(), tmp_path / "r34.pt")
    cases = {str(tmp_path / "r34.pt"): f"model.weights: '{tmp_path / 'r34.pt'}' does not match resnet18: "
                                       "96 unexpected key(s) (first: layer1.2.conv1.weight)",
             str(tmp_path / "none.pt"): f"model.weights: no such weights file '{tmp_path / 'none.pt'}'",
             "IMAGENET9": "model.weights: expected DEFAULT, one of (IMAGENET1K_V1) or the path of a weights file, "
                          "got 'IMAGENET9'"}
    for weights, message in cases.items():
        with pytest.raises(LrtoolError) as e:
            build_model("resnet18", {"weights": weights}, input_shape=(3, 32, 32), num_classes=3)
        assert str(e.value) == message


def test_timm_model_by_name_with_in_chans_and_num_classes():
    # timm: the lrtool[timm] extra, installed with the dev extra
    model = build_model("timm/resnet18", {"pretrained": False}, input_shape=(1, 16, 16), num_classes=3)
    assert model(torch.zeros(2, 1, 16, 16)).shape == (2, 3)
    with pytest.raises(LrtoolError) as e:
        validate_model("timm/resnet81", {})
    assert str(e.value).startswith("model.name: timm has no model 'resnet81' (did you mean 'resnet18'")
    with pytest.raises(LrtoolError, match=r"^model.in_chans: set by lrtool itself"):
        validate_model("timm/resnet18", {"in_chans": 1})


def test_timm_missing_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # what an import of a package that is not installed does
    with pytest.raises(LrtoolError) as e:
        validate_model("timm/resnet18", {})
    assert str(e.value).startswith('model.name: timm models need the timm package: pip install "lrtool[timm]"')

"""Losses by torch's own names and kwargs, short names that behave like the torch loss, module:callable
losses, and the first-batch check of targets against the loss."""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lrtool.optim import LOSSES, build_loss, check_batch, validate_loss

from .conftest import error


@pytest.fixture
def batch():
    torch.manual_seed(0)
    return torch.randn(6, 3), torch.tensor([0, 2, 1, 1, 2, 0])


def test_weighted_cross_entropy_equals_torch_on_a_fixed_batch(batch):
    logits, targets = batch
    loss = build_loss("CrossEntropyLoss", {"weight": [0.5, 1.0, 3.0], "label_smoothing": 0.1})
    expected = nn.CrossEntropyLoss(weight=torch.tensor([0.5, 1.0, 3.0]), label_smoothing=0.1)(logits, targets)
    torch.testing.assert_close(loss(logits, targets), expected)
    # by hand, without label smoothing: sum of w_y * nll / sum of w_y
    w = torch.tensor([0.5, 1.0, 3.0])
    nll = -F.log_softmax(logits, dim=1)[torch.arange(6), targets]
    by_hand = (w[targets] * nll).sum() / w[targets].sum()
    torch.testing.assert_close(build_loss("cross_entropy", {"weight": [0.5, 1.0, 3.0]})(logits, targets), by_hand)


def test_list_values_become_tensors_on_the_device():
    loss = build_loss("BCEWithLogitsLoss", {"pos_weight": [2.0, 1.0, 0.5]}, device="cpu")
    assert isinstance(loss.pos_weight, torch.Tensor) and loss.pos_weight.dtype == torch.float32
    logits, y = torch.randn(4, 3), torch.tensor([[1.0, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 0]])
    expected = F.binary_cross_entropy_with_logits(logits, y, pos_weight=torch.tensor([2.0, 1.0, 0.5]))
    torch.testing.assert_close(loss(logits, y), expected)


@pytest.mark.parametrize("short, cls", [("mse", nn.MSELoss), ("l1", nn.L1Loss), ("huber", nn.HuberLoss),
                                        ("smooth_l1", nn.SmoothL1Loss), ("bce", nn.BCEWithLogitsLoss),
                                        ("ce", nn.CrossEntropyLoss), ("nll", nn.NLLLoss),
                                        ("hinge", nn.MultiMarginLoss)])
def test_short_names_are_the_torch_loss_they_are_named_after(short, cls):
    assert isinstance(build_loss(short, {}), cls)


def test_every_two_tensor_torch_loss_is_there_by_its_own_name():
    for name in ("MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss", "NLLLoss", "KLDivLoss", "BCELoss",
                 "PoissonNLLLoss", "MultiLabelSoftMarginLoss", "SoftMarginLoss", "MultiMarginLoss"):
        assert isinstance(build_loss(name, {}), getattr(nn, name))
    out, y = torch.randn(5, 2), torch.randn(5, 2)
    torch.testing.assert_close(build_loss("HuberLoss", {"delta": 0.5})(out, y), F.huber_loss(out, y, delta=0.5))
    log_p, q = F.log_softmax(torch.randn(4, 3), 1), F.softmax(torch.randn(4, 3), 1)
    torch.testing.assert_close(build_loss("KLDivLoss", {"reduction": "batchmean"})(log_p, q),
                               F.kl_div(log_p, q, reduction="batchmean"))


def test_loss_argument_errors():
    assert error(validate_loss, "CrossEntropyLoss", {"reduction": "none"}) == \
        "loss.reduction: expected one of (mean, sum), got 'none'"
    assert error(validate_loss, "CrossEntropyLoss", {"weight": ["a"]}) == \
        "loss.weight: expected a number or a list of numbers (one per class or label), got ['a']"
    assert error(validate_loss, "MSELoss", {"size_average": False}) == \
        "loss.size_average: not accepted: deprecated in torch; use reduction"
    assert error(validate_loss, "HuberLoss", {"delta": 0}) == "loss.delta: expected a number > 0, got 0"
    assert error(validate_loss, "CTCLoss", {}).startswith("loss.name: CTCLoss takes (log_probs, targets, ")
    assert error(validate_loss, "MSELos", {}).startswith("loss.name: unknown loss 'MSELos' (did you mean 'MSELoss'?)")


def test_module_callable_losses(tmp_path, monkeypatch):
    (tmp_path / "my_losses.py").write_text(textwrap.dedent("""
        import torch

        def scaled_mse(output, target, scale=1.0):
            return scale * ((output - target) ** 2).mean()

        class Focal(torch.nn.Module):
            def __init__(self, gamma=2.0):
                super().__init__()
                self.gamma = gamma

            def forward(self, output, target):
                logp = torch.log_softmax(output, 1).gather(1, target[:, None]).squeeze(1)
                return (-(1 - logp.exp()) ** self.gamma * logp).mean()
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_losses", raising=False)
    out, y = torch.randn(4, 2), torch.randn(4, 2)
    torch.testing.assert_close(build_loss("my_losses:scaled_mse", {"scale": 3.0})(out, y),
                               3.0 * F.mse_loss(out, y))
    focal = build_loss("my_losses:Focal", {"gamma": 0.0})
    logits, classes = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    torch.testing.assert_close(focal(logits, classes), F.cross_entropy(logits, classes))
    assert error(validate_loss, "my_losses:scaled_mse", {"scal": 1}).startswith(
        "loss.scal: unknown argument for my_losses:scaled_mse (did you mean 'scale'?)")
    assert error(validate_loss, "my_losses:nothing", {}).startswith("loss.name: 'my_losses' has no attribute")


def test_first_batch_targets_that_do_not_fit_the_loss(batch):
    logits, classes = batch
    real = torch.randn(6, 3)
    ce = build_loss("CrossEntropyLoss", {})
    assert error(check_batch, ce, "CrossEntropyLoss", logits, classes[:, None].float().squeeze(1)) == (
        "loss: CrossEntropyLoss expects one integer class index per sample, got float32 targets of shape () "
        "per sample; for multi-hot or real-valued targets use BCEWithLogitsLoss or MSELoss")
    multi_hot = (real > 0).float()
    assert "expects one integer class index per sample, got float32 targets of shape (3,)" in \
        error(check_batch, ce, "CrossEntropyLoss", logits, multi_hot)
    check_batch(ce, "CrossEntropyLoss", logits, classes)  # fits
    check_batch(ce, "CrossEntropyLoss", logits, F.softmax(real, 1))  # class probabilities fit too
    assert error(check_batch, ce, "CrossEntropyLoss", logits, F.softmax(real, 1) * 2).endswith(
        "use BCEWithLogitsLoss or MSELoss; class probabilities (soft targets) must be in [0, 1] and sum to 1 "
        "per sample")
    mse = build_loss("mse", {})
    assert error(check_batch, mse, "mse", logits, classes) == (
        "loss: mse compares the output (3,) per sample elementwise with float targets of the same shape, "
        "got int64 targets of shape () per sample; class indices need CrossEntropyLoss (or mse_one_hot)")
    assert "got float32 targets of shape () per sample" in error(check_batch, mse, "mse", logits[:, :1], real[:, 0])
    check_batch(mse, "mse", logits, real)
    check_batch(build_loss("mse_one_hot", {}), "mse_one_hot", logits, classes)
    wrong = build_loss("CrossEntropyLoss", {"weight": [1.0, 2.0]})  # 2 weights, 3 classes
    assert error(check_batch, wrong, "CrossEntropyLoss", logits, classes).startswith(
        "loss: CrossEntropyLoss failed on the first batch (output (3,) per sample, int64 targets of shape () "
        "per sample): RuntimeError: ")


def test_short_names_listed():
    names = set(LOSSES.names())
    assert {"cross_entropy", "mse", "mse_one_hot", "bce", "bce_one_hot", "CrossEntropyLoss", "HuberLoss"} <= names

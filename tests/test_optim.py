"""Optimizers and losses by name: building, validation messages, param groups, momentum."""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lrtool.errors import LrtoolError
from lrtool.optim import (
    LOSSES,
    OPTIMIZERS,
    build_loss,
    build_optimizer,
    momentum_key,
    set_lr_and_momentum,
    validate_loss,
    validate_optimizer,
)

TORCH_OPTIMIZERS = sorted(
    name for name, obj in vars(torch.optim).items()
    if inspect.isclass(obj) and issubclass(obj, torch.optim.Optimizer)
    and obj is not torch.optim.Optimizer)


class Tiny(nn.Module):
    """Two layers with distinct names, so param_groups regexes have something to match."""

    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 3)
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        return self.head(torch.relu(self.body(x)))


def one_line_error(fn, *args, **kwargs) -> str:
    """The LrtoolError message `fn` raises, checked to be a single line."""
    with pytest.raises(LrtoolError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def model_and_loss(name: str) -> tuple[nn.Module, callable]:
    """A tiny model the optimizer can handle, and a closure computing its loss."""
    torch.manual_seed(0)
    if name == "SparseAdam":  # needs sparse gradients
        model = nn.Embedding(5, 3, sparse=True)
        return model, lambda: model(torch.tensor([0, 2, 4])).pow(2).sum()
    if name == "Muon":  # only 2-D parameters
        model = nn.Linear(4, 2, bias=False)
    else:
        model = Tiny()
    x = torch.randn(8, 4)
    return model, lambda: model(x).pow(2).mean()


def test_every_torch_optimizer_is_registered():
    assert TORCH_OPTIMIZERS  # sanity: the comprehension found them
    assert sorted(OPTIMIZERS.names()) == TORCH_OPTIMIZERS


@pytest.mark.parametrize("alias", [str.__str__, str.lower], ids=["name", "lower"])
@pytest.mark.parametrize("name", TORCH_OPTIMIZERS)
def test_each_optimizer_builds_and_steps(name, alias):
    model, loss_fn = model_and_loss(name)
    validate_optimizer(alias(name), {"lr": 0.01})
    optimizer = build_optimizer(alias(name), {"lr": 0.01}, model)
    assert type(optimizer).__name__ == name
    before = [p.detach().clone() for p in model.parameters()]

    def closure():
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    if name == "LBFGS":  # re-evaluates the loss itself
        optimizer.step(closure)
    else:
        closure()
        optimizer.step()
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))


def test_kwargs_are_checked_by_name():
    message = one_line_error(validate_optimizer, "sgd", {"lr": 0.1, "momentun": 0.9})
    assert message.startswith("optimizer.momentun: unknown argument (did you mean 'momentum'?); "
                              "valid arguments: lr, momentum,")
    assert one_line_error(validate_optimizer, "adam", {"params": []}) == (
        "optimizer.params: set by lrtool itself, remove it from the config")
    message = one_line_error(validate_optimizer, "adamm", {}, key="experiments[0].optimizer")
    assert message.startswith("experiments[0].optimizer.name: unknown optimizer 'adamm' "
                              "(did you mean 'Adam'?); valid choices: ")


def test_torch_value_errors_become_one_line():
    expected = "optimizer: SGD rejected its arguments: Invalid momentum value: -1.0"
    # validate_optimizer runs torch's checks on a dummy parameter, without a model.
    assert one_line_error(validate_optimizer, "sgd", {"momentum": -1.0}) == expected
    assert one_line_error(build_optimizer, "sgd", {"momentum": -1.0}, Tiny()) == expected
    assert one_line_error(validate_optimizer, "Adam", {"betas": [0.9, 1.5]}) == (
        "optimizer: Adam rejected its arguments: Invalid beta parameter at index 1: 1.5")
    assert one_line_error(build_optimizer, "lbfgs", {"param_groups": [{"match": "head"}]},
                          Tiny()).startswith("optimizer: LBFGS rejected its arguments: ")


def test_list_values_become_tuples_and_numeric_strings_numbers():
    optimizer = build_optimizer("adamw", {"betas": [0.8, 0.99], "lr": "1e-3"}, Tiny())
    assert optimizer.param_groups[0]["betas"] == (0.8, 0.99)
    assert isinstance(optimizer.param_groups[0]["betas"], tuple)
    assert optimizer.param_groups[0]["lr"] == 0.001
    assert one_line_error(validate_optimizer, "sgd", {"lr": "fast"}) == (
        "optimizer.lr: expected a number, got 'fast'")


def test_param_groups_split_parameters():
    model = Tiny()
    optimizer = build_optimizer("sgd", {
        "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4,
        "param_groups": [{"match": r"bias$", "weight_decay": 0.0},
                         {"match": r"^head\.", "lr": 0.01}],
    }, model)
    default, biases, head = optimizer.param_groups
    assert [id(p) for p in default["params"]] == [id(model.body.weight)]
    assert [id(p) for p in biases["params"]] == [id(model.body.bias), id(model.head.bias)]
    assert [id(p) for p in head["params"]] == [id(model.head.weight)]
    assert (default["lr"], default["weight_decay"]) == (0.1, 1e-4)
    assert (biases["lr"], biases["weight_decay"]) == (0.1, 0.0)  # lr inherited
    assert (head["lr"], head["momentum"]) == (0.01, 0.9)


def test_frozen_parameters_are_left_out():
    model = Tiny()
    model.body.requires_grad_(False)
    optimizer = build_optimizer("sgd", {}, model)
    assert len(optimizer.param_groups[0]["params"]) == 2
    model.head.requires_grad_(False)
    assert one_line_error(build_optimizer, "sgd", {}, model) == (
        "optimizer: the model has no trainable parameters")


def test_param_group_errors_name_the_group():
    assert one_line_error(validate_optimizer, "sgd", {"param_groups": [{"match": "("}]}) \
        .startswith("optimizer.param_groups[0].match: invalid regular expression '(': ")
    assert one_line_error(validate_optimizer, "sgd", {"param_groups": [{"lr": 0.1}]}) \
        .startswith("optimizer.param_groups[0].match: required")
    assert one_line_error(validate_optimizer, "sgd", {"param_groups": [
        {"match": "bias"}, {"match": "head", "lrr": 0.1}]}).startswith(
        "optimizer.param_groups[1].lrr: unknown argument (did you mean 'lr'?)")
    assert one_line_error(validate_optimizer, "sgd", {"param_groups": {"match": "x"}}) \
        .startswith("optimizer.param_groups: expected a list")
    assert one_line_error(build_optimizer, "sgd", {"param_groups": [
        {"match": "bias"}, {"match": "conv"}]}, Tiny()) == (
        "optimizer.param_groups[1].match: 'conv' matches no trainable parameter; "
        "parameter names look like: body.weight, body.bias, head.weight, head.bias")
    assert one_line_error(build_optimizer, "sgd", {"param_groups": [
        {"match": "bias"}, {"match": r"head\.bias"}]}, Tiny()) == (
        "optimizer.param_groups[1].match: every parameter 'head\\\\.bias' matches is already "
        "taken by an earlier group")


def test_momentum_key():
    model = Tiny()
    assert momentum_key(build_optimizer("sgd", {"momentum": 0.9}, model)) == "momentum"
    assert momentum_key(build_optimizer("sgd", {}, model)) is None
    assert momentum_key(build_optimizer("rmsprop", {"momentum": 0.9}, model)) == "momentum"
    assert momentum_key(build_optimizer("rmsprop", {}, model)) is None
    for name in ("Adam", "AdamW", "NAdam", "RAdam", "Adamax"):
        assert momentum_key(build_optimizer(name, {}, model)) == "betas"
    assert momentum_key(build_optimizer("adagrad", {}, model)) is None


def test_set_lr_and_momentum_sgd_and_rmsprop():
    for name in ("sgd", "rmsprop"):
        optimizer = build_optimizer(name, {"momentum": 0.9, "param_groups": [
            {"match": "head"}]}, Tiny())
        set_lr_and_momentum(optimizer, [0.5, 0.05], [0.85, 0.95])
        assert [g["lr"] for g in optimizer.param_groups] == [0.5, 0.05]
        assert [g["momentum"] for g in optimizer.param_groups] == [0.85, 0.95]


def test_set_lr_and_momentum_adam_sets_beta1_only():
    optimizer = build_optimizer("adam", {"betas": [0.9, 0.99]}, Tiny())
    set_lr_and_momentum(optimizer, [0.003], [0.8])
    assert optimizer.param_groups[0]["lr"] == 0.003
    assert optimizer.param_groups[0]["betas"] == (0.8, 0.99)


def test_set_lr_without_momentum_and_wrong_lengths():
    optimizer = build_optimizer("sgd", {}, Tiny())
    set_lr_and_momentum(optimizer, [0.2], [0.9])  # no momentum to set: ignored
    assert optimizer.param_groups[0]["lr"] == 0.2
    assert optimizer.param_groups[0]["momentum"] == 0
    with pytest.raises(ValueError):
        set_lr_and_momentum(optimizer, [0.1, 0.2])


def test_tensor_lr_is_updated_in_place():
    optimizer = build_optimizer("adam", {}, Tiny())
    optimizer.param_groups[0]["lr"] = torch.tensor(0.01)  # as torch keeps it for capturable
    set_lr_and_momentum(optimizer, [0.02])
    assert isinstance(optimizer.param_groups[0]["lr"], torch.Tensor)
    assert optimizer.param_groups[0]["lr"].item() == pytest.approx(0.02)


# ------------------------------------------------------------------------------------ losses


@pytest.fixture
def batch():
    torch.manual_seed(0)
    return torch.randn(5, 4), torch.tensor([0, 3, 1, 1, 2])


def test_cross_entropy(batch):
    logits, targets = batch
    expected = -F.log_softmax(logits, dim=1)[torch.arange(5), targets].mean()
    torch.testing.assert_close(build_loss("cross_entropy", {})(logits, targets), expected)
    torch.testing.assert_close(build_loss("CE", None)(logits, targets), expected)


def test_cross_entropy_label_smoothing(batch):
    logits, targets = batch
    log_probs = F.log_softmax(logits, dim=1)
    smoothing = 0.2
    nll = -log_probs[torch.arange(5), targets]
    uniform = -log_probs.mean(dim=1)
    expected = ((1 - smoothing) * nll + smoothing * uniform).mean()
    loss = build_loss("cross_entropy", {"label_smoothing": smoothing})
    torch.testing.assert_close(loss(logits, targets), expected)
    assert one_line_error(validate_loss, "cross_entropy", {"label_smoothing": 1.5}) == (
        "loss.label_smoothing: expected a number >= 0 and <= 1, got 1.5")


def test_nll_takes_log_probabilities(batch):
    logits, targets = batch
    log_probs = F.log_softmax(logits, dim=1)
    expected = -log_probs[torch.arange(5), targets].mean()
    torch.testing.assert_close(build_loss("nll", {})(log_probs, targets), expected)


def test_mse_against_one_hot(batch):
    outputs, targets = batch
    one_hot = torch.zeros(5, 4)
    one_hot[torch.arange(5), targets] = 1.0
    expected = ((outputs - one_hot) ** 2).mean()
    torch.testing.assert_close(build_loss("mse", {})(outputs, targets), expected)


def test_bce_one_vs_all(batch):
    logits, targets = batch
    one_hot = torch.zeros(5, 4)
    one_hot[torch.arange(5), targets] = 1.0
    p = torch.sigmoid(logits)
    expected = -(one_hot * p.log() + (1 - one_hot) * (1 - p).log()).mean()
    torch.testing.assert_close(build_loss("bce", {})(logits, targets), expected)


def test_multi_margin(batch):
    logits, targets = batch
    true = logits[torch.arange(5), targets].unsqueeze(1)
    hinge = (2.0 - true + logits).clamp(min=0)
    hinge[torch.arange(5), targets] = 0.0
    expected = hinge.sum(dim=1).div(4).mean()
    torch.testing.assert_close(build_loss("hinge", {"margin": 2.0})(logits, targets), expected)
    assert one_line_error(build_loss, "hinge", {"margin": 0}) == (
        "loss.margin: expected a number > 0, got 0")
    assert one_line_error(validate_loss, "hinge", {"margin": "big"}, key="experiments[1].loss") == (
        "experiments[1].loss.margin: expected a number, got 'big'")


def test_loss_errors():
    assert one_line_error(validate_loss, "cross_entropy", {"smoothing": 0.1}).startswith(
        "loss.smoothing: unknown argument (did you mean 'label_smoothing'?)")
    assert one_line_error(validate_loss, "mse", {"reduction": "sum"}) == (
        "loss.reduction: unknown argument; valid arguments: (none)")
    assert one_line_error(validate_loss, "cross_entropi", {}).startswith(
        "loss.name: unknown loss 'cross_entropi' (did you mean 'cross_entropy'?); valid choices: ")
    assert {"cross_entropy", "nll", "mse", "bce"} <= set(LOSSES.names())

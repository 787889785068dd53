"""Models by name: built-ins, torchvision classifiers, 'module:callable', and their errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from lrtool.errors import LrtoolError
from lrtool.models import INJECTED, MODELS, build_model, validate_model

IMAGE_SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]
BUILTINS = ["mlp", "convnet", "lenet"]


def forward(model: nn.Module, input_shape: tuple[int, ...], batch: int = 4) -> torch.Tensor:
    """Run a random training-mode batch through `model` (BatchNorm sees batch statistics)."""
    return model(torch.randn(batch, *input_shape))


@pytest.mark.parametrize("shape", IMAGE_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_models_forward_on_every_image_size(name, shape):
    model = build_model(name, {}, input_shape=shape, num_classes=10)
    assert model.training  # the dummy-forward check must not leave it in eval mode
    assert forward(model, shape).shape == (4, 10)


def test_mlp_on_flat_input_and_options():
    model = build_model("mlp", {"hidden": [32, 16], "dropout": 0.1, "activation": "gelu",
                                "batchnorm": True}, input_shape=(20,), num_classes=3)
    assert forward(model, (20,)).shape == (4, 3)
    assert [m.out_features for m in model if isinstance(m, nn.Linear)] == [32, 16, 3]
    assert any(isinstance(m, nn.GELU) for m in model)
    assert any(isinstance(m, nn.BatchNorm1d) for m in model)
    assert any(isinstance(m, nn.Dropout) for m in model)


def test_mlp_hidden_as_int_and_empty():
    one = build_model("mlp", {"hidden": 7}, input_shape=(20,), num_classes=3)
    assert [m.out_features for m in one if isinstance(m, nn.Linear)] == [7, 3]
    linear = build_model("mlp", {"hidden": []}, input_shape=(20,), num_classes=3)
    assert [m.out_features for m in linear if isinstance(m, nn.Linear)] == [3]


def test_convnet_channels_width_and_pooling():
    model = build_model("convnet", {"channels": [8, 16], "width": 0.5, "batchnorm": False},
                        input_shape=(3, 32, 32), num_classes=5)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 8]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    # 8x8 input: three pools bring it to 1x1, the last two blocks keep 1x1 unpooled.
    small = build_model("convnet", {}, input_shape=(1, 8, 8), num_classes=10)
    pools = [m for m in small.modules() if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 3
    assert forward(build_model("convnet", {}, input_shape=(3, 64, 48), num_classes=2),
                   (3, 64, 48)).shape == (4, 2)


def test_lenet_is_classic_on_32x32():
    model = build_model("lenet", {}, input_shape=(3, 32, 32), num_classes=10)
    assert model.fc1.in_features == 16 * 5 * 5
    assert model.conv1.padding == (0, 0)
    mnist = build_model("lenet", {"activation": "tanh"}, input_shape=(1, 28, 28), num_classes=10)
    assert mnist.fc1.in_features == 16 * 5 * 5  # padded conv1: 28x28 behaves as 32x32
    assert isinstance(mnist.act1, nn.Tanh)


def test_builtin_names_are_case_insensitive_and_have_help():
    assert set(BUILTINS) <= set(MODELS.names())
    assert MODELS.canonical("MLP") == "mlp"
    assert MODELS.canonical("lenet5") == "lenet"
    assert all(MODELS.help(n) for n in BUILTINS)
    build_model("ConvNet", {}, input_shape=(1, 8, 8), num_classes=2)


@pytest.mark.parametrize("channels", [1, 3])
def test_resnet18_on_32x32(channels):
    model = build_model("resnet18", {}, input_shape=(channels, 32, 32), num_classes=10)
    assert model.conv1.in_channels == channels
    assert forward(model, (channels, 32, 32), batch=2).shape == (2, 10)


def test_one_channel_adaptation_equals_repeating_the_channel():
    model = build_model("resnet18", {}, input_shape=(1, 32, 32), num_classes=10)
    reference = build_model("resnet18", {}, input_shape=(3, 32, 32), num_classes=10)
    reference.load_state_dict(
        {k: v for k, v in model.state_dict().items() if k != "conv1.weight"}, strict=False)
    with torch.no_grad():  # spread the grey kernel over RGB: same result on a repeated image
        reference.conv1.weight.copy_(model.conv1.weight.expand(-1, 3, -1, -1) / 3)
    model.eval(), reference.eval()
    x = torch.randn(2, 1, 32, 32)
    torch.testing.assert_close(model(x), reference(x.expand(-1, 3, -1, -1)))


def test_torchvision_kwargs_pass_through():
    model = build_model("mobilenet_v3_small", {"width_mult": 0.5, "dropout": 0.0},
                        input_shape=(3, 32, 32), num_classes=4)
    assert forward(model, (3, 32, 32), batch=2).shape == (2, 4)
    # Transformers are built for the data's image size when no weights are given.
    vit = build_model("vit_b_32", {}, input_shape=(3, 32, 32), num_classes=4)
    assert vit.image_size == 32


def test_googlenet_has_no_aux_outputs_in_training_mode():
    model = build_model("googlenet", {}, input_shape=(3, 32, 32), num_classes=4)
    assert isinstance(forward(model, (3, 32, 32), batch=2), torch.Tensor)


def _write_module(tmp_path, monkeypatch, name: str, source: str) -> None:
    """Write module `name` under tmp_path and make it importable."""
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(name, None)


def test_callable_with_num_classes_and_input_shape(tmp_path, monkeypatch):
    _write_module(tmp_path, monkeypatch, "lrtool_user_model_a", """
        import math
        from torch import nn

        def make(input_shape, num_classes, width=16):
            return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), width),
                                 nn.ReLU(), nn.Linear(width, num_classes))
    """)
    model = build_model("lrtool_user_model_a:make", {"width": 8},
                        input_shape=(1, 8, 8), num_classes=7)
    assert forward(model, (1, 8, 8)).shape == (4, 7)
    assert model[1].out_features == 8


def test_callable_without_injected_arguments(tmp_path, monkeypatch):
    _write_module(tmp_path, monkeypatch, "lrtool_user_model_b", """
        from torch import nn

        class Net(nn.Module):
            def __init__(self, hidden=5):
                super().__init__()
                self.body = nn.Sequential(nn.Flatten(), nn.LazyLinear(hidden), nn.ReLU(),
                                          nn.Linear(hidden, 3))

            def forward(self, x):
                return self.body(x)

        def not_a_model():
            return 42
    """)
    model = build_model("lrtool_user_model_b:Net", {"hidden": 6},
                        input_shape=(1, 8, 8), num_classes=3)
    assert forward(model, (1, 8, 8)).shape == (4, 3)
    with pytest.raises(LrtoolError, match=r"model.hiden: unknown argument \(did you mean 'hidden'"):
        validate_model("lrtool_user_model_b:Net", {"hiden": 6})
    with pytest.raises(LrtoolError, match="returned a int, not a torch.nn.Module"):
        build_model("lrtool_user_model_b:not_a_model", {}, input_shape=(1, 8, 8), num_classes=3)
    with pytest.raises(LrtoolError, match=r"^model: 'lrtool_user_model_b' has no attribute 'Nett'"
                                          r" \(did you mean 'Net'\?\)$"):
        validate_model("lrtool_user_model_b:Nett", {})
    # The wrong output width for the data is caught before training, on one line.
    with pytest.raises(LrtoolError, match=r"gives output of shape \(2, 3\).*expected \(2, 10\)"):
        build_model("lrtool_user_model_b:Net", {}, input_shape=(1, 8, 8), num_classes=10)


def test_callable_whose_module_fails_to_import(tmp_path, monkeypatch):
    _write_module(tmp_path, monkeypatch, "lrtool_user_model_c", "raise RuntimeError('boom')\n")
    with pytest.raises(LrtoolError, match=r"^model: importing module 'lrtool_user_model_c' .*"
                                          r"RuntimeError: boom$"):
        validate_model("lrtool_user_model_c:make", {})


# ------------------------------------------------------------------------------------ errors


def one_line_error(fn, *args, **kwargs) -> str:
    """The LrtoolError message `fn` raises, checked to be a single line."""
    with pytest.raises(LrtoolError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_unknown_name_suggests_and_lists_choices():
    message = one_line_error(validate_model, "mpl", {})
    assert message.startswith("model.name: unknown model 'mpl' (did you mean 'mlp'?)")
    assert "valid choices: mlp, convnet, lenet" in message
    assert "torchvision" in message
    message = one_line_error(validate_model, "resnt18", {}, key="experiments[1].model")
    assert message.startswith("experiments[1].model.name: unknown model 'resnt18' "
                              "(did you mean 'resnet18'?)")


def test_unknown_kwarg_names_the_dotted_key():
    message = one_line_error(validate_model, "mlp", {"hiden": [3]})
    assert message.startswith("model.hiden: unknown argument (did you mean 'hidden'?)")
    assert "valid arguments: hidden, dropout, activation, batchnorm" in message
    message = one_line_error(validate_model, "convnet", {"num_classes": 3})
    assert message == "model.num_classes: set by lrtool itself, remove it from the config"


def test_bad_builtin_values_name_the_dotted_key():
    assert one_line_error(validate_model, "mlp", {"activation": "sigmoid"}) == (
        "model.activation: expected one of (relu, gelu, tanh), got 'sigmoid'")
    assert one_line_error(validate_model, "lenet", {"activation": "tahn"}) == (
        "model.activation: expected one of (relu, gelu, tanh), got 'tahn' (did you mean 'tanh'?)")
    assert one_line_error(build_model, "mlp", {"dropout": 1.0}, input_shape=(4,), num_classes=2) == (
        "model.dropout: expected a number >= 0 and < 1, got 1.0")
    assert one_line_error(validate_model, "mlp", {"hidden": [64, -1]}) == (
        "model.hidden: expected a list of positive integers, got [64, -1]")
    assert one_line_error(validate_model, "mlp", {"batchnorm": "yes"}) == (
        "model.batchnorm: expected true or false, got 'yes'")
    assert one_line_error(validate_model, "convnet", {"channels": []}) == (
        "model.channels: expected a non-empty list of positive integers, got []")
    assert one_line_error(validate_model, "convnet", {"width": 0}, key="experiments[2].model") == (
        "experiments[2].model.width: expected a number > 0, got 0")
    # activation names are matched case-insensitively; an int width is one hidden layer
    model = build_model("mlp", {"activation": "GELU", "hidden": 5}, input_shape=(4,), num_classes=2)
    assert isinstance(model.act1, torch.nn.GELU) and model.fc1.out_features == 5 and not hasattr(model, "fc2")
    assert one_line_error(build_model, "lenet", {}, input_shape=(20,), num_classes=2) == (
        "model: lenet needs image input of shape (channels, height, width), "
        "the data gives (20,)")


def test_bad_torchvision_kwargs():
    message = one_line_error(validate_model, "resnet18", {"zero_init_residul": True})
    assert message.startswith("model.zero_init_residul: unknown argument "
                              "(did you mean 'zero_init_residual'?); valid arguments: weights")
    # MobileNetV3 swallows **kwargs silently; lrtool still names the wrong one.
    assert one_line_error(validate_model, "mobilenet_v3_small", {"widht_mult": 0.5}).startswith(
        "model.widht_mult: unknown argument (did you mean 'width_mult'?)")
    # A value the model rejects at build time.
    assert one_line_error(build_model, "resnet18", {"groups": 2}, input_shape=(3, 32, 32),
                          num_classes=10) == (
        "model: resnet18 rejected its arguments: BasicBlock only supports groups=1 and "
        "base_width=64")
    # An input the architecture cannot take is reported before training.
    assert one_line_error(build_model, "alexnet", {}, input_shape=(1, 8, 8),
                          num_classes=10).startswith(
        "model: alexnet fails on a batch of shape (2, 1, 8, 8): RuntimeError:")


def test_bad_module_paths(monkeypatch):
    from lrtool import imports

    monkeypatch.setattr(imports, "_ADDED", set())  # no config loaded in this process: only sys.path
    assert one_line_error(validate_model, "no_such_pkg_xyz.models:make", {}) == (
        "model: cannot import module 'no_such_pkg_xyz.models' for "
        "'no_such_pkg_xyz.models:make': No module named 'no_such_pkg_xyz' (searched sys.path)")
    assert one_line_error(validate_model, "os.path:", {}) == (
        "model: 'os.path:' is not of the form 'package.module:callable'")
    assert one_line_error(validate_model, "os:sep", {}) == (
        "model: 'os:sep' is a str, not a callable")


def test_injected_names():
    assert INJECTED == ("input_shape", "num_classes", "in_chans")


def test_importing_models_does_not_import_torchvision():
    code = ("import sys, lrtool.models as m; m.validate_model('mlp', {}); "
            "assert 'torchvision' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)

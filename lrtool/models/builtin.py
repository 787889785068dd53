"""The built-in models: mlp, convnet and lenet.

Each builder declares how its argument values are checked (checks.takes), so build_model and
validate_model report a bad value as `model.<arg>` before anything is built.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from functools import partial

import torch
from torch import nn

from .. import checks
from .base import image_shape

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}

_activation = partial(checks.choice, choices=tuple(ACTIVATIONS), ignore_case=True)


def _pool_kernel(height: int, width: int) -> tuple[int, int]:
    """2x2 max-pool kernel, 1 along a side that has already shrunk to a single pixel."""
    return (2 if height > 1 else 1, 2 if width > 1 else 1)


@checks.takes(hidden=partial(checks.widths, allow_empty=True),
              dropout=partial(checks.number, lo=0, hi=1, hi_open=True),
              activation=_activation, batchnorm=checks.flag)
def mlp(input_shape: tuple[int, ...], num_classes: int, *, hidden: tuple[int, ...] = (256,),
        dropout: float = 0.0, activation: str = "relu", batchnorm: bool = False) -> nn.Module:
    """Fully connected network: Linear -> [BatchNorm] -> activation -> [Dropout] per hidden width.

    Args:
        input_shape: shape of one example; it is flattened, so any shape works.
        num_classes: width of the output layer.
        hidden: widths of the hidden layers (an int for one layer; [] for a linear model).
        dropout: dropout probability after each hidden activation (0 for none).
        activation: relu, gelu or tanh.
        batchnorm: BatchNorm1d after each hidden Linear (which then has no bias).

    Returns:
        nn.Sequential with layers fc1.., bn1.., act1.., drop1.. and head.
    """
    act = ACTIVATIONS[activation]
    layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
    width = math.prod(input_shape)
    for i, out in enumerate(hidden, start=1):
        layers[f"fc{i}"] = nn.Linear(width, out, bias=not batchnorm)
        if batchnorm:
            layers[f"bn{i}"] = nn.BatchNorm1d(out)
        layers[f"act{i}"] = act()
        if dropout > 0:
            layers[f"drop{i}"] = nn.Dropout(dropout)
        width = out
    layers["head"] = nn.Linear(width, num_classes)
    return nn.Sequential(layers)


@checks.takes(channels=checks.widths, width=partial(checks.number, lo=0, lo_open=True),
              batchnorm=checks.flag)
def convnet(input_shape: tuple[int, ...], num_classes: int, *,
            channels: tuple[int, ...] = (32, 64, 128, 256, 256), width: float = 1.0,
            batchnorm: bool = True) -> nn.Module:
    """Small ConvNet: one block per entry of `channels`, then global average pool and a Linear.

    A block is conv3x3 -> [BatchNorm] -> ReLU -> 2x2 max-pool; the pool is skipped (per side)
    once the feature map is down to one pixel, so 8x8, 28x28, 32x32 and larger inputs all work.

    Args:
        input_shape: (C, H, W) of one example.
        num_classes: width of the output layer.
        channels: output channels of each block (its length is the number of blocks).
        width: multiplier applied to every entry of `channels` (rounded, at least 1), to scale
            the network without rewriting the list.
        batchnorm: BatchNorm2d after each conv (which then has no bias).

    Returns:
        nn.Sequential with blocks block1.. (conv, bn, act, pool), pool, flatten and head.
    """
    channels = tuple(max(1, round(c * width)) for c in channels)
    in_channels, height, width_px = image_shape(input_shape)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i, out in enumerate(channels, start=1):
        block: OrderedDict[str, nn.Module] = OrderedDict(
            conv=nn.Conv2d(in_channels, out, 3, padding=1, bias=not batchnorm))
        if batchnorm:
            block["bn"] = nn.BatchNorm2d(out)
        block["act"] = nn.ReLU(inplace=True)
        kernel = _pool_kernel(height, width_px)
        if kernel != (1, 1):
            block["pool"] = nn.MaxPool2d(kernel)
            height, width_px = height // kernel[0], width_px // kernel[1]
        layers[f"block{i}"] = nn.Sequential(block)
        in_channels = out
    # Inputs larger than 32x32 keep some spatial extent after the last block.
    layers["pool"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    layers["head"] = nn.Linear(in_channels, num_classes)
    return nn.Sequential(layers)


@checks.takes(activation=_activation)
def lenet(input_shape: tuple[int, ...], num_classes: int, *,
          activation: str = "relu") -> nn.Module:
    """LeNet-5 with max-pooling, padded as needed for small inputs.

    conv1 (5x5, 6 channels) is unpadded on inputs of 32 pixels or more (the original LeNet-5)
    and padded by 2 on smaller ones (as LeNet-5 is run on 28x28 MNIST); conv2 (5x5, 16
    channels) is unpadded when its input is at least 10 pixels, else padded by 2 (8x8 digits).
    Pools are skipped on one-pixel sides. The flattened size comes from a dummy forward.

    Args:
        input_shape: (C, H, W) of one example.
        num_classes: width of the output layer.
        activation: relu, gelu or tanh (the original used tanh).

    Returns:
        nn.Sequential with conv1, act1, pool1, conv2, act2, pool2, flatten, fc1, act3, fc2,
        act4 and head.
    """
    act = ACTIVATIONS[activation]
    in_channels, height, width = image_shape(input_shape)
    features: OrderedDict[str, nn.Module] = OrderedDict()
    for i, (out, min_unpadded) in enumerate(((6, 32), (16, 10)), start=1):
        padding = 0 if min(height, width) >= min_unpadded else 2
        features[f"conv{i}"] = nn.Conv2d(in_channels, out, 5, padding=padding)
        features[f"act{i}"] = act()
        height, width = height + 2 * padding - 4, width + 2 * padding - 4
        kernel = _pool_kernel(height, width)
        if kernel != (1, 1):
            features[f"pool{i}"] = nn.MaxPool2d(kernel)
            height, width = height // kernel[0], width // kernel[1]
        in_channels = out
    features["flatten"] = nn.Flatten()
    model = nn.Sequential(features)
    with torch.no_grad():  # flattened size of whatever the convolutions leave
        flat = model(torch.zeros(1, *input_shape)).shape[1]
    model.add_module("fc1", nn.Linear(flat, 120))
    model.add_module("act3", act())
    model.add_module("fc2", nn.Linear(120, 84))
    model.add_module("act4", act())
    model.add_module("head", nn.Linear(84, num_classes))
    return model

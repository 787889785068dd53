"""timm models by name: `model: {name: "timm/<model_name>", pretrained: false, ...}` (extra: lrtool[timm]).

timm is imported only when such a name is used. num_classes (from the data) and in_chans (the
channels of image data) are passed to `timm.create_model`, the rest of the config's arguments as given.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import LrtoolError, one_line
from ..registry import did_you_mean
from .base import INJECTED

PREFIX = "timm/"


def _timm(key: str) -> Any:
    """The timm module, or a one-line error saying how to install it."""
    try:
        import timm
    except ImportError as err:
        raise LrtoolError(f"{key}: timm models need the timm package: pip install \"lrtool[timm]\" "
                          f"({one_line(err)})") from None
    return timm


class TimmModel:
    """Builds timm model `name` with timm.create_model."""

    def __init__(self, name: str):
        self.name = name

    @property
    def label(self) -> str:
        return PREFIX + self.name

    def check_kwargs(self, kwargs: dict[str, Any], key: str) -> None:
        """Check timm is there and knows the model; its arguments are checked by timm when it builds."""
        timm = _timm(f"{key}.name")
        if not timm.is_model(self.name):
            raise LrtoolError(f"{key}.name: timm has no model '{self.name}'"
                              f"{did_you_mean(self.name, timm.list_models())}; see timm.list_models()")
        for arg in kwargs:
            if arg in INJECTED:
                raise LrtoolError(f"{key}.{arg}: set by lrtool itself, remove it from the config")

    def build(self, input_shape: tuple[int, ...], num_classes: int, kwargs: dict[str, Any], key: str) -> nn.Module:
        """timm.create_model(name, num_classes=..., in_chans=... for image data, **kwargs)."""
        timm = _timm(f"{key}.name")
        extra = {"in_chans": int(input_shape[0])} if len(input_shape) == 3 else {}
        try:
            return timm.create_model(self.name, num_classes=num_classes, **extra, **kwargs)
        except (TypeError, ValueError, AssertionError) as err:
            raise LrtoolError(f"{key}: {self.label} rejected its arguments: {one_line(err)}") from err
        except (OSError, RuntimeError) as err:  # pretrained weights that cannot be downloaded or loaded
            raise LrtoolError(f"{key}: {self.label} could not be built: {one_line(err)}; pretrained weights are "
                              f"downloaded once: set {key}.pretrained: false or give {key}.checkpoint_path a "
                              f"local file") from err

"""What every kind of model shares: the injected arguments and the input-shape check."""

from __future__ import annotations

# Parameters lrtool passes to every builder itself; a config may not set them.
INJECTED = ("input_shape", "num_classes")


class InputShapeError(ValueError):
    """The model cannot take the data's input shape (reported as such, not as a bad argument)."""


def image_shape(input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(C, H, W) from the data's input shape, or InputShapeError for non-image data."""
    if len(input_shape) != 3:
        raise InputShapeError(
            f"needs image input of shape (channels, height, width), the data gives {input_shape}")
    return input_shape  # type: ignore[return-value]

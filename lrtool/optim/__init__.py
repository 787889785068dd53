"""Optimizers (optimizers.py) and losses (losses.py) by name."""

from .losses import LOSSES, LossFn, build_loss, check_batch, outputs_probabilities, soft_targets, validate_loss
from .optimizers import (
                         OPTIMIZERS,
                         build_optimizer,
                         config_lrs_and_momenta,
                         momentum_key,
                         set_lr_and_momentum,
                         validate_optimizer,
)

__all__ = ["OPTIMIZERS", "LOSSES", "LossFn", "validate_optimizer", "build_optimizer", "momentum_key",
           "set_lr_and_momentum", "config_lrs_and_momenta", "validate_loss", "build_loss",
           "check_batch", "outputs_probabilities", "soft_targets"]

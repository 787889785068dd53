"""The config: its typed tree (schema.py) and how a YAML file plus --set overrides become one (load.py)."""

from .load import (
                   QUICKSTART,
                   apply_lr_from,
                   apply_override,
                   check_components,
                   choose_schedule,
                   dump_config,
                   load_config,
                   parse_yaml,
                   read_config_file,
)
from .schema import (
                   SECTIONS,
                   AugmentConfig,
                   Component,
                   Config,
                   DataConfig,
                   FindLRConfig,
                   LossConfig,
                   ModelConfig,
                   OptimizerConfig,
                   ScheduleConfig,
                   TrainConfig,
)

__all__ = ["QUICKSTART", "SECTIONS", "AugmentConfig", "Component", "Config", "DataConfig", "FindLRConfig",
           "LossConfig", "ModelConfig", "OptimizerConfig", "ScheduleConfig", "TrainConfig", "apply_lr_from",
           "apply_override", "check_components", "choose_schedule", "dump_config", "load_config", "parse_yaml",
           "read_config_file"]

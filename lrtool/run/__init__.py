"""Running a config: build, the engine step, distributed helpers, the trainer and the range test."""

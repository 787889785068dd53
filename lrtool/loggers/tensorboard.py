"""The tensorboard logger: event files in the run's tb/ folder (`tensorboard --logdir runs`)."""

from __future__ import annotations

import math
from typing import Any

from ..rundir import read_csv_rows
from ..rundir.columns import EPOCH, EPOCHS_CSV, STEP, TIME_S
from ..rundir.summary import flatten

# columns that are coordinates, not values to plot
_AXES = (STEP, EPOCH, TIME_S)


def _scalars(row: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in row.items() if k not in _AXES and isinstance(v, (int, float))
            and not isinstance(v, bool)}


def _hparam_value(value: Any) -> Any:
    """TensorBoard's HParams take numbers, strings and bools; anything else is shown as text."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _final_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """The numbers the HParams view compares runs by (prefixed so they never clash with logged tags)."""
    out: dict[str, float] = {}
    for key, value in (summary.get("final") or {}).items():
        if key not in ("epoch", "step") and isinstance(value, (int, float)):
            out[f"hparam/final_{key}"] = float(value)
    for key, best in (summary.get("best") or {}).items():
        if isinstance(best, dict) and isinstance(best.get("value"), (int, float)):
            out[f"hparam/best_{key}"] = float(best["value"])
    for key, value in (summary.get("test") or {}).items():
        if isinstance(value, (int, float)):
            out[f"hparam/{key}"] = float(value)
    if isinstance(summary.get("lr"), (int, float)):  # find-lr: the suggested LR
        out["hparam/suggested_lr"] = float(summary["lr"])
    return {k: v for k, v in out.items() if math.isfinite(v)}


class TensorBoardLogger:
    """Per-step lr/momentum/loss, per-epoch metrics, the range test's curve, the config and HParams."""

    name = "tensorboard"

    def __init__(self) -> None:
        self.writer: Any = None

    def start(self, run: Any, config: dict[str, Any], *, command: str, resume_step: int | None,
              tags: dict[str, str]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.logdir = run.path / "tb"
        self.config = config
        self.step = 0
        # a resumed run drops what the killed run logged past its checkpoint (purge_step), so
        # TensorBoard shows each step once, as steps.csv does
        self.writer = SummaryWriter(log_dir=str(self.logdir), purge_step=resume_step or None, flush_secs=10)
        if resume_step:
            self._relog_epochs(run, resume_step)
            return
        text = (run.path / "config.yaml").read_text(encoding="utf-8") if (run.path / "config.yaml").exists() else ""
        # indented by 4 spaces: TensorBoard's markdown shows it as a code block
        self.writer.add_text("config", "\n".join("    " + line for line in text.splitlines()), 0)
        self.writer.add_text("tags", "  \n".join(f"{k}: {v}" for k, v in tags.items()), 0)
        if command == "find-lr":
            self.writer.add_custom_scalars({"range test": {
                "loss vs step": ["Multiline", ["find_lr/loss", "find_lr/smoothed_loss"]],
                "lr vs step": ["Multiline", ["find_lr/lr"]]}})

    def _relog_epochs(self, run: Any, resume_step: int) -> None:
        """The purge also drops the epoch that ended exactly at the checkpoint: log it again from epochs.csv."""
        read = read_csv_rows(run.path / EPOCHS_CSV)
        for row in read.rows if read is not None else []:
            if row.get(STEP) and int(row[STEP]) >= resume_step:
                self.log_epoch({k: (int(v) if k in (EPOCH, STEP) else float(v)) for k, v in row.items()
                                if v not in ("", None)})

    def log_step(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            for key, value in _scalars(row).items():
                self.writer.add_scalar(f"step/{key}", value, row["step"])
            self.step = row["step"] + 1

    def log_epoch(self, row: dict[str, Any]) -> None:
        # epoch metrics at the global step, so they line up with the per-step curves
        for key, value in _scalars(row).items():
            self.writer.add_scalar(f"epoch/{key}", value, row["step"])
        self.writer.add_scalar("epoch/epoch", row["epoch"], row["step"])
        self.step = max(self.step, row["step"])

    def log_find_lr(self, curve: list[dict[str, Any]], suggestions: dict[str, Any]) -> None:
        for row in curve:
            for key, value in _scalars(row).items():
                self.writer.add_scalar(f"find_lr/{key}", value, row["step"])
        if curve:
            self.step = curve[-1]["step"]
        lines = ["| suggestion | lr | step |", "|---|---|---|"]
        for name, sug in (suggestions.get("suggestions") or {}).items():
            lines.append(f"| {name} | {sug['lr']:.4g} | {sug['step']} |" if sug else f"| {name} | - | - |")
        if suggestions.get("clr"):
            lines.append(f"| cyclic base_lr .. max_lr | {suggestions['clr']['base_lr']:.4g} .. "
                         f"{suggestions['clr']['max_lr']:.4g} | |")
        self.writer.add_text("suggestions", "\n".join(lines), 0)

    def _add_plot(self, path: Any, tag: str) -> None:
        """A PNG the run drew (its x axis may be the LR, which scalars cannot have) as an image."""
        if not path.exists():
            return
        import numpy as np
        from PIL import Image

        with Image.open(path) as im:
            self.writer.add_image(tag, np.asarray(im.convert("RGB")), self.step, dataformats="HWC")

    def finish(self, status: str, summary: dict[str, Any]) -> None:
        hparams = {k: _hparam_value(v) for k, v in flatten(self.config).items()}
        hparams["status"] = status
        # run_name=".": the HParams go into this run's own folder, not a new timestamped run
        self.writer.add_hparams(hparams, _final_metrics(summary), run_name=".", global_step=self.step)
        if summary.get("command") == "find-lr":
            self._add_plot(self.logdir.parent / "lr_find.png", "find_lr/curve")
        self.close()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

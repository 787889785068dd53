"""The learning rates a range-test curve suggests (steepest, valley, minimum) and the CLR/one-cycle bounds."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np


def _note(notes: list[str], text: str) -> None:
    if text not in notes:
        notes.append(text)


def suggest(lrs: Sequence[float], smoothed: Sequence[float], *, diverged_at_end: bool = False,
            val_lrs: Sequence[float] = (), val_accs: Sequence[float] = ()) -> dict[str, Any]:
    """Suggestions and schedule bounds from a range-test curve.

    Args:
        lrs, smoothed: the LR and smoothed loss of each recorded step; the curve is cut at the
            first non-finite value.
        diverged_at_end: the sweep stopped because the loss diverged (so the curve does rise).
        val_lrs, val_accs: validation accuracy at some of the steps, when measured.

    Returns:
        {"suggestions": {steepest|valley|minimum: {lr, step, loss} or None}, "lr", "clr": {base_lr,
        max_lr}, "onecycle": {max_lr}, "notes": [...], "shape": "u|never_falls|never_rises|too_short"}.
    """
    n = next((i for i, v in enumerate(smoothed) if v is None or not math.isfinite(v)), len(smoothed))
    lr = np.asarray(lrs[:n], dtype=float)
    loss = np.asarray(smoothed[:n], dtype=float)
    out: dict[str, Any] = {"suggestions": {"steepest": None, "valley": None, "minimum": None},
                           "lr": None, "clr": None, "onecycle": None, "notes": [], "shape": "u"}
    notes = out["notes"]
    if n < 5:
        out["shape"] = "too_short"
        _note(notes, f"only {n} usable steps: too few to suggest anything; raise num_iter or lower start_lr")
        return out

    def pick(i: int, lr_value: float | None = None) -> dict[str, Any]:
        return {"lr": float(lr[i] if lr_value is None else lr_value), "step": int(i), "loss": float(loss[i])}

    first, i_min = loss[0], int(np.argmin(loss))
    spread = max(abs(first), 1e-12)
    if first - loss[i_min] <= 0.01 * spread:
        out["shape"] = "never_falls"
        _note(notes, "the loss never fell: no learning rate in this range trains the model "
                     "(start_lr too high, or the model/data cannot learn); no suggestion")
        return out

    # d loss / d log10(lr), ignoring the noisy ends of the sweep
    x = np.log10(lr) if np.all(lr > 0) else lr
    grad = np.gradient(loss, x) if np.unique(x).size == n else np.gradient(loss)
    lo = max(1, n // 10)
    hi = max(lo + 1, n - max(1, min(5, n // 10)))
    i_steep = lo + int(np.argmin(grad[lo:hi]))
    if grad[i_steep] < 0:
        out["suggestions"]["steepest"] = pick(i_steep)

    i_valley = _valley(loss)
    if i_valley is not None:
        out["suggestions"]["valley"] = pick(i_valley)
    # minimum: a tenth of the LR at the lowest loss; shown on the curve where that LR lies
    i_tenth = int(np.argmin(np.abs(np.log(lr / (lr[i_min] / 10))))) if np.all(lr > 0) else i_min
    out["suggestions"]["minimum"] = {**pick(i_tenth, lr[i_min] / 10), "min_lr": float(lr[i_min]),
                                     "min_step": i_min, "min_loss": float(loss[i_min])}

    if not diverged_at_end and i_min >= n - max(2, n // 10) and loss[-1] - loss[i_min] <= 0.01 * spread:
        out["shape"] = "never_rises"
        _note(notes, "the loss was still falling at end_lr: the sweep never reached the point where "
                     "training breaks, so the true minimum may lie higher; raise end_lr to be sure")

    # CLR bounds (Smith 2017): max where the loss still falls fastest before the minimum
    stop = max(lo + 1, min(i_min + 1, hi))
    i_max = lo + int(np.argmin(grad[lo:stop]))
    if grad[i_max] >= 0:
        i_max = i_steep
    max_lr = float(lr[i_max])
    base_lr, base_rule = max_lr / 4, "max_lr / 4"
    acc_base = _accuracy_rise(val_lrs, val_accs)
    if acc_base is not None and max_lr / 100 <= acc_base < max_lr:
        base_lr, base_rule = acc_base, "where validation accuracy starts to rise"
    out["clr"] = {"base_lr": base_lr, "max_lr": max_lr, "base_rule": base_rule}
    # one-cycle spends little time at its peak, so it tolerates the larger of the two
    minimum = out["suggestions"]["minimum"]["lr"]
    out["onecycle"] = {"max_lr": max(max_lr, minimum)}
    chosen = out["suggestions"]["valley"] or out["suggestions"]["steepest"] or out["suggestions"]["minimum"]
    out["lr"] = chosen["lr"]
    return out


def _valley(loss: np.ndarray) -> int | None:
    """fastai's valley: the middle of the longest decreasing run (subsequence) of the smoothed loss."""
    n = len(loss)
    lds = np.ones(n, dtype=int)  # length of the longest decreasing subsequence ending at i
    for i in range(1, n):
        earlier = lds[:i][loss[:i] > loss[i]]
        if earlier.size:
            lds[i] = earlier.max() + 1
    end = int(np.argmax(lds))  # first index reaching the longest length
    if lds[end] < 2:
        return None
    # fastai's choice: about half-way along the stretch (a third plus a sixth of its length)
    start = max(0, end - int(lds[end]))
    third = (end - start) / 3
    return start + int(third) + int(third / 2)


def _accuracy_rise(val_lrs: Sequence[float], val_accs: Sequence[float]) -> float | None:
    """The LR where validation accuracy first climbs a tenth of the way to its peak, if it climbs."""
    pairs = [(l, a) for l, a in zip(val_lrs, val_accs) if a is not None and math.isfinite(a)]
    if len(pairs) < 3:
        return None
    acc0 = pairs[0][1]
    peak = max(a for _, a in pairs)
    if peak - acc0 < 0.05:
        return None
    for l, a in pairs[1:]:
        if a >= acc0 + 0.1 * (peak - acc0):
            return float(l)
    return None


def snippet(result: dict[str, Any]) -> str:
    """The suggested learning rates as YAML to paste into a config."""
    if result.get("lr") is None:
        return ""
    clr, one = result["clr"], result["onecycle"]
    return (
        "optimizer:\n"
        f"  lr: {result['lr']:.3g}\n"
        "schedule:\n"
        f"  cyclic: {{base_lr: {clr['base_lr']:.3g}, max_lr: {clr['max_lr']:.3g}}}\n"
        f"  onecycle: {{max_lr: {one['max_lr']:.3g}}}\n"
    )

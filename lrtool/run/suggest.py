"""The learning rates a range-test curve suggests (steepest, valley, minimum) and the CLR/one-cycle bounds."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np


def _note(notes: list[str], text: str) -> None:
    if text not in notes:
        notes.append(text)


# The rule behind `lr` (the one number find-lr recommends); chosen by benchmarks/suggestion_quality.py.
DEFAULT_RULE = "steepest"
RULES = ("steepest", "valley", "valley_trimmed", "minimum")
# Where the curve counts as exploded, whatever find_lr.diverge_threshold stopped the sweep at:
# fastai's and Lightning's divergence factor (the smoothed loss 4x above its best so far).
EXPLODED = 4.0
# suggestions further apart than this (decades of LR) get a note: at most one of them is where the loss falls
APART_DECADES = 2
SLOPE_BASE = 10  # the steepest descent is measured over +-(usable length / SLOPE_BASE) points


def usable_length(loss: Sequence[float]) -> int:
    """How many leading points of a smoothed curve come before it explodes (rises 4x above its best so far).

    The suggestions only look at this part: after an explosion the EMA decays from huge values, which
    would otherwise read as the steepest descent of the whole curve.
    """
    best = math.inf
    for i, v in enumerate(loss):
        if i > 0 and v - best > (EXPLODED - 1) * abs(best):
            return i
        best = min(best, v)
    return len(loss)


def suggest(lrs: Sequence[float], smoothed: Sequence[float], *, diverged_at_end: bool = False,
            val_lrs: Sequence[float] = (), val_metric: Sequence[float] = (), metric: str = "val_acc",
            val_accs: Sequence[float] = (), num_iter: int | None = None,
            rule: str = DEFAULT_RULE, partial: bool = False) -> dict[str, Any]:
    """Suggestions and schedule bounds from a range-test curve.

    Every suggestion comes from the curve before it explodes (`usable_length`) and before its lowest
    point, whatever divergence threshold the sweep ran with.

    Args:
        lrs, smoothed: the LR and smoothed loss of each recorded step; the curve is cut at the
            first non-finite value.
        diverged_at_end: the sweep stopped because the loss diverged (so the curve does rise).
        val_lrs, val_metric: a validation metric at some of the steps, when measured.
        metric: that metric's column (val_acc, val_mae, ...): its direction decides what "improves" means.
        val_accs: the former name of val_metric (accuracy), still accepted.
        num_iter: the planned sweep length (fastai trims its first tenth); None: the recorded length.
        rule: which suggestion becomes `lr` (one of RULES).
        partial: the sweep was interrupted before end_lr: the suggestions are marked as coming from
            the part swept, and the curve's end says nothing about end_lr.

    Returns:
        {"suggestions": {steepest|valley|valley_trimmed|minimum: {lr, step, loss} or None}, "lr",
        "lr_rule", "clr": {base_lr, max_lr}, "onecycle": {max_lr}, "notes": [...],
        "shape": "u|never_falls|never_rises|too_short", "partial": bool}.
    """
    n = next((i for i, v in enumerate(smoothed) if v is None or not math.isfinite(v)), len(smoothed))
    m = usable_length([float(v) for v in smoothed[:n]])
    lr = np.asarray(lrs[:m], dtype=float)
    loss = np.asarray(smoothed[:m], dtype=float)
    out: dict[str, Any] = {"suggestions": {r: None for r in RULES}, "lr": None, "lr_rule": rule,
                           "clr": None, "onecycle": None, "notes": [], "shape": "u", "partial": partial}
    notes = out["notes"]
    if m < 5:
        out["shape"] = "too_short"
        # an interrupted sweep was cut short by the user, not by its settings: rerunning it is the fix
        fix = "run find-lr again and let it finish" if partial else "raise num_iter or lower start_lr"
        _note(notes, f"only {m} usable steps: too few to suggest anything; {fix}")
        return out

    def pick(i: int, lr_value: float | None = None) -> dict[str, Any]:
        return {"lr": float(lr[i] if lr_value is None else lr_value), "step": int(i), "loss": float(loss[i])}

    # where the curve starts: the median of its first tenth (the first point alone is one noisy batch);
    # its lowest point: after that first tenth, for the same reason
    lo = max(1, m // 10)
    first, i_min = float(np.median(loss[:max(3, lo)])), lo + int(np.argmin(loss[lo:]))
    spread = max(abs(first), 1e-12)
    if first - loss[i_min] <= 0.01 * spread:
        out["shape"] = "never_falls"
        if partial:  # the higher LRs were never tried: nothing is known about them
            _note(notes, "the loss never fell before the sweep was interrupted: no suggestion; run find-lr "
                         "again and let it finish")
        else:
            _note(notes, "the loss never fell: no learning rate in this range trains the model "
                         "(start_lr too high, or the model/data cannot learn); no suggestion")
        return out
    if partial:
        _note(notes, f"partial sweep: the suggestions come from the LRs swept before the interrupt (up to "
                     f"{float(lrs[n - 1]):.3g}); run find-lr again and let it finish to confirm them")

    # d loss / d log10(lr) up to the lowest point, ignoring the noisy first tenth and last few steps
    x = np.log10(lr) if np.all(lr > 0) else lr
    grad = _slope(loss, x if np.unique(x).size == m else np.arange(m, dtype=float), max(1, m // SLOPE_BASE))
    hi = max(lo + 1, m - max(1, min(5, m // 10)))
    stop = max(lo + 1, min(i_min + 1, hi))
    i_steep = lo + int(np.argmin(grad[lo:stop]))
    if grad[i_steep] < 0:
        out["suggestions"]["steepest"] = pick(i_steep)

    i_valley = _valley(loss[:i_min + 1])
    if i_valley is not None:
        out["suggestions"]["valley"] = pick(i_valley)
    # fastai's lr_find: valley on the curve less its first num_iter // 10 and last 5 recorded steps
    # (the last 5 include the step that diverged, when it did)
    skip, end = (num_iter or n) // 10, (m + 1 if m < n else m) - 5
    if end - skip >= 2:
        j = _valley(loss[skip:min(end, m)])
        if j is not None:
            out["suggestions"]["valley_trimmed"] = pick(skip + j)
    # minimum: a tenth of the LR at the lowest loss; shown on the curve where that LR lies
    i_tenth = int(np.argmin(np.abs(np.log(lr / (lr[i_min] / 10))))) if np.all(lr > 0) else i_min
    out["suggestions"]["minimum"] = {**pick(i_tenth, lr[i_min] / 10), "min_lr": float(lr[i_min]),
                                     "min_step": i_min, "min_loss": float(loss[i_min])}

    # an interrupted sweep stopped short of end_lr: its still-falling end says nothing about end_lr
    still_falling = i_min >= m - max(2, m // 10) and loss[-1] - loss[i_min] <= 0.01 * spread
    if not diverged_at_end and not partial and m == n and still_falling:
        out["shape"] = "never_rises"
        _note(notes, "the loss was still falling at end_lr: the sweep never reached the point where "
                     "training breaks, so the true minimum may lie higher; raise end_lr to be sure")

    # CLR bounds (Smith 2017): max where the loss falls fastest before the minimum (the steepest point)
    max_lr = float(lr[i_steep])
    base_lr, base_rule = max_lr / 4, "max_lr / 4"
    from ..metrics import higher_is_better

    sign = 1.0 if higher_is_better(metric) else -1.0  # an error metric "rises" as it falls
    rise = _metric_rise(val_lrs, [None if v is None else sign * v for v in (val_metric or val_accs)],
                        fraction=metric.endswith("_acc") or not val_metric)
    if rise is not None and max_lr / 100 <= rise < max_lr:
        what = "validation accuracy starts to rise" if metric.endswith("_acc") else f"{metric} starts to improve"
        base_lr, base_rule = rise, f"where {what}"
    out["clr"] = {"base_lr": base_lr, "max_lr": max_lr, "base_rule": base_rule}
    # one-cycle spends little time at its peak, so it tolerates the larger of the two
    minimum = out["suggestions"]["minimum"]["lr"]
    out["onecycle"] = {"max_lr": max(max_lr, minimum)}
    s = out["suggestions"]
    chosen_rule = next(r for r in (rule, "valley", "steepest", "minimum") if s.get(r))
    chosen, valley = s[chosen_rule], s["valley"]
    out["lr"] = chosen["lr"]
    # rules that disagree by decades: one of them read noise (often a flat, noisy start), so say which to look at
    if valley is not None and chosen_rule != "valley" and abs(math.log10(chosen["lr"] / valley["lr"])) > APART_DECADES:
        _note(notes, f"the {chosen_rule} suggestion ({chosen['lr']:.3g}, step {chosen['step']}) is more than "
                     f"{10 ** APART_DECADES:g}x from the valley ({valley['lr']:.3g}, step {valley['step']}): the "
                     "curve is likely flat or noisy where one of them lies; look at the plot (lr_find.png) before "
                     "training at either")
    return out


def _slope(y: np.ndarray, x: np.ndarray, h: int) -> np.ndarray:
    """dy/dx at each point over a base of +-h points (one-sided at the ends).

    A wide base reads the trend of the curve: a one-step difference of a noisy smoothed loss can be
    steeper than a slow real descent (seen on regression losses).
    """
    n = len(y)
    lo = np.clip(np.arange(n) - h, 0, n - 1)
    hi = np.clip(np.arange(n) + h, 0, n - 1)
    return (y[hi] - y[lo]) / (x[hi] - x[lo])


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


def _metric_rise(val_lrs: Sequence[float], values: Sequence[float | None], fraction: bool = True) -> float | None:
    """The LR where a validation metric (higher is better) first climbs a tenth of the way to its peak.

    A fraction (accuracy) must climb at least 0.05 to count; a metric of other units (`fraction=False`)
    at least 5% of its starting magnitude.
    """
    pairs = [(l, a) for l, a in zip(val_lrs, values) if a is not None and math.isfinite(a)]
    if len(pairs) < 3:
        return None
    acc0 = pairs[0][1]
    peak = max(a for _, a in pairs)
    if peak - acc0 < (0.05 if fraction else 0.05 * max(abs(acc0), 1e-12)):
        return None
    for l, a in pairs[1:]:
        if a >= acc0 + 0.1 * (peak - acc0):
            return float(l)
    return None


def snippet(result: dict[str, Any]) -> str:
    """The suggested learning rates as YAML to paste into a config.

    With param groups each group's lr is the suggestion times the ratio the sweep kept (sweep.lr_ratios), as
    `--lr-from` sets it, and the schedule bounds are one value per group, so pasting keeps the ratios.
    """
    if result.get("lr") is None:
        return ""
    import json

    clr, one = result["clr"], result["onecycle"]
    sweep = result.get("sweep") or {}
    ratios = [float(r) for r in sweep.get("lr_ratios") or [1.0]]

    def per_group(value: float) -> str:
        if len(ratios) == 1:
            return f"{value:.3g}"
        return "[" + ", ".join(f"{value * r:.3g}" for r in ratios) + "]"

    lines = ["optimizer:", f"  lr: {result['lr']:.3g}"]
    matches = sweep.get("group_match")
    if len(ratios) > 1 and isinstance(matches, list) and len(matches) == len(ratios) - 1:
        lines.append("  param_groups:  # plus each group's other options")
        lines += [f"    - {{match: {json.dumps(m)}, lr: {result['lr'] * r:.3g}}}" for m, r in zip(matches, ratios[1:])]
    elif len(ratios) > 1:  # find_lr() from Python: torch groups, no config groups to name
        lines.append(f"  # lr of each param group (group 0 first): {per_group(result['lr'])}")
    lines += ["schedule:", f"  cyclic: {{base_lr: {per_group(clr['base_lr'])}, max_lr: {per_group(clr['max_lr'])}}}",
              f"  onecycle: {{max_lr: {per_group(one['max_lr'])}}}"]
    return "\n".join(lines) + "\n"

"""The ``schedule:`` config section, the one owner of its rules: resolving it into a ScheduleSpec,
``--schedule NAME`` (choose_schedule) and ``--lr-from`` (fill_lr_bounds).

The ``schedule:`` config section
--------------------------------
* ``name`` picks the schedule: a short name (``cosine``, ``onecycle``, ...) or a torch class name
  (``StepLR``, ...), case-insensitive; config's default is ``constant``. ``--schedule X``
  (``choose_schedule``) makes X the name and moves the old schedule's flat arguments into its block.
* A key that names a schedule (``step:``, ``onecycle:``, ``OneCycleLR:``, any alias) is a *block*:
  the arguments of that schedule, so one config can carry several and ``--schedule`` switches between
  them. Every other key besides ``name``, ``interval`` and ``warmup`` is a *flat* argument of the
  schedule named by ``name``. No schedule has an argument spelled like a schedule name, so the two
  never mix up.
* The chosen schedule gets the flat arguments plus its own block; one argument set in both places
  is an error. Every block is checked against its own schedule even when another one is chosen, so
  a typo fails before training.
* ``interval`` (``epoch`` | ``step``) and ``warmup`` are common to all schedules; a block may carry
  its own ``interval``/``warmup`` that override the common ones for that schedule. Without
  ``interval`` each schedule uses its natural unit (see the table in the package docstring).
* torch's ``last_epoch``/``verbose``/``optimizer`` are rejected: lrtool derives them itself.
* ``--lr-from RUN`` (``fill_lr_bounds``) puts a range test's suggested bounds into every cyclic and
  one-cycle schedule of the section.
"""

from __future__ import annotations

from typing import Any

from .. import checks
from ..errors import LrtoolError
from ..registry import format_choices
from .context import INTERVALS, SCHEDULES, Kind, check_arguments, check_required
from .plan import ScheduleSpec
from .warmup import normalize_warmup

COMMON_KEYS = ("interval", "warmup")
DEFAULT_NAME = "constant"  # config's schedule.name when the section has none
# the schedules whose LR bounds --lr-from fills: cyclic ones take base_lr and max_lr, one-cycle max_lr
CYCLIC_NAMES, ONECYCLE_NAMES = ("cyclic", "CyclicLR"), ("onecycle", "OneCycleLR")


def interval_value(raw: Any, key: str) -> str:
    """'epoch' or 'step' (any case)."""
    return checks.choice(key, raw, INTERVALS, ignore_case=True)


def resolve_interval(raw: Any, kind: Kind, canonical: str, key: str) -> str:
    """The interval: given (checked against what the schedule allows) or the schedule's default."""
    if raw is None:
        return kind.interval
    value = interval_value(raw, key)
    if value not in kind.intervals:
        raise LrtoolError(f"{key}: {canonical} runs per {' or '.join(kind.intervals)} only, got "
                          f"{raw!r} (a block '{canonical}: {{interval: {kind.intervals[0]}}}' can "
                          f"override a common interval)")
    return value


def block_schedule(k: Any) -> str | None:
    """The schedule a section key names (then the key is a block of that schedule's arguments), or None."""
    return SCHEDULES.canonical(k) if isinstance(k, str) else None


def find_block(section: dict[str, Any], canonical: str) -> str | None:
    """The key of `canonical`'s block in `section` (spelled with any alias), or None."""
    return next((k for k in section if block_schedule(k) == canonical), None)


def flat_arguments(section: dict[str, Any]) -> dict[Any, Any]:
    """The flat arguments: every key besides ``name``, ``interval``, ``warmup`` and the blocks."""
    return {k: v for k, v in section.items()
            if k != "name" and k not in COMMON_KEYS and block_schedule(k) is None}


def is_argument(path: list[str]) -> bool:
    """Whether `path` (keys inside the section) is a schedule's argument: flat, or inside a block."""
    if len(path) == 1:
        return path[0] != "name" and path[0] not in COMMON_KEYS and block_schedule(path[0]) is None
    return len(path) == 2 and block_schedule(path[0]) is not None and path[1] not in COMMON_KEYS


def _chosen(section: dict[str, Any]) -> str | None:
    """The canonical name of the section's schedule (config's default when it has no name), or None."""
    return SCHEDULES.canonical(str(section.get("name", DEFAULT_NAME)))


def _blocks(section: dict[str, Any], key: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """canonical name -> (its block's key, its arguments) for every block, each checked to be a mapping."""
    blocks: dict[str, tuple[str, dict[str, Any]]] = {}
    for k, v in section.items():
        canonical = block_schedule(k)
        if canonical is None:
            continue
        if v is not None and not isinstance(v, dict):
            raise LrtoolError(f"{key}.{k}: the arguments of schedule {canonical} must be a mapping, "
                              f"got {v!r}")
        if canonical in blocks:
            raise LrtoolError(f"{key}.{k}: schedule {canonical} already has a block "
                              f"'{key}.{blocks[canonical][0]}'")
        blocks[canonical] = (str(k), v or {})
    return blocks


def resolve_schedule(section: dict | None, key: str = "schedule") -> ScheduleSpec:
    """Pick and check the schedule a config section describes.

    Args:
        section: the ``schedule`` section (after ``--set``, ``--schedule`` and ``--lr-from``); see
            the module docstring.
        key: the section's dotted key, for error messages.

    Returns:
        The resolved ScheduleSpec (canonical name, merged kwargs, interval, normalized warmup).

    Raises:
        LrtoolError: one line naming the dotted key, for unknown names, unknown or missing
        arguments, a bad interval or warmup.
    """
    section = {} if section is None else section
    if not isinstance(section, dict):
        raise LrtoolError(f"{key}: expected a mapping with name: and the schedule's arguments, "
                          f"got {section!r}")
    blocks = _blocks(section, key)
    flat = {str(k): v for k, v in flat_arguments(section).items()}
    name = section.get("name")
    if name is None:
        raise LrtoolError(f"{key}.name: missing; expected one of: {format_choices(SCHEDULES.names())}")
    if not isinstance(name, str):
        raise LrtoolError(f"{key}.name: expected a schedule name, got {name!r}")
    kind: Kind = SCHEDULES.get(name, key=f"{key}.name")  # raises with the valid names
    chosen = SCHEDULES.canonical(name)
    assert chosen is not None

    # lint everything the config holds, not just the chosen schedule
    check_arguments(chosen, flat, key)
    for canonical, (bk, bv) in blocks.items():
        check_arguments(canonical, {a: v for a, v in bv.items() if a not in COMMON_KEYS}, f"{key}.{bk}")
    for where, holder in [(key, section), *((f"{key}.{bk}", bv) for bk, bv in blocks.values())]:
        if holder.get("interval") is not None:
            interval_value(holder["interval"], f"{where}.interval")
        normalize_warmup(holder.get("warmup"), f"{where}.warmup")

    kwargs: dict[str, Any] = dict(flat)
    keys = {a: f"{key}.{a}" for a in flat}
    interval_raw, interval_key = section.get("interval"), f"{key}.interval"
    warmup_present, warmup_raw, warmup_key = "warmup" in section, section.get("warmup"), f"{key}.warmup"
    if chosen in blocks:  # the chosen schedule's own block adds to the flat arguments
        bk, bv = blocks[chosen]
        for a, v in bv.items():
            if a == "interval":
                interval_raw, interval_key = v, f"{key}.{bk}.interval"
            elif a == "warmup":
                warmup_present, warmup_raw, warmup_key = True, v, f"{key}.{bk}.warmup"
            elif a in kwargs:
                raise LrtoolError(f"{key}.{bk}.{a}: also set as {key}.{a}; set it in one place")
            else:
                kwargs[a] = v
                keys[a] = f"{key}.{bk}.{a}"
    check_required(chosen, kwargs, key)

    interval = resolve_interval(interval_raw, kind, chosen, interval_key)
    warmup = normalize_warmup(warmup_raw, warmup_key)
    if not warmup_present and kind.default_warmup is not None:
        warmup = dict(kind.default_warmup)
    keys.update({"interval": interval_key, "warmup": warmup_key})
    return ScheduleSpec(chosen, kwargs, interval, warmup, keys)


def normal_form(section: Any) -> Any:
    """The section with every schedule's arguments in a block under its canonical name, for comparing.

    ``choose_schedule`` moves the old schedule's flat arguments into its block, so one setting may be
    saved as ``schedule.cycle`` in one run and ``schedule.sgdr.cycle`` in another: here both become
    ``sgdr: {cycle: ...}`` (the chosen schedule's flat arguments join its block, aliases their canonical
    name, empty blocks go). ``name``, ``interval`` and ``warmup`` stay; a section that does not resolve
    to a schedule keeps its flat arguments as they are. Anything but a mapping is returned as it is.
    """
    if not isinstance(section, dict):
        return section
    chosen = _chosen(section)
    out: dict[Any, Any] = {}
    blocks: dict[str, Any] = {}
    for k, v in section.items():
        canonical = None if k == "name" or k in COMMON_KEYS else block_schedule(k)
        if canonical is None and (k == "name" or k in COMMON_KEYS or chosen is None):
            out[k] = chosen if k == "name" and chosen is not None else v
        elif canonical is None:  # a flat argument of the chosen schedule
            blocks.setdefault(chosen, {})[k] = v
        elif isinstance(v, dict) and isinstance(blocks.setdefault(canonical, {}), dict):
            blocks[canonical].update(v)
        elif v is not None:  # not a mapping: kept for whoever reads it to report
            blocks[canonical] = v
    out.update({k: v for k, v in blocks.items() if v != {}})
    return out


def choose_schedule(section: Any, name: str) -> Any:
    """Make `name` the section's schedule (``--schedule``), keeping the old one's flat arguments in its block.

    ``{name: step, step_size: 3}`` with ``--schedule cyclic`` becomes
    ``{name: cyclic, step: {step_size: 3}}``, so the saved config reruns the same way.

    Args:
        section: the config's ``schedule`` section; None for none. Anything but a mapping is
            returned as it is, for validation to report.
        name: the schedule to choose, any alias or case.

    Returns:
        The section to store (a new mapping when `section` is None).

    Raises:
        LrtoolError: naming ``--schedule``, for a name no schedule has.
    """
    new = SCHEDULES.canonical(name)
    if new is None:
        SCHEDULES.get(name, key="--schedule")  # raises with the valid choices
    if section is None:
        section = {}
    if not isinstance(section, dict):
        return section
    old = _chosen(section)
    if old != new and old is not None:
        flat = flat_arguments(section)
        if flat:
            block = find_block(section, old) or old
            for k in flat:
                del section[k]
            existing = section.get(block) if isinstance(section.get(block), dict) else {}
            section[block] = {**existing, **flat}
    section["name"] = new
    return section


def fill_lr_bounds(section: Any, *, base_lr: float | list[float], max_lr: float | list[float],
                   onecycle_max_lr: float | list[float], key: str = "schedule") -> tuple[Any, dict[str, float]]:
    """Put a range test's suggested LRs into the cyclic and one-cycle schedules of a section (``--lr-from``).

    A cyclic schedule (cyclic, CyclicLR) gets `base_lr` and `max_lr`, a one-cycle schedule
    (onecycle, OneCycleLR) `onecycle_max_lr`: in the schedule's block when the section has one,
    else as flat arguments when it is the chosen schedule.

    Args:
        section: the config's ``schedule`` section; None for none. Anything but a mapping is
            returned as it is, for validation to report.
        base_lr, max_lr: the suggested cyclical LR bounds (a list: one per param group).
        onecycle_max_lr: the suggested one-cycle peak (a list: one per param group).
        key: the section's dotted key.

    Returns:
        (the section to store, {dotted key: value} of what was set; a per-group list as `key[i]` entries).
    """
    if section is None:
        section = {}
    if not isinstance(section, dict):
        return section, {}
    chosen = _chosen(section)
    values = {**{n: {"base_lr": base_lr, "max_lr": max_lr} for n in CYCLIC_NAMES},
              **{n: {"max_lr": onecycle_max_lr} for n in ONECYCLE_NAMES}}
    taken: dict[str, float] = {}
    for name, bounds in values.items():
        block = find_block(section, name)
        if block is not None and isinstance(section[block], dict):
            node, prefix = section[block], f"{key}.{block}"
        elif chosen == name:
            node, prefix = section, key
        else:
            continue
        for k, v in bounds.items():
            if isinstance(v, list):
                node[k] = [float(x) for x in v]
                taken.update({f"{prefix}.{k}[{i}]": float(x) for i, x in enumerate(v)})
            else:
                node[k] = taken[f"{prefix}.{k}"] = float(v)
    return section, taken

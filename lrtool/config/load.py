"""Load a YAML config, apply --set overrides, validate it into one typed tree, save it resolved.

Every problem becomes one LrtoolError line that names the file (or the --set that caused it), the
dotted key, what was expected and what was given.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import LrtoolError
from ..registry import did_you_mean, format_choices
from .schema import SECTIONS, Config

# the embedded default config: what `lrtool find-lr` / `train` / `preview` use without a CONFIG
# (configs/quickstart.yaml is the same file, a test keeps them equal)
QUICKSTART = Path(__file__).parent.parent / "quickstart.yaml"


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads `1e-3` as a float (YAML 1.1 wants `1.0e-3`; people write `1e-3`)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                   |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                   |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                   |[-+]?\.(?:inf|Inf|INF)
                   |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


def parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass



def read_config_file(path: str | Path) -> dict[str, Any]:
    """The YAML mapping in `path`; one-line LrtoolError for anything else."""
    p = Path(path)
    if not p.exists():
        raise LrtoolError(f"{p}: config file not found")
    if p.is_dir():
        raise LrtoolError(f"{p}: is a directory, expected a YAML config file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise LrtoolError(f"{p}: cannot read config file: {e}") from None
    try:
        doc = parse_yaml(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise LrtoolError(f"{p}: YAML syntax error{where}: {problem}") from None
    if doc is None:
        raise LrtoolError(f"{p}: config file is empty; expected a mapping with sections like "
                          f"{', '.join(SECTIONS[2:5])}")
    if not isinstance(doc, dict):
        raise LrtoolError(f"{p}: expected a mapping of sections at the top level, got {type(doc).__name__}")
    return doc


def apply_override(doc: dict[str, Any], item: str) -> str:
    """Apply one `a.b=value` (value parsed as YAML) to `doc` in place; returns the dotted key."""
    if "=" not in item:
        raise LrtoolError(f"--set {item!r}: expected KEY=VALUE, e.g. --set optimizer.lr=3e-3")
    key, raw = item.split("=", 1)
    key = key.strip()
    parts = key.split(".")
    if not key or any(not part for part in parts):
        raise LrtoolError(f"--set {item!r}: expected a dotted key like optimizer.lr before '='")
    try:
        value = parse_yaml(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise LrtoolError(f"--set {key}: value {raw!r} is not valid YAML ({problem})") from None
    node = doc
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise LrtoolError(f"--set {key}: '{where}' holds the value {child!r}, "
                              f"not a section that can hold '{parts[i + 1]}'")
        node = child
    node[parts[-1]] = value
    return key


def _fields_at(loc: tuple) -> list[str] | None:
    """Names of the fields of the config model found at `loc`, or None."""
    model: Any = Config
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        model = field.annotation
    return list(getattr(model, "model_fields", {})) or None


def _format_error(err: dict, source: str, from_set: set[str]) -> str:
    loc = tuple(str(p) for p in err["loc"])
    msg = err["msg"].replace("Value error, ", "")
    if err["type"] == "value_error" and (m := re.match(r"^(\w+): (.*)$", msg)):
        loc, msg = loc + (m.group(1),), m.group(2)  # a cross-field check names its key first
    dotted = ".".join(loc)
    # `--set foo.bar=1` makes the unknown section 'foo': name the --set, not the file
    set_key = dotted if dotted in from_set else min((k for k in from_set if k.startswith(dotted + ".")),
                                                     default=None) if dotted else None
    origin = f"--set {set_key}" if set_key else f"{source}: {dotted}" if dotted else source
    kind, given = err["type"], err.get("input")
    if kind == "extra_forbidden":
        valid = _fields_at(loc[:-1]) or []
        what = "section" if len(loc) == 1 else "key"
        return (f"{origin}: unknown {what} '{loc[-1]}'{did_you_mean(loc[-1], valid)}; "
                f"valid {what}s: {format_choices(valid)}")
    if kind == "missing":
        return f"{origin}: required key is missing"
    msg = re.sub(r"^Input should be", "expected", msg)
    msg = re.sub(r"^expected (greater|less) than", r"expected a value \1 than", msg)
    msg = re.sub(r"a valid dictionary or instance of \w+", "a mapping (a section of keys)", msg)
    msg = re.sub(r"^String should match pattern", "expected a value matching", msg)
    if kind == "string_pattern_mismatch" and loc == ("device",):
        msg = "expected one of auto, cpu, cuda, cuda:N, mps"
    if kind == "value_error" or isinstance(given, dict):
        return f"{origin}: {msg}"
    return f"{origin}: {msg}, got {given!r}"


def choose_schedule(doc: dict[str, Any], name: str) -> None:
    """Make `name` the config's schedule (--schedule); see schedules.section.choose_schedule."""
    from ..schedules import choose_schedule as choose

    doc["schedule"] = choose(doc.get("schedule"), name)


def apply_lr_from(doc: dict[str, Any], run_dir: str | Path) -> dict[str, float]:
    """Fill the LRs a find-lr run suggested into `doc`; returns {dotted key: value} of what it set.

    optimizer.lr gets the suggested LR; a cyclic schedule gets the CLR bounds and a one-cycle
    schedule its max_lr, wherever the config keeps that schedule's arguments (see
    schedules.section.fill_lr_bounds).
    """
    from ..rundir import read_run_summary
    from ..schedules import fill_lr_bounds

    summary = read_run_summary(run_dir, "--lr-from", "find-lr")
    if not isinstance(summary.get("lr"), (int, float)) or not summary.get("clr"):
        why = "; ".join(summary.get("notes") or []) or "the range test made no suggestion"
        raise LrtoolError(f"--lr-from {run_dir}: the run has no suggestions ({why})")
    optimizer = doc.get("optimizer")
    if not isinstance(optimizer, dict):
        optimizer = doc["optimizer"] = {} if optimizer is None else optimizer
    optimizer["lr"] = float(summary["lr"])
    taken = {"optimizer.lr": optimizer["lr"]}
    doc["schedule"], filled = fill_lr_bounds(
        doc.get("schedule"), base_lr=summary["clr"]["base_lr"], max_lr=summary["clr"]["max_lr"],
        onecycle_max_lr=summary["onecycle"]["max_lr"])
    taken.update(filled)
    return taken


def _one_line_errors(fn: Any) -> Any:
    """Escape line breaks in the LrtoolError of `fn` (a key or name may hold one): errors are one line."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LrtoolError as e:
            msg = str(e)
            if "\n" in msg or "\r" in msg:
                e.args = (msg.replace("\r", "\\r").replace("\n", "\\n"),)
            raise

    return wrapper


@_one_line_errors
def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (), *,
                schedule: str | None = None, lr_from: str | Path | None = None,
                taken: dict[str, float] | None = None) -> Config:
    """Read, override and validate a config.

    Args:
        path: the YAML file, or None for the built-in defaults (the quickstart).
        overrides: `a.b=value` strings from --set (and from command-line options), applied in order.
        schedule: a schedule name that replaces the config's (--schedule).
        lr_from: a find-lr run whose suggestions fill the LRs (--lr-from); what it set is put in `taken`.

    Returns:
        The validated Config; unknown registry names and arguments are checked by `check_components`.
    """
    doc = read_config_file(path if path is not None else QUICKSTART)
    source = str(path) if path is not None else "quickstart defaults"
    from_set = {apply_override(doc, item) for item in overrides}
    if schedule is not None:
        choose_schedule(doc, schedule)
    if lr_from is not None:
        got = apply_lr_from(doc, lr_from)
        if taken is not None:
            taken.update(got)
    try:
        return Config.model_validate(doc)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        line = _format_error(errors[0], source, from_set)
        more = f" (+{len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        raise LrtoolError(line + more) from None


@_one_line_errors
def check_components(cfg: Config) -> None:
    """Check every registry name and its keyword arguments before any work starts."""
    from ..data import validate_data
    from ..models import validate_model
    from ..optim import validate_loss, validate_optimizer

    validate_data(cfg.data.name, cfg.data.kwargs, key="data")
    validate_model(cfg.model.name, cfg.model.kwargs, key="model")
    validate_optimizer(cfg.optimizer.name, cfg.optimizer.kwargs, key="optimizer")
    validate_loss(cfg.loss.name, cfg.loss.kwargs, key="loss")
    from ..schedules import resolve_schedule

    resolve_schedule(cfg.schedule.model_dump(), key="schedule")


def dump_config(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False, default_flow_style=None)

"""Load a YAML config, apply --set overrides, validate it into one typed tree, save it resolved.

Every problem becomes one LrtoolError line that names the file (or the --set that caused it), the
dotted key, what was expected and what was given.
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path
from typing import Any, Callable

import yaml
from pydantic import ValidationError

from ..errors import LrtoolError, short_repr
from ..registry import did_you_mean, format_choices
from .schema import SECTIONS, Config

# the embedded default config: what `lrtool find-lr` / `train` / `preview` use without a CONFIG
# (configs/quickstart.yaml is the same file, a test keeps them equal)
QUICKSTART = Path(__file__).parent.parent / "quickstart.yaml"


# Limits on what a YAML text may expand to. Aliases share nodes, so a few hundred bytes of nested
# aliases ("billion laughs") stand for billions of values that validation, --set and config.yaml
# would each walk; a real config has a few hundred values and a nesting depth of three or four.
MAX_YAML_VALUES = 100_000
MAX_YAML_DEPTH = 50


class YamlLimit(yaml.YAMLError):
    """A YAML text that repeats a key or expands beyond the limits above."""

    def __init__(self, problem: str, mark: Any = None):
        super().__init__(problem)
        self.problem, self.problem_mark = problem, mark


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads `1e-3` as a float (YAML 1.1 wants `1.0e-3`; people write `1e-3`),
    refuses a key given twice in one mapping, and refuses documents beyond the limits above."""

    def compose_document(self) -> Any:
        node = super().compose_document()
        _check_size(node)
        return node

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        # the last of two equal keys would silently win (two `optimizer:` sections lose the first's
        # momentum); merge keys (`<<: *base`) may still be overridden, that is what they are for
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node)
                if key in seen:
                    first = seen[key].start_mark.line + 1
                    raise YamlLimit(f"duplicate key '{key}' (first given at line {first}); "
                                    "each key may appear once in a mapping", key_node.start_mark)
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _check_size(root: Any) -> None:
    """Refuse a composed document that expands (aliases counted each time used) beyond the limits."""
    if root is None:
        return
    size: dict[int, int] = {}  # node id -> values it expands to (aliases share node objects)
    height: dict[int, int] = {}  # node id -> levels of nesting it expands to
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:  # iterative: a deep document must not exhaust Python's recursion limit here
        node, done = stack.pop()
        children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else \
            node.value if isinstance(node, yaml.SequenceNode) else []
        if done:
            on_path.discard(id(node))
            size[id(node)] = 1 + sum(size[id(c)] for c in children)
            height[id(node)] = 1 + max((height[id(c)] for c in children), default=0)
            if size[id(node)] > MAX_YAML_VALUES:
                raise YamlLimit(f"expands to more than {MAX_YAML_VALUES:,} values (aliases count each time "
                                "they are used); a config is far smaller", node.start_mark)
            if height[id(node)] > MAX_YAML_DEPTH:
                raise YamlLimit(f"nested deeper than {MAX_YAML_DEPTH} levels", node.start_mark)
            continue
        if id(node) in size:
            continue
        if id(node) in on_path:
            raise YamlLimit("an alias refers to a node that contains it (a recursive structure)", node.start_mark)
        on_path.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)


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
    """The YAML value of `text` (safe tags only), within the limits above; yaml.YAMLError otherwise."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:  # the composer recurses per level: deeper than Python allows
        raise YamlLimit(f"nested deeper than {MAX_YAML_DEPTH} levels") from None



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
        what = "YAML config refused" if isinstance(e, YamlLimit) else "YAML syntax error"
        raise LrtoolError(f"{p}: {what}{where}: {problem}") from None
    if doc is None:
        raise LrtoolError(f"{p}: config file is empty; expected a mapping with sections like "
                          f"{', '.join(SECTIONS[2:5])}")
    if not isinstance(doc, dict):
        raise LrtoolError(f"{p}: expected a mapping of sections at the top level, got {type(doc).__name__}")
    return doc


def set_origin(key: str) -> str:
    """How the command line names an override in a message: the --set that gave it."""
    return f"--set {key}"


def apply_override(doc: dict[str, Any], item: str, origin: Callable[[str], str] = set_origin) -> str:
    """Apply one `a.b=value` (value parsed as YAML) to `doc` in place; returns the dotted key.

    `null` for a component's keyword argument (data, model, optimizer, loss, schedule) removes it, so the
    component takes its default; for lrtool's own keys it is the value null.

    `origin` names the override in messages (--set on the command line, the keyword in Python).
    """
    if "=" not in item:
        example = "--set optimizer.lr=3e-3" if origin is set_origin else "optimizer.lr=3e-3"
        raise LrtoolError(f"{origin(repr(item))}: expected KEY=VALUE, e.g. {example}")
    key, raw = item.split("=", 1)
    key = key.strip()
    parts = key.split(".")
    if not key or any(not part for part in parts):
        raise LrtoolError(f"{origin(repr(item))}: expected a dotted key like optimizer.lr before '='")
    try:
        value = parse_yaml(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or "invalid YAML"
        what = "refused" if isinstance(e, YamlLimit) else "is not valid YAML"
        raise LrtoolError(f"{origin(key)}: value {short_repr(raw)} {what} ({problem})") from None
    node = doc
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise LrtoolError(f"{origin(key)}: '{where}' holds the value {child!r}, "
                              f"not a section that can hold '{parts[i + 1]}'")
        node = child
    if value is None and _is_component_argument(parts):
        node.pop(parts[-1], None)  # the component's default, where null could mean something else to it
    else:
        node[parts[-1]] = value
    return key


def _is_component_argument(parts: list[str]) -> bool:
    """Whether a dotted key is a keyword argument lrtool passes to a component (not a key of its own)."""
    if parts[0] == "schedule":
        from ..schedules.section import is_argument

        return is_argument(parts[1:])
    if parts[0] not in ("data", "model", "optimizer", "loss") or len(parts) != 2:
        return False
    return parts[1] not in Config.model_fields[parts[0]].annotation.model_fields  # e.g. data.inputs: its own


def _fields_at(loc: tuple) -> list[str] | None:
    """Names of the fields of the config model found at `loc`, or None."""
    model: Any = Config
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        model = field.annotation
    return list(getattr(model, "model_fields", {})) or None


def _located(err: dict, from_set: dict[str, str]) -> tuple[tuple[str, ...], str, str | None]:
    """(the error's key path, its message, how the override that set it is named or None for the file)."""
    loc = tuple(str(p) for p in err["loc"])
    msg = err["msg"].replace("Value error, ", "")
    if err["type"] == "value_error" and (m := re.match(r"^(\w+): (.*)$", msg)):
        loc, msg = loc + (m.group(1),), m.group(2)  # a cross-field check names its key first
    dotted = ".".join(loc)
    # `--set foo.bar=1` makes the unknown section 'foo': name the --set, not the file
    set_key = dotted if dotted in from_set else min((k for k in from_set if k.startswith(dotted + ".")),
                                                     default=None) if dotted else None
    return loc, msg, from_set[set_key] if set_key else None


def _more(errors: list[dict], from_set: dict[str, str]) -> str:
    """' (+N more problems: where, ...)' for the errors after the first one reported, or ''."""
    if not errors:
        return ""
    where = []
    for err in errors:
        loc, _, named = _located(err, from_set)
        where.append(named or ".".join(loc) or "the file")
    shown = ", ".join(dict.fromkeys(where[:3])) + (", ..." if len(where) > 3 else "")
    return f" (+{len(errors)} more problem{'s' if len(errors) > 1 else ''}: {shown})"


def _format_error(err: dict, source: str, from_set: dict[str, str]) -> str:
    loc, msg, named = _located(err, from_set)
    dotted = ".".join(loc)
    origin = named if named else f"{source}: {dotted}" if dotted else source
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
    return f"{origin}: {msg}, got {short_repr(given)}"


def choose_schedule(doc: dict[str, Any], name: str) -> None:
    """Make `name` the config's schedule (--schedule); see schedules.section.choose_schedule."""
    from ..schedules import choose_schedule as choose

    doc["schedule"] = choose(doc.get("schedule"), name)


def apply_lr_from(doc: dict[str, Any], run_dir: str | Path) -> dict[str, float]:
    """Fill the LRs in a config document from a find-lr run's suggestions (--lr-from).

    optimizer.lr gets the suggested LR; a cyclic schedule gets the CLR bounds and a one-cycle
    schedule its max_lr, wherever the config keeps that schedule's arguments (see
    schedules.section.fill_lr_bounds). Param groups keep the LR ratio to group 0 that the range test
    swept them at (summary.json sweep.lr_ratios): each group's lr and schedule bounds are the
    suggestion times its ratio.
    """
    from ..rundir import read_run_summary
    from ..schedules import fill_lr_bounds

    summary = read_run_summary(run_dir, "--lr-from", "find-lr")
    if summary.get("lr") is None or not summary.get("clr"):
        why = "; ".join(summary.get("notes") or []) or "the range test made no suggestion"
        raise LrtoolError(f"--lr-from {run_dir}: the run has no suggestions ({why})")
    lr, base_lr, max_lr, onecycle_max_lr = (_suggested(summary, run_dir, path) for path in (
        "lr", "clr.base_lr", "clr.max_lr", "onecycle.max_lr"))
    optimizer = doc.get("optimizer")
    if not isinstance(optimizer, dict):
        optimizer = doc["optimizer"] = {} if optimizer is None else optimizer
    groups = optimizer.get("param_groups") if isinstance(optimizer.get("param_groups"), list) else []
    ratios = _swept_ratios(summary, optimizer, groups, run_dir)
    optimizer["lr"] = lr
    taken = {"optimizer.lr": optimizer["lr"]}
    for i, (group, ratio) in enumerate(zip(groups, ratios[1:])):
        if isinstance(group, dict) and ("lr" in group or ratio != 1.0):
            group["lr"] = taken[f"optimizer.param_groups[{i}].lr"] = lr * ratio

    def per_group(value: float) -> float | list[float]:
        return float(value) if all(r == 1.0 for r in ratios) else [float(value) * r for r in ratios]

    doc["schedule"], filled = fill_lr_bounds(
        doc.get("schedule"), base_lr=per_group(base_lr), max_lr=per_group(max_lr),
        onecycle_max_lr=per_group(onecycle_max_lr))
    taken.update(filled)
    return taken


def _suggested(summary: dict[str, Any], run_dir: str | Path, dotted: str) -> float:
    """The learning rate at `dotted` in a find-lr summary; a value that is not one blames that file."""
    value: Any = summary
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise LrtoolError(f"--lr-from {run_dir}: {Path(run_dir) / 'summary.json'}: {dotted}: expected a positive "
                          f"learning rate, got {short_repr(value)} (edited or damaged? rerun lrtool find-lr)")
    return float(value)
def _swept_ratios(summary: dict[str, Any], optimizer: dict[str, Any], groups: list[Any],
                  run_dir: str | Path) -> list[float]:
    """Each param group's LR over group 0's, as the range test swept them (1 entry per group, group 0 first).

    A config whose groups differ from the swept ones is refused: another number of groups, another `match`
    (sweep.group_match), or an lr whose ratio to optimizer.lr is not the swept one (a group that sets no lr
    takes the swept ratio). Other group options (weight_decay, ...) may differ. Runs recorded before
    sweep.lr_ratios existed swept the ratios their config set, taken here from this config's optimizer section.
    """
    sweep = summary.get("sweep") or {}
    recorded = sweep.get("lr_ratios")
    if isinstance(recorded, list) and recorded:
        if len(recorded) != len(groups) + 1:
            raise _other_groups(run_dir, len(recorded), len(groups) + 1)
        ratios = [float(r) for r in recorded]
        _check_groups_as_swept(optimizer, groups, ratios, sweep.get("group_match"), run_dir)
        return ratios
    if groups and _swept_one_group(run_dir):
        raise _other_groups(run_dir, 1, len(groups) + 1)
    top = optimizer.get("lr")
    if not _is_lr(top):
        return [1.0] * (len(groups) + 1)
    ratios = [1.0]
    for group in groups:
        lr = group.get("lr") if isinstance(group, dict) else None
        ratios.append(float(lr) / float(top) if _is_lr(lr) else 1.0)
    return ratios


_RERUN = "rerun lrtool find-lr with these param groups (a suggestion only holds for the groups it was measured with)"


def _other_groups(run_dir: str | Path, swept: int, has: int) -> LrtoolError:
    """The error of a config with another number of param groups (torch's, the top-level one included)."""
    return LrtoolError(f"--lr-from {run_dir}: the range test swept {swept} param group(s), this config's "
                       f"optimizer has {has}; {_RERUN}")


def _swept_one_group(run_dir: str | Path) -> bool:
    """Whether the run's config.yaml gave its optimizer one param group (runs record sweep.lr_ratios only for
    several); False when that file cannot tell."""
    try:
        doc = read_config_file(Path(run_dir) / "config.yaml")
    except (LrtoolError, OSError):
        return False
    optimizer = doc.get("optimizer") if isinstance(doc, dict) else None
    if not isinstance(optimizer, dict):
        return False
    lr = optimizer.get("lr")  # find_lr() from Python records one lr per torch group
    return not optimizer.get("param_groups") and not (isinstance(lr, list) and len(lr) > 1)


def _is_lr(value: Any) -> bool:
    """A positive number (a learning rate a ratio can be taken of)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _check_groups_as_swept(optimizer: dict[str, Any], groups: list[Any], ratios: list[float], matches: Any,
                           run_dir: str | Path) -> None:
    """Refuse a param group whose match or LR ratio to optimizer.lr is not the one the range test swept."""
    from .schema import OptimizerConfig

    top = optimizer.get("lr", OptimizerConfig.model_fields["lr"].default)
    for i, group in enumerate(groups):
        if not isinstance(group, dict):
            continue  # the config's own check names it
        key = f"--lr-from {run_dir}: optimizer.param_groups[{i}]"
        swept_match = matches[i] if isinstance(matches, list) and i < len(matches) else None
        if swept_match is not None and group.get("match") != swept_match:
            raise LrtoolError(f"{key}: match {short_repr(group.get('match'))} differs from the range test's "
                              f"{short_repr(swept_match)}; {_RERUN}")
        lr = group.get("lr")
        if _is_lr(lr) and _is_lr(top) and not math.isclose(float(lr) / float(top), ratios[i + 1], rel_tol=1e-6):
            raise LrtoolError(f"{key}: lr {lr:g} is {float(lr) / float(top):.3g}x optimizer.lr ({top:g}), the range "
                              f"test swept this group at {ratios[i + 1]:.3g}x; {_RERUN}")


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
                taken: dict[str, float] | None = None, origin: Callable[[str], str] = set_origin) -> Config:
    """Read, override and validate a config.

    Args:
        path: the YAML file, or None for the built-in defaults (the quickstart).
        overrides: `a.b=value` strings from --set (and from command-line options), applied in order.
        schedule: a schedule name that replaces the config's (--schedule).
        lr_from: a find-lr run whose suggestions fill the LRs (--lr-from); what it set is put in `taken`.
        origin: names an override's dotted key in messages ("--set KEY"; the Python API names its keyword).

    Returns:
        The validated Config; unknown registry names and arguments are checked by `check_components`.
    """
    doc = read_config_file(path if path is not None else QUICKSTART)
    from ..imports import add_config_paths

    add_config_paths(path)  # 'module:callable' names in the config are found next to it and in the cwd
    source = str(path) if path is not None else "quickstart defaults"
    from_set = {key: origin(key) for key in (apply_override(doc, item, origin) for item in overrides)}
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
        raise LrtoolError(_format_error(errors[0], source, from_set) + _more(errors[1:], from_set)) from None


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
    _check_metrics(cfg)
    from ..schedules import resolve_schedule

    resolve_schedule(cfg.schedule.model_dump(), key="schedule")


def _check_metrics(cfg: Config) -> None:
    """Metric names and the monitor's form now; whether they fit the task once the data is known (run/build)."""
    from .. import metrics

    names = cfg.train.metrics
    metrics.check_names(names, key="train.metrics")
    if cfg.train.monitor is not None:
        metrics.check_column_form(cfg.train.monitor, "train.monitor")
        if names is not None:
            metrics.check_monitor(cfg.train.monitor, [metrics.canonical(n) for n in names], has_val=True)


def dump_config(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False, default_flow_style=None)

"""Property-based: whatever YAML and --set values come in, the config loader answers with a valid Config
or one LrtoolError line, never another exception."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrtool.config import SECTIONS, Config, check_components, load_config
from lrtool.errors import LrtoolError

# names that lead somewhere: real sections, real keys, registry names, torch argument names
KEYS = list(SECTIONS) + [
    "name", "lr", "momentum", "betas", "weight_decay", "batch_size", "eval_batch_size", "val_fraction",
    "epochs", "precision", "accumulate", "grad_clip", "log_every", "monitor", "plots", "checkpoints",
    "start_lr", "end_lr", "num_iter", "mode", "smooth", "diverge_threshold", "val_every", "val_samples",
    "hidden", "dropout", "n_samples", "n_features", "n_classes", "root", "download", "step_size", "gamma",
    "milestones", "max_lr", "base_lr", "warmup", "interval", "T_max", "label_smoothing", "param_groups",
    "cyclic", "onecycle", "step", "StepLR", "OneCycleLR", "on_nan", "noise", "image_size",
]
NAMES = ["digits", "synthetic", "mnist", "cifar10", "imagefolder", "mlp", "convnet", "lenet", "resnet18",
         "SGD", "Adam", "AdamW", "LBFGS", "cross_entropy", "mse", "nll", "constant", "step", "StepLR",
         "cosine", "cyclic", "onecycle", "OneCycleLR", "plateau", "warmup_cosine", "LambdaLR", "sgdr",
         "nosuchthing", "builtins:len", "os.path:join", "nosuchmodule_xyz:make", ":", "a:", "auto", "cpu",
         "cuda", "cuda:7", "mps", "exp", "linear", "fp16", "bf16", "val_acc"]

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-10**6, max_value=10**6), st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(NAMES), st.text(max_size=12),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=8))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=20,
)
# a document shaped like a config most of the time, anything at all some of the time
sections = st.dictionaries(
    st.sampled_from(SECTIONS),
    st.one_of(st.dictionaries(keys, values, max_size=6), values),
    max_size=6,
)
documents = st.one_of(sections, values)
dotted = st.lists(keys, min_size=1, max_size=3).map(".".join)
set_items = st.one_of(
    st.tuples(dotted, st.one_of(values.map(lambda v: yaml.safe_dump(v, default_flow_style=True).strip()),
                                st.text(max_size=12))).map(lambda kv: f"{kv[0]}={kv[1]}"),
    st.text(max_size=20),
)

# overrides of real keys on a valid config: these get past the schema into the registries' checks
PATHS = ["seed", "device", "data.name", "data.batch_size", "data.eval_batch_size", "data.val_fraction",
         "data.n_samples", "data.n_features", "data.n_classes", "data.noise", "data.root", "model.name",
         "model.hidden", "model.dropout", "model.activation", "model.channels", "optimizer.name", "optimizer.lr",
         "optimizer.momentum", "optimizer.betas", "optimizer.weight_decay", "optimizer.nesterov",
         "optimizer.param_groups", "loss.name", "loss.label_smoothing", "loss.reduction", "schedule.name",
         "schedule.step_size", "schedule.gamma", "schedule.milestones", "schedule.max_lr", "schedule.base_lr",
         "schedule.warmup", "schedule.warmup.epochs", "schedule.interval", "schedule.T_max",
         "schedule.lr_lambda", "schedule.cyclic.mode", "schedule.onecycle.pct_start", "train.epochs",
         "train.precision", "train.accumulate", "train.grad_clip", "train.monitor", "train.on_nan",
         "find_lr.start_lr", "find_lr.end_lr", "find_lr.num_iter", "find_lr.mode", "find_lr.smooth"]
typed = st.one_of(values, st.sampled_from(NAMES), st.integers(-3, 100), st.floats(-1, 10),
                  st.lists(st.integers(-1, 10), max_size=3))
near_valid_sets = st.lists(
    st.tuples(st.sampled_from(PATHS), typed).map(
        lambda kv: f"{kv[0]}={yaml.safe_dump(kv[1], default_flow_style=True).strip().removesuffix('...').strip()}"),
    min_size=1, max_size=3)
BASE = {"seed": 0, "device": "cpu", "data": {"name": "synthetic", "n_samples": 64, "batch_size": 16},
        "model": {"name": "mlp", "hidden": [8]}, "optimizer": {"name": "SGD", "lr": 0.1}}

DIR = Path(tempfile.mkdtemp(prefix="lrtool-fuzz-"))


def outcome(path: Path | None, overrides: list[str]) -> None:
    """Load, then check the components; only a Config or a one-line LrtoolError may come out."""
    try:
        cfg = load_config(path, overrides)
        assert isinstance(cfg, Config)
        check_components(cfg)
    except LrtoolError as e:
        msg = str(e)
        assert msg and "\n" not in msg and "\r" not in msg, repr(msg)
        assert e.exit_code == 2


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(doc=documents, overrides=st.lists(set_items, max_size=3))
def test_random_documents_and_overrides(doc, overrides):
    path = DIR / "fuzz.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    outcome(path, overrides)


@FUZZ
@given(text=st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(["data:", "  name: synthetic", "model: {name: mlp", "- a", "optimizer:",
                              "  lr: 1e-3", "  lr: [", "\t", ": x", "&a", "*a", "!!python/object:os.system",
                              "seed: 0", "train: {epochs: 2}", "'", '"', "---", "...", "%YAML 1.1",
                              "? x", "|", ">"]), max_size=8).map("\n".join),
))
def test_random_text_files(text):
    path = DIR / "text.yaml"
    path.write_text(text, encoding="utf-8")
    outcome(path, [])


@FUZZ
@given(overrides=st.lists(set_items, min_size=1, max_size=4))
def test_random_set_values_on_the_defaults(overrides):
    outcome(None, overrides)


@FUZZ
@given(overrides=near_valid_sets)
def test_random_values_of_real_keys(overrides):
    path = DIR / "base.yaml"
    if not path.exists():
        path.write_text(yaml.safe_dump(BASE), encoding="utf-8")
    outcome(path, overrides)


def test_a_newline_in_a_key_stays_on_one_line():
    for overrides in (["0\n0=1"], ["model.name=\"a\\nb\""], ["optimizer.name=\"x\\ry\""]):
        outcome(None, overrides)

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

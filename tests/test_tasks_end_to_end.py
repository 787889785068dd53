"""The five kinds of work of issue 12, each through find-lr -> train --lr-from (cyclic, onecycle) -> compare.

Tabular regression from code, a text classifier with dict batches, an own image Dataset with a weighted
loss, multi-label classification, and a torchvision model with weights and a new head. Tiny sizes: CPU, seconds.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
import torch

from .conftest import invoke, rows

REPO = Path(__file__).resolve().parents[1]

USER = '''
import torch

def regression(n=96):
    """Real-valued targets with fractional parts: cast to integers they would all change."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    return x, x @ torch.tensor([0.7, -0.3, 0.2, 0.1]) + 0.5

def halves(n=32):
    """Every target is 0.5: a zero model's MSE is exactly 0.25 (0.0 if they were truncated to 0)."""
    return torch.randn(n, 3), torch.full((n,), 0.5)

class Zero(torch.nn.Module):
    """Outputs a bias that starts at 0."""
    def __init__(self, num_classes):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(num_classes))
    def forward(self, x):
        return self.bias.expand(len(x), -1)

def tags(n=96):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 6, generator=g)
    return x, torch.stack([x[:, 0] > 0, x[:, 1] > 0, x[:, 0] + x[:, 2] > 0], 1).float()
'''

COMMON = "seed: 0\ndevice: cpu\ntrain: {epochs: 2, plots: false, log_every: 2}\n" \
         "find_lr: {start_lr: 1.0e-4, end_lr: 1.0, num_iter: 8, smooth: 0.5}\n"

TASKS = {
    "regression": "data: {name: 'user12:regression', batch_size: 16}\nmodel: {name: mlp, hidden: [16]}\n"
                  "optimizer: {name: SGD, lr: 0.01}\nloss: {name: MSELoss}\n",
    "text": "data: {name: 'textdata:make_reviews', n: 90, collate_fn: 'textdata:collate', batch_size: 16,\n"
            "       inputs: [input_ids, attention_mask], target: labels}\n"
            "model: {name: 'textdata:BagOfEmbeddings', dim: 8}\noptimizer: {name: AdamW, lr: 0.003}\n",
    "images": "data: {name: 'shapes:make', n: 60, batch_size: 12}\nmodel: {name: convnet, channels: [4, 8]}\n"
              "optimizer: {name: SGD, lr: 0.05, momentum: 0.9}\n"
              "loss: {name: CrossEntropyLoss, weight: [0.5, 1.0, 3.0]}\n",
    "multilabel": "data: {name: 'user12:tags', batch_size: 16}\nmodel: {name: mlp, hidden: [16]}\n"
                  "optimizer: {name: SGD, lr: 0.05, momentum: 0.9}\nloss: {name: BCEWithLogitsLoss}\n",
    # weights saved for 3 classes: their head is replaced by one for the 10 digits
    "pretrained": "data: {name: digits, batch_size: 32, val_fraction: 0.9}\n"
                  "model: {name: resnet18, weights: WEIGHTS}\noptimizer: {name: SGD, lr: 0.01, momentum: 0.9}\n",
}


# eight steps up to 1.0 are too short for this task's loss to fall: sweep it further
FIND_SET = {"multilabel": ("--set", "find_lr.end_lr=10", "--set", "find_lr.num_iter=16")}


@pytest.fixture()
def project(tmp_path, monkeypatch):
    """A project folder with the user modules next to the configs, as a user would have it."""
    (tmp_path / "user12.py").write_text(textwrap.dedent(USER))
    for example in ("text_classifier/textdata.py", "own_images/shapes.py"):
        shutil.copy(REPO / "examples" / example, tmp_path)
    weights = tmp_path / "r18.pt"
    torch.save(__import__("torchvision").models.resnet18(num_classes=3).state_dict(), weights)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("task", list(TASKS))
def test_find_lr_train_lr_from_compare(project, task):
    config = project / f"{task}.yaml"
    config.write_text(COMMON + TASKS[task].replace("WEIGHTS", str(project / "r18.pt")))
    found = invoke("find-lr", config, "--out", project / "find", *FIND_SET.get(task, ()))
    assert found.exit_code == 0, found.output
    runs = []
    for schedule in ("cyclic", "onecycle"):
        trained = invoke("train", config, "--schedule", schedule, "--lr-from", project / "find",
                         "--out", project / schedule)
        assert trained.exit_code == 0, trained.output
        epochs = rows(project / schedule / "epochs.csv")
        assert len(epochs) == 2 and all(r["val_loss"] not in ("", "nan") for r in epochs)
        runs.append(project / schedule)
    compared = invoke("compare", *runs)
    assert compared.exit_code == 0, compared.output
    assert "cyclic" in compared.output and "onecycle" in compared.output


def test_regression_targets_are_not_truncated(project):
    config = project / "halves.yaml"
    config.write_text(COMMON + "data: {name: 'user12:halves', batch_size: 8, val_fraction: 0}\n"
                      "model: {name: 'user12:Zero'}\nloss: {name: MSELoss}\n")
    found = invoke("find-lr", config, "--out", project / "find")
    assert found.exit_code == 0, found.output
    assert float(rows(project / "find" / "lr_find.csv")[0]["loss"]) == pytest.approx(0.25)

"""`lrtool train` and `find-lr` under torchrun: 2 CPU ranks on gloo against one process with the same global batch.

Two ranks x batch 16 see, step for step, the samples one process with batch 32 sees, so with no dropout
the two runs agree to float rounding. Each torchrun launch costs ~15 s (torch is imported by the launcher
and by every rank), so only the train test runs by default; the others are marked slow.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lrtool.data import LoaderSplit, TensorSplit
from lrtool.errors import LrtoolError
from lrtool.run import dist
from lrtool.rundir import RunDir

from .conftest import invoke, rows, summary, write_base_config

ROOT = Path(__file__).resolve().parents[1]

CONFIG = """\
seed: 0
device: cpu
data: {name: synthetic, n_samples: 200, n_features: 8, n_classes: 3, batch_size: 16, n_test: 60}
model: {name: mlp, hidden: [16], dropout: 0.0}
optimizer: {name: SGD, lr: 0.05, momentum: 0.9}
train: {epochs: 3, plots: false, log_every: 4}
find_lr: {num_iter: 30, val_every: 5}
"""


def torchrun(args: list, tmp_path: Path, nproc: int = 2) -> subprocess.Popen:
    """`torchrun --standalone --nproc_per_node=N -m lrtool ARGS` in tmp_path, output to a file."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = open(tmp_path / "torchrun.out", "w")
    return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone",
                             f"--nproc_per_node={nproc}", "-m", "lrtool", *map(str, args)],
                            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)


def finish(proc: subprocess.Popen, tmp_path: Path, timeout: float = 120) -> tuple[int, str]:
    code = proc.wait(timeout=timeout)
    return code, (tmp_path / "torchrun.out").read_text()


def same_curve(a: list[dict], b: list[dict], key: str, exact: tuple[str, ...], close: tuple[str, ...]) -> None:
    """Rows of two logs agree: `exact` columns as text, `close` ones to float rounding."""
    assert a and [r[key] for r in a] == [r[key] for r in b]
    for ra, rb in zip(a, b):
        assert {k: ra[k] for k in exact} == {k: rb[k] for k in exact}
        for k in close:
            if rb[k] == "":
                assert ra[k] == ""
            else:
                assert float(ra[k]) == pytest.approx(float(rb[k]), rel=1e-4, abs=1e-6), (k, ra, rb)


@pytest.fixture
def cfg_file(tmp_path: Path) -> Path:
    return write_base_config(tmp_path, text=CONFIG)


# --------------------------------------------------------------------------- in one process, fast


@pytest.mark.parametrize("world", [2, 3])
@pytest.mark.parametrize("drop_last", [False, True])
def test_rank_shards_are_the_global_batches_of_one_process(world, drop_last):
    x = torch.arange(37.0).unsqueeze(1)
    y = torch.arange(37)
    splits = [TensorSplit(x, y), LoaderSplit(torch.utils.data.TensorDataset(x, y))]

    def labels(split, batch_size, shard=None):
        gen = torch.Generator().manual_seed(0)  # every rank draws the same order
        return [b[1].tolist() for b in split.batches(batch_size, shuffle=True, generator=gen,
                                                     drop_last=drop_last, shard=shard)]

    for split in splits:
        per_rank = [labels(split, 4, (r, world)) for r in range(world)]
        whole = labels(TensorSplit(x, y), 4 * world)
        # every rank takes the same number of steps, the number the schedule is planned with
        assert {len(b) for b in per_rank} == {len(whole)} == {split.num_batches(4, drop_last, shard=(0, world))}
        for step, batch in enumerate(whole):
            merged = sum((per_rank[r][step] for r in range(world)), [])
            assert merged[:len(batch)] == batch  # a padded tail may add a sample, never change one
            assert all(per_rank[r][step] for r in range(world))
        # evaluation: each rank a contiguous part, every sample exactly once
        seen = [b[1].tolist() for r in range(world)
                for b in split.batches(5, shuffle=False, shard=(r, world))]
        assert sorted(sum(seen, [])) == list(range(37))


def test_helpers_outside_torchrun_change_nothing(tmp_path, monkeypatch):
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    assert not dist.launched() and not dist.is_distributed() and dist.is_main()
    assert dist.shard() is None and dist.world_size() == 1 and dist.device_spec("cuda:1") == "cuda:1"
    sums = {"loss": torch.tensor(2.0), "n": 3}
    assert dist.all_reduce_sums(sums) is sums and dist.sum_numbers(1, torch.tensor(2.5)) == [1.0, 2.5]
    assert dist.from_main(lambda: 7) == 7 and dist.gather_objects("x") is None
    assert RunDir(tmp_path).writes


def test_a_rank_other_than_0_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert dist.launched() and dist.rank() == 1 and not dist.is_main()
    assert dist.device_spec("cpu") == "cpu" and dist.device_spec("cuda") == "cuda:1"
    with pytest.raises(LrtoolError, match="cuda:LOCAL_RANK"):
        dist.device_spec("cuda:0")
    run = RunDir(tmp_path / "run")
    run.write_summary({"status": "running"})
    run.write_config("seed: 0\n")
    with run.csv("steps.csv", ["step"]) as log:
        log.write({"step": 0})
    assert run.read_summary() == {"status": "running"}
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- under torchrun


def test_two_ranks_train_like_one_process_with_the_global_batch(cfg_file, tmp_path):
    proc = torchrun(["train", cfg_file], tmp_path)  # default run directory: rank 0 names it for all
    code, out = finish(proc, tmp_path)
    assert code == 0, out
    made = list((tmp_path / "runs").iterdir())
    assert len(made) == 1, made
    run = made[0]
    assert out.count("training mlp on synthetic") == 1 and out.count("completed") == 1  # rank 0 prints
    assert {p.name for p in run.iterdir()} == {"config.yaml", "summary.json", "steps.csv", "epochs.csv",
                                              "checkpoints"}
    s = summary(run)
    assert s["status"] == "completed" and s["world_size"] == 2 and s["global_batch_size"] == 32
    assert s["steps_per_epoch"] == 5 and s["total_steps"] == 15  # ceil(160 / (16 x 2))
    steps, epochs = rows(run / "steps.csv"), rows(run / "epochs.csv")
    assert [int(r["step"]) for r in steps] == list(range(15)) and len(epochs) == 3

    one = tmp_path / "one"
    res = invoke("train", cfg_file, "--out", one, "--set", "data.batch_size=32")
    assert res.exit_code == 0, res.output
    same_curve(steps, rows(one / "steps.csv"), "step", ("epoch", "lr"), ("loss",))
    same_curve(epochs, rows(one / "epochs.csv"), "epoch", ("step", "lr"),
               ("train_loss", "train_acc", "val_loss", "val_acc"))
    assert s["test"]["test_loss"] == pytest.approx(summary(one)["test"]["test_loss"], rel=1e-5)
    # the checkpoint holds the plain module's weights: they load in one process
    a = torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    b = torch.load(one / "checkpoints" / "last.pt", weights_only=False)
    assert set(a["model"]) == set(b["model"])
    assert all(torch.allclose(a["model"][k], b["model"][k], atol=1e-5) for k in a["model"])
    assert len(a["rng_ranks"]) == 2 and a["world_size"] == 2


@pytest.mark.slow
def test_two_ranks_find_lr_sees_the_mean_loss(cfg_file, tmp_path):
    run = tmp_path / "run"
    code, out = finish(torchrun(["find-lr", cfg_file, "--out", run], tmp_path), tmp_path)
    assert code == 0, out
    assert out.count("suggested learning rates") == 1
    assert {p.name for p in run.iterdir()} == {"config.yaml", "summary.json", "lr_find.csv", "lr_find.png"}
    one = tmp_path / "one"
    res = invoke("find-lr", cfg_file, "--out", one, "--set", "data.batch_size=32")
    assert res.exit_code == 0, res.output
    got, want = rows(run / "lr_find.csv"), rows(one / "lr_find.csv")
    assert len(got) == 30
    same_curve(got, want, "step", ("lr",), ("loss", "smoothed_loss", "val_loss", "val_acc"))
    s, ref = summary(run), summary(one)
    assert s["sweep"]["world_size"] == 2 and s["sweep"]["global_batch_size"] == 32
    assert s["stop"]["steps_run"] == ref["stop"]["steps_run"]
    assert s["lr"] == pytest.approx(ref["lr"])


@pytest.mark.slow
def test_sigterm_to_the_launcher_stops_all_ranks_and_resume_under_two_ranks_continues(cfg_file, tmp_path):
    cfg_file.write_text(CONFIG.replace("n_samples: 200", "n_samples: 2000").replace("epochs: 3", "epochs: 10"))
    run = tmp_path / "run"
    proc = torchrun(["train", cfg_file, "--out", run], tmp_path)
    end = time.monotonic() + 90
    while not (run / "steps.csv").exists() or (run / "steps.csv").read_bytes().count(b"\n") < 20:
        assert proc.poll() is None, (tmp_path / "torchrun.out").read_text()
        assert time.monotonic() < end
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)  # torchrun passes it on to both ranks
    _, out = finish(proc, tmp_path)
    s = summary(run)
    assert s["status"] == "interrupted" and s["exit_code"] == 143, out
    stopped = s["progress"]["step"]
    assert 0 < stopped < s["total_steps"] and len(rows(run / "steps.csv")) == stopped
    assert "--resume" in s["stop"]["message"]
    # the checkpoint is for 2 ranks: one process would take other steps, and says so
    res = invoke("train", "--resume", run)
    assert res.exit_code == 2 and "resume with the same number of processes" in res.output.replace("\n", " ")

    code, out = finish(torchrun(["train", "--resume", run], tmp_path), tmp_path)
    assert code == 0, out
    s = summary(run)
    assert s["status"] == "completed" and s["resumed"] == 1
    one = tmp_path / "one"
    assert invoke("train", cfg_file, "--out", one, "--set", "data.batch_size=32").exit_code == 0
    same_curve(rows(run / "steps.csv"), rows(one / "steps.csv"), "step", ("epoch", "lr"), ("loss",))
    same_curve(rows(run / "epochs.csv"), rows(one / "epochs.csv"), "epoch", ("step", "lr"),
               ("train_loss", "train_acc", "val_loss", "val_acc"))

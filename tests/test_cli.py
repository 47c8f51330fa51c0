"""train.py run as a user runs it: training whose reward rises, play-back, and bad input."""

from __future__ import annotations

import glob
import os
import re

import pytest
from conftest import run_train

pytestmark = pytest.mark.slow


def _rewards(out: str) -> list[float]:
    return [float(x) for x in re.findall(r"saving next best rewards:\s+\[([-\d.]+)\]", out)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A short Cartpole run: 256 envs, 40 epochs (about 15 s on 2 CPU cores)."""
    cwd = str(tmp_path_factory.mktemp("cartpole"))
    p = run_train("task=Cartpole", "headless=True", "num_envs=256", "max_iterations=40",
                  "train.params.config.save_best_after=5", "experiment=ci", cwd=cwd)  # fmt: skip
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    run_dirs = glob.glob(os.path.join(cwd, "runs", "ci_*"))
    assert len(run_dirs) == 1
    return cwd, run_dirs[0], p.stdout


def test_training_reward_rises_and_reports_the_run(trained):
    cwd, run_dir, out = trained
    rewards = _rewards(out)
    assert rewards and rewards[-1] > 150.0 and rewards[-1] > 5 * rewards[0], rewards
    assert "no CUDA device is available; running on the CPU" in out
    assert f"run directory: runs/{os.path.basename(run_dir)}" in out
    assert "play it back: python train.py task=Cartpole test=True checkpoint=" in out
    assert os.path.isfile(os.path.join(run_dir, "config.yaml"))
    assert os.path.isfile(os.path.join(run_dir, "nn", "ci.pth"))
    assert glob.glob(os.path.join(run_dir, "summaries", "events.out.tfevents.*"))


def test_play_back_from_run_directory(trained):
    cwd, run_dir, out = trained
    p = run_train("task=Cartpole", "test=True", f"checkpoint={run_dir}", "num_envs=64",
                  "train.params.config.player.games_num=64", cwd=cwd)  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    m = re.search(r"played (\d+) episodes .*average reward ([-\d.]+)", p.stdout)
    assert m, p.stdout[-2000:]
    assert int(m.group(1)) >= 64
    best = max(_rewards(out))
    assert float(m.group(2)) > 0.8 * best  # the deterministic policy plays as well as it trained


def test_training_resumes_from_a_checkpoint(trained):
    cwd, run_dir, _ = trained
    # Episodes capped at 50 steps, so that they end within the 4 epochs: a balancing policy
    # earns close to 1 per step, an untrained one falls within about 20.
    p = run_train("task=Cartpole", "headless=True", "num_envs=256", "max_iterations=44",
                  "task.env.maxEpisodeLength=50", f"checkpoint={run_dir}/nn/ci.pth", "experiment=resumed",
                  cwd=cwd)  # fmt: skip
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    epochs = [int(e) for e in re.findall(r"epoch: (\d+)/44", p.stdout)]
    assert epochs == [41, 42, 43, 44]  # counting on from the checkpoint's 40 epochs
    m = re.search(r"training done: mean episode reward ([-\d.]+)", p.stdout)
    assert m and float(m.group(1)) > 40.0, p.stdout[-1500:]


def test_play_rejects_a_checkpoint_of_other_sizes(trained, tmp_path):
    import torch

    cwd, run_dir, _ = trained
    state = torch.load(os.path.join(run_dir, "nn", "ci.pth"), weights_only=False)
    w = state["model"]["running_mean_std.running_mean"]
    state["model"]["running_mean_std.running_mean"] = torch.zeros(w.shape[0] + 3)
    path = tmp_path / "other.pth"
    torch.save(state, path)
    p = run_train("task=Cartpole", "test=True", f"checkpoint={path}", "num_envs=8", cwd=cwd)
    assert p.returncode == 2
    assert "has 7 observations and 1 actions, but task Cartpole has 4 and 1" in p.stderr
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["task=Nope"], "error: unknown task 'Nope'; registered tasks: Cartpole"),
        (["physics_engine=bullet"], "error: unknown physics_engine 'bullet'"),
        (["num_envs=lots"], "error: num_envs must be a whole number"),
        (["seed=abc"], "error: seed must be a whole number"),
        (["physics_engine=physx"], "error: physics_engine=physx needs NVIDIA Isaac Gym"),
        (["test=True", "checkpoint=missing.pth"], "error: checkpoint not found: missing.pth"),
        (["test=True", "checkpoint=README.md"], "is not a checkpoint that torch can read"),
    ],
)
def test_bad_input_exits_with_one_line(args, message, tmp_path):
    (tmp_path / "README.md").write_text("not a checkpoint\n")
    p = run_train(*args, "headless=True", cwd=str(tmp_path))
    assert p.returncode == 2, p.stdout[-1000:] + p.stderr[-1000:]
    assert message in p.stderr
    assert "Traceback" not in p.stderr
    errors = [line for line in p.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1


def test_help_lists_tasks():
    p = run_train("--help")
    assert p.returncode == 0 and "tasks: Cartpole" in p.stdout


def test_shipped_go2_policy_plays_on_the_cpu(tmp_path):
    """Right after install, from any directory: play the Go2 policy that ships with the project."""
    p = run_train("task=Go2", "test=True", "checkpoint=assets/checkpoints/Go2.pth", "num_envs=16",
                  "train.params.config.player.games_num=16", cwd=str(tmp_path))  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    metrics = dict(re.findall(r"\((\w+)\): ([-\d.]+)", p.stdout))
    assert float(metrics["lin_vel_error"]) < 0.25
    assert float(metrics["fall"]) <= 0.05
    assert re.search(r"played (\d+) episodes", p.stdout)

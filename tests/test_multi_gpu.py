"""multi_gpu=True on the CPU: two processes under torchrun through gloo (the backend follows the
device), and the pieces that keep their weights and normalisers identical."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import CPU, ROOT

from mytasks.rl import distributed
from mytasks.utils.config import compose
from mytasks.utils.errors import UserError

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
EPOCH = re.compile(r"^epoch +(\d+)/\d+ +reward +([-\d.]+)", re.M)


@pytest.mark.long  # torchrun, two fresh interpreters: out of the default run (-m long)
def test_a_task_with_a_central_value_holds_the_same_weights_on_two_ranks(tmp_path):
    """G1's critic is rl-games' central value, trained by rl-games' own update: its gradients
    and normaliser are kept equal over the ranks too."""
    cmd = [*TORCHRUN, os.path.join(ROOT, "train.py"), "task=G1", "multi_gpu=True", *CPU, "headless=True",
           "num_envs=16", "max_iterations=3"]  # fmt: skip
    p = subprocess.run(cmd, cwd=tmp_path, env=dict(os.environ, PYTHONUNBUFFERED="1"), capture_output=True, text=True,
                       timeout=600)  # fmt: skip
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    assert "multi_gpu: 2 ranks (gloo) held the same weights after each of 3 epochs" in p.stdout


@pytest.mark.long  # torchrun, two fresh interpreters: out of the default run (-m long)
def test_blown_up_physics_stops_every_rank_with_one_line_from_rank_0(tmp_path):
    """nan_guard on two ranks: every rank stops at the same epoch; rank 0 saves and its line
    names the rank whose envs it reports."""
    cmd = [*TORCHRUN, os.path.join(ROOT, "train.py"), "task=Cartpole", "multi_gpu=True", *CPU, "headless=True",
           "num_envs=64", "max_iterations=20", "task.env.maxEffort=1e12", "nan_guard.epochs=2"]  # fmt: skip
    p = subprocess.run(cmd, cwd=tmp_path, env=dict(os.environ, PYTHONUNBUFFERED="1"), capture_output=True, text=True,
                       timeout=300)  # fmt: skip
    assert p.returncode != 0
    lines = [x for x in p.stderr.splitlines() if x.startswith("error: ")]
    assert len(lines) == 1, p.stderr[-3000:]
    m = re.match(r"error: task Cartpole blew up: non-finite observations on rank 1 \(env \d+ first\) in 100% of "
                 r"the envs for 2 epochs in a row; last good checkpoint: (\S+\.pth)", lines[0])  # fmt: skip
    assert m, lines[0]
    assert os.path.isfile(tmp_path / m[1])
    assert p.stdout.count("blown up: 64 envs (non-finite observations)") == 2  # rank 0's epoch lines alone, 1 and 2


@pytest.mark.long  # torchrun, two fresh interpreters: out of the default run (-m long)
def test_two_ranks_train_cartpole_and_ctrl_c_saves_on_rank_0_and_the_resume_line_resumes(tmp_path):
    """Two processes under torchrun through gloo train Cartpole (reward rises; rank 0 alone prints
    and writes the run directory; the other rank's files go to a scratch folder that is gone at
    the end). Ctrl-C in the terminal reaches every process of the group: rank 0 saves and prints
    the torchrun command that resumes, which continues from the next epoch with equal weights."""
    from conftest import read_until_epoch

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = dict(os.environ, PYTHONUNBUFFERED="1", TMPDIR=str(scratch))
    args = ["task=Cartpole", "multi_gpu=True", *CPU, "headless=True", "num_envs=256", "max_iterations=2000"]
    proc = subprocess.Popen([*TORCHRUN, os.path.join(ROOT, "train.py"), *args], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    first = read_until_epoch(proc, 40)
    os.killpg(proc.pid, signal.SIGINT)  # as the terminal does
    out, err = proc.communicate(timeout=120)
    out = first + out
    saved = re.search(r"^checkpoint saved: (\S+_ep_(\d+)_interrupted\.pth)$", err, re.M)
    assert saved, err[-3000:]
    stopped = int(saved[2])
    epochs = EPOCH.findall(out)
    assert [int(e) for e, _ in epochs] == list(range(1, stopped + 1)), "rank 0 alone prints, one line per epoch"
    rewards = [float(r) for _, r in epochs]
    assert rewards[39] > 50 and rewards[39] > 5 * rewards[0], rewards
    runs = os.listdir(tmp_path / "runs")
    assert len(runs) == 1, runs  # rank 0's; the other rank's rl-games files went to a temporary folder
    assert os.path.isfile(tmp_path / saved[1]) and os.path.isfile(tmp_path / "runs" / runs[0] / "config.yaml")
    assert [f for f in os.listdir(scratch) if f.startswith("mytasks-")] == []  # the scratch folder is gone
    resume = re.search(r"^resume with: (.*)$", err, re.M)[1]
    train = os.path.join(ROOT, "train.py")
    assert resume.startswith(f"torchrun --standalone --nproc_per_node=2 {train} task=Cartpole multi_gpu=True")
    assert err.count("checkpoint saved:") == 1  # rank 0's line alone
    more = [a for a in resume.split()[4:] if not a.startswith("max_iterations=")] + [f"max_iterations={stopped + 3}"]
    p = subprocess.run([*TORCHRUN, os.path.join(ROOT, "train.py"), *more], cwd=tmp_path, env=env, text=True,
                       capture_output=True, timeout=300)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    assert [int(e) for e, _ in EPOCH.findall(p.stdout)] == [stopped + 1, stopped + 2, stopped + 3]
    assert "held the same weights after each of 3 epochs" in p.stdout


def _spawned(rank: int, world: int, init: str, fn, out: str) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        torch.save(fn(rank), f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def _on_two_ranks(tmp_path, fn) -> list:
    out = str(tmp_path / "result")
    mp.spawn(_spawned, args=(2, f"file://{tmp_path / 'init'}", fn, out), nprocs=2, join=True)
    return [torch.load(f"{out}.{r}", weights_only=True) for r in range(2)]


def _batches(rank: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(100 + rank)
    return [torch.randn(64, 3, generator=g) * (1 + rank) + 3 * rank for _ in range(4)]


def _normalise(rank: int) -> dict:
    from rl_games.algos_torch.running_mean_std import RunningMeanStd

    model = torch.nn.Module()
    model.rms = torch.jit.script(RunningMeanStd((3,)))  # as rl-games' models hold it
    assert distributed.sync_normalisers(model) == 1
    model.train()
    outputs = [model.rms(b) for b in _batches(rank)]
    return {"state": {k: v.clone() for k, v in model.rms.state_dict().items()}, "out": outputs[-1]}


def test_normalisers_hold_the_statistics_of_every_ranks_batch(tmp_path):
    """Two ranks feed different batches; each ends with the running statistics of one
    RunningMeanStd fed both ranks' batches, minibatch by minibatch, and normalises with them."""
    from rl_games.algos_torch.running_mean_std import RunningMeanStd

    ranks = _on_two_ranks(tmp_path, _normalise)
    whole = RunningMeanStd((3,))
    whole.train()
    for a, b in zip(_batches(0), _batches(1), strict=True):
        whole(torch.cat([a, b]))
    for r in ranks:
        for key in ("running_mean", "running_var", "count"):
            torch.testing.assert_close(r["state"][key], whole.state_dict()[key], rtol=1e-6, atol=1e-6)
    whole.eval()
    torch.testing.assert_close(ranks[0]["out"], whole(_batches(0)[-1]), rtol=1e-5, atol=1e-5)


def _ours_and_rl_games(rank: int) -> dict:
    from rl_games.algos_torch import a2c_continuous
    from test_rl_agent import LOW_KL, _agent, _train

    from mytasks.rl.agent import A2CAgent

    result = {}
    for name in ("ours", "theirs"):  # each agent seeds the RNG when built and then draws from it alone
        agent = _agent(A2CAgent if name == "ours" else a2c_continuous.A2CAgent, LOW_KL, f"seed={7 + rank}")
        if name == "ours":
            assert agent.multi_gpu and agent._update_on_device()
        else:  # rl-games' own multi-GPU epoch, with the same normalisers
            agent.multi_gpu, agent.global_rank, agent.world_size = True, rank, 2
            distributed.sync_normalisers(agent.model, holders=(agent,))
            assert agent.value_mean_std is agent.model.value_mean_std
        distributed.broadcast_from_main(agent.model)  # as training starts: rank 0's initial weights
        lrs, losses = _train(agent, 3)
        state = {k: v.clone() for k, v in agent.model.state_dict().items()}
        result[name] = {"lrs": lrs, "losses": losses, "state": state, "differ": distributed.weights_differ(agent.model)}
    return result


def test_the_multi_gpu_update_matches_rl_games_own_on_two_ranks(tmp_path):
    """mytasks' update (all-reduces inside, as a GPU graphs it) against rl-games' multi-GPU epoch,
    each on two ranks with different data: the same learning rates, losses and weights, and the
    ranks equal in each."""
    for rank in _on_two_ranks(tmp_path, _ours_and_rl_games):
        ours, theirs = rank["ours"], rank["theirs"]
        assert ours["differ"] == [] and theirs["differ"] == []
        assert ours["lrs"] == pytest.approx(theirs["lrs"], rel=1e-5)
        assert len(set(theirs["lrs"])) == 3  # the rate adapted in every epoch
        assert ours["losses"] == pytest.approx(theirs["losses"], rel=1e-4, abs=1e-6)
        for name, a in ours["state"].items():
            assert torch.allclose(a, theirs["state"][name], rtol=1e-4, atol=1e-5), name


class _Task:
    """Records when it was built and stepped; builds take a while, as a cold compile does."""

    def __init__(self, events: list):
        self.events = events
        time.sleep(0.3)
        events.append(("built", time.time()))

    def step(self, actions):
        time.sleep(0.3)
        self.events.append(("stepped", time.time()))
        return actions


def _built_in_turn(rank: int) -> list:
    events: list = []
    task = distributed.built_in_turn(lambda: _Task(events))
    assert task.step(1) == 1 and task.step(2) == 2
    assert "step" not in vars(task)  # the second step is the task's own
    return events


def test_rank_0_builds_and_takes_the_first_step_before_the_other_ranks_do(tmp_path):
    """Under torchrun the other ranks build and step only once rank 0 has (so they load the
    kernels rank 0 compiled into the cache, instead of each compiling them)."""
    first, second = _on_two_ranks(tmp_path, _built_in_turn)
    assert [e for e, _ in first] == [e for e, _ in second] == ["built", "stepped", "stepped"]
    assert first[0][1] < second[0][1] and first[1][1] < second[1][1]
    assert second[0][1] - first[0][1] >= 0.25  # rank 1 began to build once rank 0 had built


def _differ(rank: int) -> list:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ELU(), torch.nn.Linear(4, 2))
    same = distributed.weights_differ(net)
    if rank == 1:
        with torch.no_grad():
            net[2].bias[1] += 1e-6
    return [same, distributed.weights_differ(net)]


def test_the_weight_check_names_what_one_rank_changed(tmp_path):
    for same, changed in _on_two_ranks(tmp_path, _differ):
        assert same == []
        assert changed == ["2.bias"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)  # fmt: skip


@pytest.mark.parametrize(
    "args, says",
    [
        (["task=Cartpole", "multi_gpu=True", *CPU], "started by torchrun: torchrun --standalone"),
        (["task=Cartpole", "multi_gpu=True", "learner=sb3", *CPU], "trains with learner=rl_games"),
    ],
)
def test_multi_gpu_outside_its_use_gets_one_line(args, says):
    p = _run(*args)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], p.stderr


def _torchrun_env(monkeypatch, rank: int, world: int) -> None:
    for key, value in {"RANK": rank, "LOCAL_RANK": rank, "WORLD_SIZE": world, "LOCAL_WORLD_SIZE": world}.items():
        monkeypatch.setenv(key, str(value))


def test_more_processes_than_gpus_get_one_line(monkeypatch):
    _torchrun_env(monkeypatch, rank=2, world=3)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    cfg = compose(["task=Cartpole", "multi_gpu=True", "sim_device=cuda:0", "rl_device=cuda:0"])
    with pytest.raises(UserError, match=r"torchrun started 3 processes on this machine, but it has 2 GPU\(s\): "
                                        r"pass --nproc_per_node=2 or fewer"):  # fmt: skip
        distributed.start(cfg, [])
    assert not dist.is_initialized()


def test_a_sim_device_that_contradicts_the_rank_gets_one_line(monkeypatch):
    _torchrun_env(monkeypatch, rank=1, world=2)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    cfg = compose(["task=Cartpole", "multi_gpu=True", "sim_device=cuda:0", "rl_device=cuda:1"])
    with pytest.raises(UserError, match=r"sim_device=cuda:0 contradicts rank 1: .* \(cuda:1 here\); drop sim_device="):
        distributed.start(cfg, ["sim_device=cuda:0", "rl_device=cuda:1"])
    assert not dist.is_initialized()

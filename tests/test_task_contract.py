"""The VecTask contract, checked on every registered task (few envs, random actions)."""

from __future__ import annotations

import pytest
import torch
from conftest import CPU

from mytasks.tasks import build_task, isaacgym_task_map
from mytasks.utils.config import compose

EPISODE = 8  # shortened episodes, so that time-outs happen within the test


def _make(name: str, num_envs: int = 4):
    return build_task(compose([f"task={name}", f"num_envs={num_envs}", *CPU, "headless=True",
                               f"task.env.maxEpisodeLength={EPISODE}"]))  # fmt: skip


@pytest.mark.parametrize("name", sorted(isaacgym_task_map))
def test_task_contract(name):
    torch.manual_seed(0)
    task = _make(name)
    n = task.num_envs
    assert task.observation_space.shape == (task.num_obs,)
    assert task.action_space.shape == (task.num_actions,)
    assert (task.action_space.low == -1).all() and (task.action_space.high == 1).all()
    assert task.reset_buf.dtype == torch.long and bool((task.reset_buf == 1).all())
    obs = task.reset()
    assert set(obs) == ({"obs", "states"} if task.num_states > 0 else {"obs"})
    saw_reset = saw_timeout = False
    for _ in range(3 * EPISODE):
        actions = 2 * torch.rand(n, task.num_actions) - 1
        obs, rew, reset, extras = task.step(actions)
        assert obs["obs"].shape == (n, task.num_obs) and obs["obs"].dtype == torch.float32
        assert rew.shape == (n,) and reset.shape == (n,)
        assert torch.isfinite(obs["obs"]).all() and torch.isfinite(rew).all()
        assert obs["obs"].abs().max() <= task.clip_obs
        assert extras["time_outs"].shape == (n,)
        assert bool((extras["time_outs"].bool() <= reset.bool()).all())  # a time-out is a reset
        saw_reset |= bool(reset.any())
        saw_timeout |= bool(extras["time_outs"].any())
        assert int(task.progress_buf.max()) <= EPISODE
    assert saw_reset and saw_timeout


def test_reset_done_returns_flagged_envs():
    task = _make("Cartpole")
    task.reset_buf[:] = 0
    task.reset_buf[[1, 3]] = 1
    _, ids = task.reset_done()
    assert ids.tolist() == [1, 3]
    assert task.reset_buf.sum().item() == 0

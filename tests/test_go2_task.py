"""The Go2 task on the CPU: it stands with zero actions, and the shipped policy walks."""

from __future__ import annotations

import os

import pytest
import torch
from conftest import CPU, ROOT, walk_forward

from mytasks.tasks import make_task
from mytasks.utils.config import compose

SHIPPED = os.path.join(ROOT, "assets", "checkpoints", "Go2.pth")
NOMINAL_START = ["task.env.reset.dofPosScale=[1.0,1.0]", "task.env.reset.rootVelocity=0.0"]


def _cfg(*overrides: str):
    return compose(["task=Go2", *CPU, *overrides])


def test_zero_actions_stand_for_two_seconds():
    """Default angles held by the PD drives (Kp 20): the robot drops from 0.42 m onto its feet and
    stays standing, its base settling where the soft joints carry its weight (on low friction
    the feet keep sliding apart slowly, so the base is not quite at rest)."""
    torch.manual_seed(0)
    task = make_task(_cfg("num_envs=8", *NOMINAL_START), headless=True)
    heights = []
    for _ in range(100):  # 2 s at 50 Hz
        _, _, done, _ = task.step(task.zero_actions())
        assert not done.any(), "a standing robot ended its episode"
        heights.append(task.root_states[:, 2].clone())
    h = torch.stack(heights)
    assert h.max() <= 0.43
    settled = h[50:]  # after 1 s
    assert settled.min() > 0.20 and settled.max() < 0.30, (settled.min(), settled.max())
    feet_fz = task.contact_forces[:, task.feet_ids, 2].sum(1)
    assert feet_fz.tolist() == pytest.approx([15.017 * 9.81] * 8, rel=0.02)


def test_reset_envs_start_over_and_others_keep_their_state():
    task = make_task(_cfg("num_envs=4", "task.env.noise.addNoise=False"), headless=True)
    for _ in range(10):
        task.step(task.zero_actions())
    before = task.root_states.clone()
    task.reset_idx(torch.tensor([2]))
    task.gym.refresh_actor_root_state_tensor(task.sim)
    assert task.root_states[2, 0:7].tolist() == pytest.approx([0.0, 0.0, 0.42, 0.0, 0.0, 0.0, 1.0], abs=1e-6)
    assert task.progress_buf[2] == 0
    keep = [0, 1, 3]
    torch.testing.assert_close(task.root_states[keep], before[keep])


def test_every_reward_term_is_logged_per_episode():
    task = make_task(_cfg("num_envs=4", "task.env.maxEpisodeLength=10", "task.env.logInterval=20"), headless=True)
    logs = []
    for _ in range(40):
        task.step(2 * torch.rand(4, 12) - 1)
        if "episode" in task.extras:
            logs.append(task.extras["episode"])
    assert len(logs) == 2  # every logInterval steps
    assert set(logs[-1]) == {f"rew_{k}" for k in task.rewards_cfg["scales"]}
    assert all(torch.isfinite(v) for v in logs[-1].values())
    assert logs[-1]["rew_trackingLinVel"] > 0 and logs[-1]["rew_torques"] < 0


def test_friction_is_randomised_per_env():
    task = make_task(_cfg("num_envs=16"), headless=True)
    lo, hi = task.rand_cfg["frictionRange"]
    mu = task.sim.world.model.shape_material_mu.numpy()
    per_env = mu[:-1].reshape(16, -1)  # the ground plane is the last shape
    assert (per_env == per_env[:, :1]).all()  # one value per robot, on all of its shapes
    assert per_env[:, 0].tolist() == pytest.approx(task.friction.tolist())
    assert lo <= per_env.min() and per_env.max() <= hi and per_env[:, 0].std() > 0.1


def test_shipped_policy_walks_forward():
    """The checkpoint under assets/checkpoints, asked for 0.6 m/s forward, walks at that speed."""
    mean_speed, env = walk_forward("Go2", SHIPPED, 0.6)
    assert mean_speed == pytest.approx(0.6, abs=0.25)
    assert env.root_states[:, 0].min() > 1.0  # it went somewhere: > 1 m in 4 s

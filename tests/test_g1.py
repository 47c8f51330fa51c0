"""The G1 and H1 models (assets/urdf/g1, h1) and tasks against the robots' published numbers and
closed forms."""

import os
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

from mytasks.sim import gymtorch
from mytasks.tasks import make_task
from mytasks.utils.config import compose, resolved
from mytasks.utils.paths import ASSETS_DIR, asset_root

CPU = ["sim_device=cpu", "rl_device=cpu", "pipeline=cpu", "headless=True"]
LEG = ["hip_pitch", "hip_roll", "hip_yaw", "knee", "ankle_pitch", "ankle_roll"]
JOINTS = [f"{side}_{j}_joint" for side in ("left", "right") for j in LEG]
MASS = 32.107  # kg: lumped pelvis 17.7349 + 2 legs of 7.186
G = 9.81
# Unitree's limits [rad] and efforts [N m]; the right hip roll's range mirrors the left's.
LIMITS = {"left_hip_roll_joint": (-0.5236, 2.9671), "right_hip_roll_joint": (-2.9671, 0.5236),
          "left_knee_joint": (-0.087267, 2.8798), "right_ankle_pitch_joint": (-0.87267, 0.5236),
          "left_hip_pitch_joint": (-2.5307, 2.8798), "right_ankle_roll_joint": (-0.2618, 0.2618)}  # fmt: skip
EFFORT = {"hip_pitch": 88, "hip_roll": 139, "hip_yaw": 88, "knee": 139, "ankle_pitch": 50, "ankle_roll": 50}
SOLE = 0.035  # the foot spheres' lowest point below the ankle-roll origin [m]


def _task(*overrides, n=4):
    # a task= among the overrides wins over G1
    return make_task(resolved(compose(["task=G1", f"num_envs={n}", *CPU, *overrides])), headless=True)


@pytest.fixture(scope="module")
def g1():
    return _task("task.env.noise.addNoise=False", "task.env.randomization.randomizeBaseMass=False")


def test_the_urdf_has_the_robots_joints_in_order_with_its_limits_and_efforts(g1):
    assert g1.dof_names == JOINTS
    for name, (lo, hi) in LIMITS.items():
        i = JOINTS.index(name)
        assert float(g1.dof_lower[i]) == pytest.approx(lo, abs=1e-5)
        assert float(g1.dof_upper[i]) == pytest.approx(hi, abs=1e-5)
    for i, name in enumerate(JOINTS):
        assert g1.dof_effort[i] == EFFORT[next(k for k in EFFORT if k in name)]


def test_the_total_mass_is_the_robots(g1):
    props = g1.gym.get_actor_rigid_body_properties(g1.envs[0], g1.actor_handles[0])
    assert sum(p.mass for p in props) == pytest.approx(MASS, abs=1e-3)
    # the URDF file itself says the same
    root = ET.parse(f"{asset_root('assets')}/urdf/g1/g1_12dof.urdf").getroot()
    assert sum(float(m.get("value")) for m in root.iter("mass")) == pytest.approx(MASS, abs=1e-3)


def _settle(task, steps):
    """Zero actions from the default pose: the PD drives hold the default angles."""
    zero = torch.zeros(task.num_envs, task.num_actions)
    task.reset_idx(torch.arange(task.num_envs))
    task.dof_pos[:] = task.default_dof_pos
    task.root_states[:, 7:13] = 0.0
    task.gym.set_dof_state_tensor(task.sim, gymtorch.unwrap_tensor(task.dof_state))
    task.gym.set_actor_root_state_tensor(task.sim, gymtorch.unwrap_tensor(task.root_states))
    out = []
    for _ in range(steps):
        task.step(zero)
        task.gym.refresh_rigid_body_state_tensor(task.sim)
        feet = task.rigid_body_states[:, task.feet_ids]
        fz = task.contact_forces[:, task.feet_ids, 2].sum(1)
        out.append((task.root_states[:, 2].clone(), feet[..., 2].clone(), fz, task.root_states[:, 0].clone(),
                    task.terminated.clone()))  # fmt: skip
    return out


def test_standing_height_in_the_default_pose_is_the_kinematic_one(g1):
    # Forward kinematics of the default angles put the soles 0.7842 m below the pelvis (the
    # MuJoCo Menagerie keyframe of the same pose stands at 0.7837 m).
    pelvis, feet = _settle(g1, 2)[-1][:2]
    assert (pelvis - (feet.mean(1) - SOLE)).sub(0.7842).abs().max() < 2e-3


def test_with_ankles_stiffer_than_gravity_it_stands_and_its_feet_carry_its_weight():
    # An inverted pendulum on its ankles stands when their stiffness beats gravity's:
    # 2 k > m g h (h: the centre of mass over the ankles, 0.64 m). The G1's own 40 N m/rad
    # does not (next test); 400 does, and then the feet carry m g.
    task = _task("task.env.noise.addNoise=False", "task.env.randomization.randomizeBaseMass=False",
                 "task.env.randomization.pushRobots=False", "task.env.control.stiffness.ankle=400.0", n=2)  # fmt: skip
    states = _settle(task, 100)  # 2 s
    pelvis = torch.stack([s[0] for s in states])
    assert (pelvis[-50:] - 0.7842).abs().max() < 0.02  # stands, knees barely giving
    assert (pelvis[-50:].max(0).values - pelvis[-50:].min(0).values).max() < 2e-3  # still
    support = torch.stack([s[2] for s in states[-25:]]).mean(0)
    assert support.sub(MASS * G).abs().max() / (MASS * G) < 0.02


def test_on_its_own_ankle_gains_it_topples_forward_as_gravity_wins():
    # Its centre of mass stands 4.6 cm ahead of the ankles in the default pose, and 2 x 40 N m/rad
    # is less than m g h: held by PD alone it pitches forward about its ankles and falls, as a
    # policy must keep it from doing.
    task = _task("task.env.noise.addNoise=False", "task.env.randomization.randomizeBaseMass=False",
                 "task.env.randomization.pushRobots=False", n=2)  # fmt: skip
    assert 2 * task._by_joint(task.control["stiffness"], "ankle_pitch") < MASS * G * 0.64
    states = _settle(task, 100)  # 2 s
    pelvis = torch.stack([s[0] for s in states])
    x = torch.stack([s[3] for s in states])
    fell = torch.stack([s[4] for s in states])
    assert (pelvis[:10] > 0.75).all()  # it first stands on its feet
    assert fell.any(0).all()  # then every one falls within 2 s
    first = fell.float().argmax(0)
    assert (first > 20).all()  # toppling, not at once (> 0.4 s)
    x_at_fall = x[first - 1, torch.arange(task.num_envs)]
    assert (x_at_fall - float(task.base_init_state[0]) > 0.1).all()  # forward


H1_LEG = ["hip_yaw", "hip_roll", "hip_pitch", "knee", "ankle"]
H1_JOINTS = [f"{side}_{j}_joint" for side in ("left", "right") for j in H1_LEG]


def test_the_h1_has_its_joints_mass_and_standing_height():
    task = _task("task=H1", "task.env.noise.addNoise=False", "task.env.randomization.randomizeBaseMass=False", n=2)
    assert task.dof_names == H1_JOINTS
    assert (task.num_obs, task.num_states, task.num_actions) == (41, 44, 10)
    props = task.gym.get_actor_rigid_body_properties(task.envs[0], task.actor_handles[0])
    assert sum(p.mass for p in props) == pytest.approx(51.650, abs=1e-3)  # lumped pelvis 29.847 + 2 x 10.901
    knee = H1_JOINTS.index("left_knee_joint")
    assert (float(task.dof_lower[knee]), float(task.dof_upper[knee])) == pytest.approx((-0.26, 2.05), abs=1e-5)
    states = _settle(task, 30)
    # Forward kinematics of the default angles: the ankles 0.96423 m below the pelvis (in the
    # air, before the legs take the weight); the soles' capsules reach 0.070 m below the
    # ankles, so that standing, the ankles are that high.
    pelvis, feet = states[1][:2]
    assert (pelvis - feet.mean(1)).sub(0.96423).abs().max() < 2e-3
    assert (states[-1][1] - 0.070).abs().max() < 5e-3


def test_the_gait_clock_runs_with_episode_time_and_the_right_leg_half_a_period_on(g1):
    zero = torch.zeros(g1.num_envs, g1.num_actions)
    g1.reset_idx(torch.arange(g1.num_envs))
    for _ in range(7):
        obs = g1.step(zero)[0]["obs"]
    t = g1.progress_buf.float() * 0.02  # policy dt: 4 x 5 ms
    phase = torch.remainder(t / 0.8, 1.0)
    assert torch.allclose(obs[:, -2], torch.sin(2 * torch.pi * phase), atol=1e-5)
    assert torch.allclose(obs[:, -1], torch.cos(2 * torch.pi * phase), atol=1e-5)
    assert torch.allclose(g1.leg_phase[:, 1], torch.remainder(phase + 0.5, 1.0), atol=1e-6)
    assert g1.deploy_info()["gait"]["period"] == 0.8


def test_sim2sim_computes_the_gait_phase_the_task_observes(g1):
    from mytasks.deploy.sim2sim import gait_phase

    zero = torch.zeros(g1.num_envs, g1.num_actions)
    g1.reset_idx(torch.arange(g1.num_envs))
    gait, dt = g1.deploy_info()["gait"], g1.dt
    seen = []
    for _ in range(48):  # past one period of 0.8 s (40 policy steps); the clock restarts with an episode
        obs = g1.step(zero)[0]["obs"]
        for env in range(g1.num_envs):
            steps = int(g1.progress_buf[env])  # policy steps into this env's episode
            assert np.allclose(obs[env, -2:].numpy(), gait_phase(steps, dt, gait["period"]), atol=1e-5)
            seen.append(steps)
    assert max(seen) > 40


@pytest.mark.parametrize("robot", ["G1", "H1"])
def test_the_shipped_humanoid_policy_walks_forward(robot):
    """assets/checkpoints/G1.pth and H1.pth, asked for 0.5 m/s forward with no turning, walk at
    that speed for 4 s without falling."""
    from conftest import walk_forward

    speed, env = walk_forward(robot, os.path.join(ASSETS_DIR, "checkpoints", f"{robot}.pth"), 0.5)
    print(f"{robot}: mean forward speed {speed:.3f} m/s")
    assert speed == pytest.approx(0.5, abs=0.25)
    # Each env went somewhere: from a random start pose the slowest of 16 makes 0.8-1.0 m of
    # the 2 m asked for, depending on the random stream, the others 1.1-2.1 m.
    assert env.root_states[:, 0].min() > 0.5

"""The Go2 description (assets/urdf/go2/go2.urdf) and legged physics through the isaacgym API."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import ASSETS

from mytasks.sim import gymapi, gymtorch

LEGS = ("FL", "FR", "RL", "RR")
DOFS = [f"{leg}_{part}_joint" for leg in LEGS for part in ("hip", "thigh", "calf")]
MASS = 15.017  # kg, sum of the published link masses
G = 9.81


def default_pose(names):
    """legged_gym's Go2 standing angles, by name."""
    out = []
    for n in names:
        leg, part = n.split("_")[:2]
        if part == "hip":
            out.append(0.1 if leg in ("FL", "RL") else -0.1)
        else:
            out.append((0.8 if leg[0] == "F" else 1.0) if part == "thigh" else -1.5)
    return out


def build_go2(num_envs=2, height=0.4, dt=0.005, kp=100.0, kd=2.0):
    gym = gymapi.acquire_gym()
    sp = gymapi.SimParams()
    sp.use_gpu_pipeline = False
    sp.dt, sp.substeps = dt, 1
    sp.newton.nconmax, sp.newton.njmax = 32, 128
    sim = gym.create_sim(-1, -1, gymapi.SIM_NEWTON, sp)
    gym.add_ground(sim, gymapi.PlaneParams())
    opts = gymapi.AssetOptions()
    opts.default_dof_drive_mode = gymapi.DOF_MODE_POS
    asset = gym.load_asset(sim, ASSETS, "urdf/go2/go2.urdf", opts)
    for _ in range(num_envs):
        env = gym.create_env(sim, gymapi.Vec3(-1, -1, 0), gymapi.Vec3(1, 1, 1), 2)
        h = gym.create_actor(env, asset, gymapi.Transform(gymapi.Vec3(0, 0, height)), "go2", 0, 1, 0)
        props = gym.get_actor_dof_properties(env, h)
        props["stiffness"][:], props["damping"][:] = kp, kd
        gym.set_actor_dof_properties(env, h, props)
    gym.prepare_sim(sim)
    q0 = torch.tensor(default_pose(gym.get_asset_dof_names(asset)) * num_envs)
    dof = gymtorch.wrap_tensor(gym.acquire_dof_state_tensor(sim))
    dof[:, 0], dof[:, 1] = q0, 0.0
    gym.set_dof_state_tensor(sim, gymtorch.unwrap_tensor(dof))
    gym.set_dof_position_target_tensor(sim, gymtorch.unwrap_tensor(q0))
    return gym, sim, asset


@pytest.fixture(scope="module")
def go2():
    return build_go2()


def test_joint_names_order_and_limits(go2):
    gym, _, asset = go2
    assert gym.get_asset_dof_names(asset) == DOFS  # Isaac Gym's depth-first order
    bodies = gym.get_asset_rigid_body_names(asset)
    assert bodies[0] == "base" and [b for b in bodies if b.endswith("_foot")] == [f"{g}_foot" for g in LEGS]
    props = gym.get_asset_dof_properties(asset)
    lim = {n: (props["lower"][i], props["upper"][i], props["effort"][i]) for i, n in enumerate(DOFS)}
    assert lim["FR_hip_joint"] == pytest.approx((-1.0472, 1.0472, 23.7))
    assert lim["FL_thigh_joint"] == pytest.approx((-1.5708, 3.4907, 23.7))
    assert lim["RR_thigh_joint"] == pytest.approx((-0.5236, 4.5379, 23.7))
    assert lim["RL_calf_joint"] == pytest.approx((-2.7227, -0.83776, 35.55))
    assert props["hasLimits"].all()


def test_total_mass(go2):
    _, sim, _ = go2
    masses = sim.world.model.body_mass.numpy().reshape(2, -1)
    assert masses.sum(axis=1) == pytest.approx([MASS, MASS], abs=1e-4)


def test_stands_in_default_pose_and_feet_carry_its_weight(go2):
    gym, sim, _ = go2
    root = gymtorch.wrap_tensor(gym.acquire_actor_root_state_tensor(sim))
    contact = gymtorch.wrap_tensor(gym.acquire_net_contact_force_tensor(sim))
    assert contact.shape == (2 * 17, 3)
    for _ in range(1000):  # 5 s
        gym.simulate(sim)
    gym.refresh_actor_root_state_tensor(sim)
    gym.refresh_net_contact_force_tensor(sim)
    assert ((root[:, 2] > 0.28) & (root[:, 2] < 0.33)).all(), root[:, 2]  # sags a little under Kp 100
    assert root[:, 7:13].abs().max() < 1e-3  # at rest
    forces = contact.view(2, 17, 3)
    feet = [4, 8, 12, 16]
    weight = MASS * G
    torch.testing.assert_close(forces[:, feet, 2].sum(1), torch.full((2,), weight), rtol=0.02, atol=0.0)
    assert (forces[:, feet, 2] > 0.1 * weight / 4).all()  # all four feet down
    others = [i for i in range(17) if i not in feet]
    assert forces[:, others].abs().max() == 0.0


def test_drop_lands_after_sqrt_2h_over_g():
    h, dt = 0.15, 0.001
    gym, sim, _ = build_go2(num_envs=1, height=0.4, dt=dt, kp=400.0, kd=5.0)
    bodies = gymtorch.wrap_tensor(gym.acquire_rigid_body_state_tensor(sim))
    contact = gymtorch.wrap_tensor(gym.acquire_net_contact_force_tensor(sim))
    root = gymtorch.wrap_tensor(gym.acquire_actor_root_state_tensor(sim))
    gym.simulate(sim)  # body poses follow the joint angles set above
    gym.refresh_rigid_body_state_tensor(sim)
    gym.refresh_actor_root_state_tensor(sim)
    lowest = bodies[[4, 8, 12, 16], 2].min().item() - 0.022  # foot sphere radius
    root[0, 2] += h - lowest  # lift so that the lowest foot is h above the ground, at rest
    root[0, 7:13] = 0.0
    gym.set_actor_root_state_tensor(sim, gymtorch.unwrap_tensor(root))
    steps = 0
    while contact[:, 2].max() <= 0 and steps < 400:
        gym.simulate(sim)
        gym.refresh_net_contact_force_tensor(sim)
        steps += 1
    assert steps * dt == pytest.approx(math.sqrt(2 * h / G), abs=3 * dt)

"""The sim layer's contract: Isaac Gym's tensor layouts, in-place refresh, indexed setters."""

from __future__ import annotations

import pytest
import torch
from conftest import build_cartpole

from mytasks.sim import gymapi, gymtorch


def _effort_cart(props):
    props["driveMode"][0] = gymapi.DOF_MODE_EFFORT


@pytest.fixture(scope="module")
def cartpoles():
    return build_cartpole(4, drive=_effort_cart)


def test_names_counts_and_properties(cartpoles):
    gym, sim, envs, asset = cartpoles
    assert gym.get_asset_dof_names(asset) == ["slider_to_cart", "cart_to_pole"]
    assert gym.get_asset_rigid_body_names(asset) == ["slider", "cart", "pole"]
    assert gym.get_sim_dof_count(sim) == 8 and gym.get_sim_rigid_body_count(sim) == 12
    props = gym.get_actor_dof_properties(envs[0], 0)
    assert props["hasLimits"].tolist() == [True, False]
    assert props["lower"][0] == pytest.approx(-4.0) and props["upper"][0] == pytest.approx(4.0)
    assert props["driveMode"].tolist() == [int(gymapi.DOF_MODE_EFFORT), int(gymapi.DOF_MODE_NONE)]
    assert gym.find_actor_rigid_body_handle(envs[2], 0, "pole") == 2
    assert gym.find_actor_dof_handle(envs[2], 0, "cart_to_pole") == 1
    assert gym.get_actor_index(envs[3], 0, gymapi.DOMAIN_SIM) == 3


def test_tensor_shapes_and_refresh_in_place(cartpoles):
    gym, sim, _, _ = cartpoles
    dof = gymtorch.wrap_tensor(gym.acquire_dof_state_tensor(sim))
    root = gymtorch.wrap_tensor(gym.acquire_actor_root_state_tensor(sim))
    bodies = gymtorch.wrap_tensor(gym.acquire_rigid_body_state_tensor(sim))
    assert dof.shape == (8, 2) and root.shape == (4, 13) and bodies.shape == (12, 13)
    assert dof.dtype == root.dtype == bodies.dtype == torch.float32
    ptrs = (dof.data_ptr(), root.data_ptr(), bodies.data_ptr())
    dof_view = dof.view(4, 2, 2)
    dof_view[:, 1, 0] = 0.2  # tip every pole
    gym.set_dof_state_tensor(sim, gymtorch.unwrap_tensor(dof))
    for _ in range(10):
        gym.simulate(sim)
    gym.refresh_dof_state_tensor(sim)
    gym.refresh_actor_root_state_tensor(sim)
    gym.refresh_rigid_body_state_tensor(sim)
    assert (dof.data_ptr(), root.data_ptr(), bodies.data_ptr()) == ptrs
    assert (dof_view[:, 1, 0] > 0.2).all()  # the poles fell further, seen through the old view
    assert (dof_view[:, 1, 1] > 0.0).all()
    # The slider is the fixed root: 2 m up, unrotated, at rest. Bodies are env-major.
    torch.testing.assert_close(root[:, 0:7], torch.tensor([[0, 0, 2.0, 0, 0, 0, 1.0]]).repeat(4, 1))
    torch.testing.assert_close(bodies.view(4, 3, 13)[:, 0], root)
    pole_quat = bodies.view(4, 3, 13)[:, 2, 3:7]
    torch.testing.assert_close(pole_quat.norm(dim=1), torch.ones(4))
    sin_half = torch.sin(dof_view[:, 1, 0] / 2)  # pole about +y: quaternion (0, sin, 0, cos)
    torch.testing.assert_close(pole_quat[:, 1], sin_half, atol=1e-4, rtol=0)


def test_indexed_setter_touches_only_given_envs(cartpoles):
    gym, sim, _, _ = cartpoles
    dof = gymtorch.wrap_tensor(gym.acquire_dof_state_tensor(sim))
    gym.refresh_dof_state_tensor(sim)
    before = dof.clone()
    new = torch.full_like(dof, 0.5)
    ids = torch.tensor([1, 3], dtype=torch.int32)
    gym.set_dof_state_tensor_indexed(sim, gymtorch.unwrap_tensor(new), gymtorch.unwrap_tensor(ids), 2)
    gym.refresh_dof_state_tensor(sim)
    view, before = dof.view(4, 2, 2), before.view(4, 2, 2)
    torch.testing.assert_close(view[[1, 3]], torch.full((2, 2, 2), 0.5))
    torch.testing.assert_close(view[[0, 2]], before[[0, 2]])


def test_state_set_between_steps_reads_back_before_the_next_step():
    """Root and body states refreshed right after a setter show what was set (tasks compute the
    first observation of a new episode this way), and only the listed actors moved."""
    gym, sim, _, _ = build_cartpole(2, fixed=False, ground=False, gravity=0.0)
    root = gymtorch.wrap_tensor(gym.acquire_actor_root_state_tensor(sim))
    bodies = gymtorch.wrap_tensor(gym.acquire_rigid_body_state_tensor(sim)).view(2, -1, 13)
    gym.simulate(sim)
    gym.refresh_actor_root_state_tensor(sim)
    before = root.clone()
    new = root.clone()
    new[1, 0:3] = torch.tensor([1.0, -2.0, 3.0])
    new[1, 3:7] = torch.tensor([0.0, 0.0, 0.6, 0.8])
    new[1, 7:13] = torch.tensor([0.1, 0.2, 0.3, 0.0, 0.0, 0.5])
    ids = torch.tensor([1], dtype=torch.int32)
    gym.set_actor_root_state_tensor_indexed(sim, gymtorch.unwrap_tensor(new), gymtorch.unwrap_tensor(ids), 1)
    gym.refresh_actor_root_state_tensor(sim)
    gym.refresh_rigid_body_state_tensor(sim)
    torch.testing.assert_close(root[1], new[1])
    torch.testing.assert_close(root[0], before[0])
    torch.testing.assert_close(bodies[1, 0, 0:7], new[1, 0:7])


def test_effort_only_reaches_effort_dofs():
    """Isaac Gym applies actuation forces only to DOFs in DOF_MODE_EFFORT."""
    gym, sim, _, _ = build_cartpole(2, drive=_effort_cart, gravity=0.0)
    dof = gymtorch.wrap_tensor(gym.acquire_dof_state_tensor(sim)).view(2, 2, 2)
    forces = torch.tensor([0.0, 5.0, 0.0, 0.0])  # on env 0's pole, which is DOF_MODE_NONE
    gym.set_dof_actuation_force_tensor(sim, gymtorch.unwrap_tensor(forces))
    for _ in range(10):
        gym.simulate(sim)
    gym.refresh_dof_state_tensor(sim)
    assert dof.abs().max().item() == pytest.approx(0.0, abs=1e-6)


def test_velocity_drive_tracks_target():
    def drive(props):
        props["driveMode"][0] = gymapi.DOF_MODE_VEL
        props["damping"][0] = 200.0
        props["driveMode"][1] = gymapi.DOF_MODE_POS  # pole held upright, so nothing swings
        props["stiffness"][1] = 1.0e4
        props["damping"][1] = 1.0e2

    gym, sim, _, _ = build_cartpole(2, drive=drive, gravity=0.0, dt=0.01)
    dof = gymtorch.wrap_tensor(gym.acquire_dof_state_tensor(sim)).view(2, 2, 2)
    gym.set_dof_velocity_target_tensor(sim, gymtorch.unwrap_tensor(torch.tensor([0.5, 0.0, -0.25, 0.0])))
    for _ in range(100):
        gym.simulate(sim)
    gym.refresh_dof_state_tensor(sim)
    assert dof[0, 0, 1].item() == pytest.approx(0.5, rel=0.01)
    assert dof[1, 0, 1].item() == pytest.approx(-0.25, rel=0.01)


def test_wrong_shape_is_refused(cartpoles):
    gym, sim, _, _ = cartpoles
    with pytest.raises(ValueError, match="shape"):
        gym.set_dof_actuation_force_tensor(sim, gymtorch.unwrap_tensor(torch.zeros(3)))


def test_scene_calls_after_prepare_are_refused(cartpoles):
    gym, sim, _, asset = cartpoles
    with pytest.raises(RuntimeError, match="prepare_sim"):
        gym.create_env(sim, gymapi.Vec3(), gymapi.Vec3(), 1)

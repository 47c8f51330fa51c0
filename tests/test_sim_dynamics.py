"""Isaac Gym's Jacobian and mass-matrix tensors (what operational-space control of an arm reads)
against the closed forms of a planar two-link arm: hinges about z, each link a point mass at its
end plus an inertia about its own centre; and the Jacobian's consistency with the rigid-body
state for a floating base."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mytasks.sim import gymapi, gymtorch

L1, L2, M1, M2, I1, I2 = 0.5, 0.3, 2.0, 1.0, 0.02, 0.01
Q = [(0.4, 0.9), (-1.1, 0.3)]  # the two envs' joint angles

ARM = f"""<mujoco model="planar_arm">
  <worldbody>
    <body name="base" pos="0 0 1">
      <geom type="box" size="0.05 0.05 0.05" mass="1" contype="0" conaffinity="0"/>
      <body name="upper">
        <joint name="shoulder" type="hinge" axis="0 0 1"/>
        <inertial pos="{L1} 0 0" mass="{M1}" diaginertia="{I1} {I1} {I1}"/>
        <body name="fore" pos="{L1} 0 0">
          <joint name="elbow" type="hinge" axis="0 0 1"/>
          <inertial pos="{L2} 0 0" mass="{M2}" diaginertia="{I2} {I2} {I2}"/>
        </body>
      </body>
    </body>
  </worldbody>
</mujoco>
"""


def _sim(tmp_path, fixed=True, n=2):
    floating = ARM.replace('pos="0 0 1">', 'pos="0 0 1">\n      <freejoint/>', 1)  # an MJCF base floats by its file
    (tmp_path / "arm.xml").write_text(ARM if fixed else floating)
    gym = gymapi.acquire_gym()
    sp = gymapi.SimParams()
    sp.use_gpu_pipeline, sp.up_axis = False, gymapi.UP_AXIS_Z
    sp.gravity = gymapi.Vec3(0.0, 0.0, 0.0)
    sim = gym.create_sim(-1, -1, gymapi.SIM_NEWTON, sp)
    opts = gymapi.AssetOptions()
    opts.fix_base_link = fixed
    asset = gym.load_asset(sim, str(tmp_path), "arm.xml", opts)
    envs = []
    for i in range(n):
        env = gym.create_env(sim, gymapi.Vec3(-1, -1, 0), gymapi.Vec3(1, 1, 1), n)
        gym.create_actor(env, asset, gymapi.Transform(gymapi.Vec3(0, 0, 1)), "arm", i, 1)
        envs.append(env)
    gym.prepare_sim(sim)
    return gym, sim, envs


def test_the_jacobian_and_mass_matrix_of_a_fixed_base_arm_are_the_closed_forms(tmp_path):
    gym, sim, envs = _sim(tmp_path)
    assert gym.get_actor_joint_dict(envs[0], 0) == {"shoulder": 0, "elbow": 1}
    assert gym.get_actor_dof_dict(envs[0], 0) == {"shoulder": 0, "elbow": 1}
    assert gym.get_actor_rigid_body_dict(envs[0], 0) == {"base": 0, "upper": 1, "fore": 2}
    dof = gymtorch.wrap_tensor(gym.acquire_dof_state_tensor(sim))
    dof[:, 0] = torch.tensor(Q, dtype=torch.float32).flatten()
    dof[:, 1] = 0.0
    gym.set_dof_state_tensor(sim, gymtorch.unwrap_tensor(dof))
    jac = gymtorch.wrap_tensor(gym.acquire_jacobian_tensor(sim, "arm"))
    mass = gymtorch.wrap_tensor(gym.acquire_mass_matrix_tensor(sim, "arm"))
    assert jac.shape == (2, 2, 6, 2) and mass.shape == (2, 2, 2)  # the links below the fixed root
    gym.refresh_jacobian_tensors(sim)
    gym.refresh_mass_matrix_tensors(sim)
    for env, (q1, q2) in enumerate(Q):
        s1, c1, s12, c12 = math.sin(q1), math.cos(q1), math.sin(q1 + q2), math.cos(q1 + q2)
        upper = [[-L1 * s1, 0], [L1 * c1, 0], [0, 0], [0, 0], [0, 0], [1, 0]]  # its centre of mass
        fore = [[-L1 * s1 - L2 * s12, -L2 * s12], [L1 * c1 + L2 * c12, L2 * c12], [0, 0], [0, 0], [0, 0], [1, 1]]
        joint = gym.get_actor_joint_dict(envs[env], 0)["elbow"]  # the link the elbow moves
        assert jac[env, joint].numpy() == pytest.approx(np.array(fore), abs=1e-5)
        assert jac[env, 0].numpy() == pytest.approx(np.array(upper), abs=1e-5)
        c2 = math.cos(q2)
        m11 = M1 * L1**2 + I1 + M2 * (L1**2 + L2**2 + 2 * L1 * L2 * c2) + I2
        m12 = M2 * (L2**2 + L1 * L2 * c2) + I2
        m22 = M2 * L2**2 + I2
        assert mass[env].numpy() == pytest.approx(np.array([[m11, m12], [m12, m22]]), rel=1e-4)


def test_a_floating_base_jacobian_maps_the_velocities_to_the_rigid_body_states(tmp_path):
    """Root velocity and joint rates in; J times them equals each link's velocity in the rigid
    body state tensor (centre-of-mass linear velocity, angular velocity, world frame)."""
    gym, sim, _ = _sim(tmp_path, fixed=False, n=1)
    jac = gymtorch.wrap_tensor(gym.acquire_jacobian_tensor(sim, "arm"))
    assert jac.shape == (1, 3, 6, 8)  # every link; the root's 6 DOFs first
    root = gymtorch.wrap_tensor(gym.acquire_actor_root_state_tensor(sim))
    dof = gymtorch.wrap_tensor(gym.acquire_dof_state_tensor(sim))
    bodies = gymtorch.wrap_tensor(gym.acquire_rigid_body_state_tensor(sim))
    root[0, 7:13] = torch.tensor([0.3, -0.2, 0.1, 0.5, -0.4, 0.7])
    dof[:, 0] = torch.tensor([0.6, -0.8])
    dof[:, 1] = torch.tensor([1.5, -2.0])
    gym.set_actor_root_state_tensor(sim, gymtorch.unwrap_tensor(root))
    gym.set_dof_state_tensor(sim, gymtorch.unwrap_tensor(dof))
    gym.refresh_rigid_body_state_tensor(sim)
    gym.refresh_jacobian_tensors(sim)
    rates = torch.cat([root[0, 7:13], dof[:, 1]])
    assert (jac[0] @ rates).numpy() == pytest.approx(bodies[:, 7:13].numpy(), abs=1e-5)


def test_a_jacobian_for_an_actor_that_is_not_there_names_the_actors(tmp_path):
    gym, sim, _ = _sim(tmp_path, n=1)
    with pytest.raises(KeyError, match="acquire_jacobian_tensor: no actor named 'franka' .env 0 holds arm."):
        gym.acquire_jacobian_tensor(sim, "franka")

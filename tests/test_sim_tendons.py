"""Fixed tendons of an MJCF file through the isaacgym API (the calls IsaacGymEnvs' ShadowHand
makes: tendon names and properties, ``limit_stiffness`` and ``damping`` set on its coupling
tendons) against closed-form physics. One arm of inertia I on a hinge per env, no gravity; the
file's two fixed tendons: a spring of stiffness k and rest length L0 on c times the hinge angle,
and a stop that keeps the angle within +-0.2 rad."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mytasks.sim import gymapi, gymtorch

INERTIA, K, REST, COEF, STOP = 0.1, 2.0, 0.05, 0.5, 0.2
DT = 0.002

MJCF = f"""<mujoco model="tendon_arm">
  <worldbody>
    <body name="base" pos="0 0 1">
      <geom type="box" size="0.05 0.05 0.05" mass="1" contype="0" conaffinity="0"/>
      <body name="arm">
        <joint name="hinge" type="hinge" axis="0 0 1"/>
        <inertial pos="0 0 0" mass="1" diaginertia="{INERTIA} {INERTIA} {INERTIA}"/>
      </body>
    </body>
  </worldbody>
  <tendon>
    <fixed name="spring" stiffness="{K}" springlength="{REST}">
      <joint joint="hinge" coef="{COEF}"/>
    </fixed>
    <fixed name="stop" limited="true" range="{-STOP} {STOP}">
      <joint joint="hinge" coef="1"/>
    </fixed>
  </tendon>
</mujoco>
"""


@pytest.fixture
def arm(tmp_path):
    (tmp_path / "arm.xml").write_text(MJCF)
    gym = gymapi.acquire_gym()
    sp = gymapi.SimParams()
    sp.use_gpu_pipeline = False
    sp.dt, sp.substeps, sp.up_axis = DT, 1, gymapi.UP_AXIS_Z
    sp.gravity = gymapi.Vec3(0.0, 0.0, 0.0)
    sim = gym.create_sim(-1, -1, gymapi.SIM_NEWTON, sp)
    opts = gymapi.AssetOptions()
    opts.fix_base_link = True
    return gym, sim, gym.load_asset(sim, str(tmp_path), "arm.xml", opts)


def _envs(gym, sim, asset, n, joint_damping=0.0):
    envs = []
    for i in range(n):
        env = gym.create_env(sim, gymapi.Vec3(-1, -1, 0), gymapi.Vec3(1, 1, 1), n)
        actor = gym.create_actor(env, asset, gymapi.Transform(), "arm", i, 1)
        props = gym.get_actor_dof_properties(env, actor)
        props["driveMode"][:] = gymapi.DOF_MODE_EFFORT
        props["damping"][:] = joint_damping
        gym.set_actor_dof_properties(env, actor, props)
        envs.append(env)
    return envs


def _angles(gym, sim, seconds, torque=0.0):
    dof = gymtorch.wrap_tensor(gym.acquire_dof_state_tensor(sim))
    effort = torch.full((dof.shape[0],), torque)
    out = []
    for _ in range(round(seconds / DT)):
        gym.set_dof_actuation_force_tensor(sim, gymtorch.unwrap_tensor(effort))
        gym.simulate(sim)
        gym.fetch_results(sim, True)
        gym.refresh_dof_state_tensor(sim)
        out.append(dof[:, 0].clone())
    return torch.stack(out).numpy()


def _set(gym, env, tendon, **values):
    props = gym.get_actor_tendon_properties(env, 0)
    for key, value in values.items():
        setattr(props[tendon], key, value)
    gym.set_actor_tendon_properties(env, 0, props)


def test_the_files_fixed_tendons_are_listed_with_their_joints_and_properties(arm):
    gym, _, asset = arm
    assert gym.get_asset_tendon_count(asset) == 2
    assert [gym.get_asset_tendon_name(asset, i) for i in range(2)] == ["spring", "stop"]
    assert gym.find_asset_tendon_index(asset, "stop") == 1 and gym.find_asset_tendon_index(asset, "none") == -1
    assert gym.get_asset_fixed_tendon_joint_name(asset, 0, 0) == "hinge"
    assert gym.get_asset_fixed_tendon_joint_coefficients(asset, 0) == pytest.approx([COEF])
    spring, stop = gym.get_asset_tendon_properties(asset)
    assert (spring.stiffness, spring.fixed_spring_rest_length, spring.num_joints) == pytest.approx((K, REST, 1))
    assert not spring.is_fixed_limited
    assert stop.is_fixed_limited and (stop.fixed_lower_limit, stop.fixed_upper_limit) == pytest.approx((-STOP, STOP))
    assert stop.limit_stiffness == 0.0  # the file's own MuJoCo limit


def test_a_tendon_spring_swings_the_hinge_at_its_closed_form_period_set_per_env_before_and_after_prepare_sim(arm):
    """Tendon length c q, spring force k (c q - L0): the hinge swings about L0 / c at
    omega = c sqrt(k / I); four times the stiffness halves the period, whether set before
    ``prepare_sim`` or after."""
    gym, sim, asset = arm
    envs = _envs(gym, sim, asset, 3)
    _set(gym, envs[1], 0, stiffness=4 * K)
    gym.prepare_sim(sim)
    _set(gym, envs[2], 0, stiffness=4 * K)
    q = _angles(gym, sim, 6.0)
    for env, k in enumerate((K, 4 * K, 4 * K)):
        x = q[:, env] - REST / COEF
        crossings = np.nonzero(np.diff(np.sign(x)))[0]
        period = 2 * np.mean(np.diff(crossings)) * DT
        assert period == pytest.approx(2 * math.pi / (COEF * math.sqrt(k / INERTIA)), rel=0.01), env
        assert x.max() == pytest.approx(REST / COEF, rel=0.02)  # swings from 0 through L0 / c and back


def test_limit_stiffness_makes_the_stop_a_spring_of_that_stiffness(arm):
    """A torque tau against the stop: the file's limit holds the hinge at 0.2 rad; with
    ``limit_stiffness`` K it rests at 0.2 + tau / K (set before or after ``prepare_sim``)."""
    gym, sim, asset = arm
    props = gym.get_asset_tendon_properties(asset)
    props[0].stiffness = 0.0  # the asset's spring off, for the actors created afterwards
    gym.set_asset_tendon_properties(asset, props)
    envs = _envs(gym, sim, asset, 3, joint_damping=2.0)
    _set(gym, envs[1], 1, limit_stiffness=20.0, damping=1.0)
    gym.prepare_sim(sim)
    _set(gym, envs[2], 1, limit_stiffness=50.0, damping=1.0)
    torque = 1.0
    q = _angles(gym, sim, 5.0, torque)[-50:].mean(0)
    assert q[0] == pytest.approx(STOP, abs=1e-3)
    assert q[1] - STOP == pytest.approx(torque / 20.0, rel=0.03)
    assert q[2] - STOP == pytest.approx(torque / 50.0, rel=0.03)


def test_what_the_shared_model_compiles_in_cannot_differ_per_actor(arm):
    gym, sim, asset = arm
    (env,) = _envs(gym, sim, asset, 1)
    with pytest.raises(ValueError, match="fixed_spring_rest_length is compiled into the model .* set_asset_tendon"):
        _set(gym, env, 0, fixed_spring_rest_length=0.1)
    with pytest.raises(ValueError, match="1 tendon properties for actor arm with 2 tendons"):
        gym.set_actor_tendon_properties(env, 0, gym.get_actor_tendon_properties(env, 0)[:1])

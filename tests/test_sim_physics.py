"""The Newton backend against closed-form physics, through the isaacgym API."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import build_cartpole

from mytasks.sim import gymapi, gymtorch

M_CART, M_POLE, POLE_COM = 1.0, 0.1, 0.5  # assets/urdf/cartpole.urdf
I_POLE_COM = 0.008346


def _pole_drive(props, stiffness, damping, effort):
    props["driveMode"][1] = gymapi.DOF_MODE_POS
    props["stiffness"][1] = stiffness
    props["damping"][1] = damping
    props["effort"][1] = effort


def _stiff_pole(props):
    _pole_drive(props, 1.0e5, 1.0e3, 1.0e6)


def test_constant_force_accelerates_cart_at_f_over_m():
    """A 2 N push on the cart with the pole held rigid by a stiff drive: x = F t² / (2 (m_c + m_p))."""

    def drive(props):
        props["driveMode"][0] = gymapi.DOF_MODE_EFFORT
        _stiff_pole(props)

    gym, sim, _, _ = build_cartpole(2, drive=drive, gravity=0.0, dt=0.01, substeps=2)
    dof = gymtorch.wrap_tensor(gym.acquire_dof_state_tensor(sim)).view(2, 2, 2)
    force = torch.zeros(4)
    force[0] = 2.0  # env 0's cart; env 1 stays at rest
    gym.set_dof_actuation_force_tensor(sim, gymtorch.unwrap_tensor(force))
    steps = 100
    for _ in range(steps):
        gym.simulate(sim)
    gym.refresh_dof_state_tensor(sim)
    t = steps * 0.01
    a = 2.0 / (M_CART + M_POLE)
    assert dof[0, 0, 0].item() == pytest.approx(0.5 * a * t * t, rel=0.01)
    assert dof[0, 0, 1].item() == pytest.approx(a * t, rel=0.01)
    assert dof[1, 0, 0].item() == pytest.approx(0.0, abs=1e-6)


def test_pendulum_small_angle_period():
    """The pole hanging below a cart held in place swings with T = 2π sqrt(I_pivot / (m g d))."""

    def drive(props):
        props["driveMode"][0] = gymapi.DOF_MODE_POS
        props["stiffness"][0] = 1.0e6
        props["damping"][0] = 1.0e4
        props["effort"][0] = 1.0e7

    dt = 0.002
    gym, sim, _, _ = build_cartpole(1, drive=drive, dt=dt, substeps=1)
    dof_t = gymtorch.wrap_tensor(gym.acquire_dof_state_tensor(sim))
    dof = dof_t.view(1, 2, 2)
    dof[0, 1, 0] = math.pi + 0.05  # hanging down, 0.05 rad off
    gym.set_dof_state_tensor(sim, gymtorch.unwrap_tensor(dof_t))
    angles = []
    for _ in range(int(4.0 / dt)):
        gym.simulate(sim)
        gym.refresh_dof_state_tensor(sim)
        angles.append(dof[0, 1, 0].item() - math.pi)
    angles = np.array(angles)
    up = np.nonzero((angles[:-1] < 0) & (angles[1:] >= 0))[0]  # upward zero crossings
    period = np.mean(np.diff(up)) * dt
    i_pivot = I_POLE_COM + M_POLE * POLE_COM**2
    expected = 2 * math.pi * math.sqrt(i_pivot / (M_POLE * 9.81 * POLE_COM))
    assert len(up) >= 2
    assert period == pytest.approx(expected, rel=0.01)
    assert np.abs(angles).max() == pytest.approx(0.05, rel=0.05)  # no energy gained or lost


def test_free_fall_and_root_state_layout():
    """A floating body with no ground falls z = z0 - g t² / 2; the root quaternion is x, y, z, w;
    the frame count and sim time are the steps taken and the seconds they span."""
    q = gymapi.Quat.from_axis_angle(gymapi.Vec3(0, 0, 1), math.pi / 2)
    pose = gymapi.Transform(gymapi.Vec3(0.0, 0.0, 5.0), q)
    gym, sim, _, _ = build_cartpole(2, fixed=False, ground=False, dt=0.01, substeps=2, pose_fn=lambda i: pose)
    root = gymtorch.wrap_tensor(gym.acquire_actor_root_state_tensor(sim))
    gym.refresh_actor_root_state_tensor(sim)
    assert root.shape == (2, 13)
    torch.testing.assert_close(root[0, 3:7], torch.tensor([0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4)]))
    steps = 50
    for _ in range(steps):
        gym.simulate(sim)
    gym.refresh_actor_root_state_tensor(sim)
    h, n = 0.005, 2 * steps  # substep length and count
    t = n * h
    assert gym.get_frame_count(sim) == steps and gym.get_sim_time(sim) == pytest.approx(t)
    # Semi-implicit Euler (MuJoCo's) lands exactly on z0 - g h² n (n + 1) / 2, within g h t / 2
    # of the continuous answer z0 - g t² / 2.
    assert root[0, 2].item() == pytest.approx(5.0 - 9.81 * h * h * n * (n + 1) / 2, abs=1e-4)
    assert root[0, 2].item() == pytest.approx(5.0 - 0.5 * 9.81 * t * t, abs=9.81 * h * t / 2 + 1e-4)
    assert root[0, 9].item() == pytest.approx(-9.81 * t, rel=1e-4)  # linear velocity z
    torch.testing.assert_close(root[0, 3:7], torch.tensor([0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4)]))


def test_position_drive_settles_at_target():
    """A critically damped PD drive on the pole holds it at its position target against gravity."""

    def drive(props):
        props["driveMode"][0] = gymapi.DOF_MODE_POS
        props["stiffness"][0] = 1.0e4
        props["damping"][0] = 2.0e2
        _stiff_pole(props)
        props["stiffness"][1] = 400.0
        props["damping"][1] = 10.0

    gym, sim, _, _ = build_cartpole(2, drive=drive, dt=0.005, substeps=2)
    dof = gymtorch.wrap_tensor(gym.acquire_dof_state_tensor(sim)).view(2, 2, 2)
    target = torch.tensor([0.0, 0.3, 0.0, -0.2])
    gym.set_dof_position_target_tensor(sim, gymtorch.unwrap_tensor(target))
    for _ in range(400):
        gym.simulate(sim)
    gym.refresh_dof_state_tensor(sim)
    # Static balance: k (θ* - θ) = m g d sin θ  (gravity pulls the raised pole further over).
    k, mgd = 400.0, M_POLE * 9.81 * POLE_COM
    for env, goal in ((0, 0.3), (1, -0.2)):
        theta = dof[env, 1, 0].item()
        assert k * (goal - theta) == pytest.approx(-mgd * math.sin(theta), abs=2e-3)


def test_a_drive_too_stiff_for_the_substep_settles_like_an_implicit_one():
    """A pole drive of 1e6 N m/rad and no damping, weightless, at dt 10 ms: far past what an
    explicit spring integrates (omega h = 55 about the pivot). As PhysX's implicit drive does,
    it steps to a new target within a few substeps and stays there, neither ringing nor
    diverging: mytasks raises the substeps and gives the DOF the armature and the k h damping
    of an implicit drive."""

    def drive(props):
        props["driveMode"][0] = gymapi.DOF_MODE_NONE
        _pole_drive(props, 1.0e6, 0.0, 1.0e9)

    gym, sim, _, _ = build_cartpole(1, drive=drive, gravity=0.0, dt=0.01, substeps=1)
    dof = gymtorch.wrap_tensor(gym.acquire_dof_state_tensor(sim)).view(1, 2, 2)
    gym.set_dof_position_target_tensor(sim, gymtorch.unwrap_tensor(torch.tensor([0.0, 0.5])))
    angles = []
    for _ in range(20):
        gym.simulate(sim)
        gym.refresh_dof_state_tensor(sim)
        angles.append(dof[0, 1, 0].item())
    assert all(math.isfinite(a) for a in angles)
    assert angles[2:] == pytest.approx([0.5] * 18, abs=5e-3)  # there from the third step on
    assert abs(dof[0, 1, 1].item()) < 0.05  # and at rest


def test_dof_forces_report_drive_and_effort_actuation():
    """The DOF force tensor holds what each DOF's actuator applies: a holding PD drive carries the
    gravity torque m g d sin θ; a saturated one reports its effort limit; an EFFORT DOF reports
    the applied effort."""

    def drive(props):
        props["driveMode"][0] = gymapi.DOF_MODE_EFFORT
        _pole_drive(props, 400.0, 10.0, 1.0e3)

    gym, sim, envs, _ = build_cartpole(2, drive=drive, dt=0.005, substeps=2)
    limited = gym.get_actor_dof_properties(envs[1], 0)
    limited["effort"][1] = 0.2  # below m g d = 0.49 N·m: cannot hold the pole level
    gym.set_actor_dof_properties(envs[1], 0, limited)
    dof = gymtorch.wrap_tensor(gym.acquire_dof_state_tensor(sim)).view(2, 2, 2)
    forces = gymtorch.wrap_tensor(gym.acquire_dof_force_tensor(sim)).view(2, 2)
    gym.set_dof_position_target_tensor(sim, gymtorch.unwrap_tensor(torch.tensor([0.0, 0.3, 0.0, math.pi / 2])))
    for _ in range(400):
        gym.simulate(sim)
    gym.refresh_dof_state_tensor(sim)
    gym.refresh_dof_force_tensor(sim)
    mgd = M_POLE * 9.81 * POLE_COM
    theta = dof[0, 1, 0].item()
    assert forces[0, 1].item() == pytest.approx(400.0 * (0.3 - theta), abs=1e-3)
    assert forces[0, 1].item() == pytest.approx(-mgd * math.sin(theta), abs=2e-3)
    assert abs(forces[1, 1].item()) == pytest.approx(0.2, abs=1e-5)
    push = torch.tensor([1.5, 7.0, -2.5, 7.0])  # the pole entries must not act: they are PD-driven
    gym.set_dof_actuation_force_tensor(sim, gymtorch.unwrap_tensor(push))
    gym.simulate(sim)
    gym.refresh_dof_force_tensor(sim)
    assert forces[:, 0].tolist() == pytest.approx([1.5, -2.5])
    assert abs(forces[1, 1].item()) == pytest.approx(0.2, abs=1e-5)


@pytest.mark.parametrize("tau", [None, 0.005])  # Newton's 0.02 s, and sim.newton.contact_timeconst
def test_a_ball_landing_fast_sinks_as_the_soft_contact_predicts_and_hardly_bounces(tau):
    """Contacts are MuJoCo's soft ones (solref 0.02 s, critically damped, impedance d = 0.95), not
    PhysX's rigid ones: a body landing at speed sinks into what it lands on before it stops. The
    contact blends its reference acceleration with the free one, x'' = (1 - d) g - 2 w x' - w² x
    with w = 1 / 0.02 s, so the ball sinks about v / (w e), deepest at about 1 / w.
    ``sim.newton.contact_timeconst`` sets that time constant. The ball then comes back out, at
    0.02 s without leaving the surface, at 5 ms with a restitution of about 0.1 (PhysX's is 0
    here), and rests within a millimetre of it."""
    gym = gymapi.acquire_gym()
    sp = gymapi.SimParams()
    sp.use_gpu_pipeline = False
    sp.dt, sp.substeps, sp.up_axis = (tau or 0.02) / 20, 1, gymapi.UP_AXIS_Z  # 20 steps a time constant
    sp.newton.contact_timeconst = tau
    sim = gym.create_sim(-1, -1, gymapi.SIM_NEWTON, sp)
    plane = gymapi.PlaneParams()
    plane.normal = gymapi.Vec3(0, 0, 1)
    gym.add_ground(sim, plane)
    opts = gymapi.AssetOptions()
    opts.density = 200.0  # BallBalance's ball: 0.1 m, 0.84 kg
    ball = gym.create_sphere(sim, 0.1, opts)
    speeds = (2.0, 5.0)
    for i in range(len(speeds)):
        env = gym.create_env(sim, gymapi.Vec3(0, 0, 0), gymapi.Vec3(0, 0, 0), 1)
        gym.create_actor(env, ball, gymapi.Transform(gymapi.Vec3(0.0, 0.0, 0.1)), "ball", i, 0, 0)
    gym.prepare_sim(sim)
    root = gymtorch.wrap_tensor(gym.acquire_actor_root_state_tensor(sim))
    gym.refresh_actor_root_state_tensor(sim)
    root[:, 9] = -torch.tensor(speeds)  # touching the ground, moving down
    gym.set_actor_root_state_tensor(sim, gymtorch.unwrap_tensor(root))
    z = []
    for _ in range(round(0.3 / sp.dt)):
        gym.simulate(sim)
        gym.refresh_actor_root_state_tensor(sim)
        z.append(root[:, 2].clone())
    z = torch.stack(z)
    g, w = 0.05 * 9.81, 1.0 / (tau or 0.02)
    for i, v in enumerate(speeds):
        a, b = -g / w**2, v - g / w  # x = g / w² + (a + b t) e^(-w t), x(0) = 0, x'(0) = v
        t = 1.0 / w - a / b  # where x' = 0
        deepest = g / w**2 + (a + b * t) * math.exp(-w * t)
        sunk = 0.1 - z[:, i]
        assert sunk.max().item() == pytest.approx(deepest, rel=0.03)
        assert (int(sunk.argmax()) + 1) * sp.dt == pytest.approx(t, abs=1.5 * sp.dt)
        after = z[int(sunk.argmax()) :, i]
        rebound = max(0.0, after.max().item() - 0.1)
        assert math.sqrt(2 * 9.81 * rebound) < (0.15 if tau else 0.02) * v  # the restitution
        assert abs(z[-1, i].item() - 0.1) < 1e-3  # at rest on the surface

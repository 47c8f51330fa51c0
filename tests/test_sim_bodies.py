"""Rigid-body forces, force sensors and attractors against closed-form physics, through the
isaacgym API (the calls upstream IsaacGymEnvs tasks make: Quadcopter's body forces, Ant's and
Humanoid's foot sensors, BallBalance's attractors). One 0.2 m box of 8 kg per env."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mytasks.sim import gymapi, gymtorch

SIDE, DENSITY = 0.2, 1000.0
MASS = DENSITY * SIDE**3  # 8 kg
INERTIA = MASS * (2 * SIDE**2) / 12  # about any face axis through the centre
G = 9.81


CENTRE = gymapi.Transform()


def _boxes(poses, *, gravity=-G, ground=True, sensors=(CENTRE,), attractor=None, dt=0.01, per_env=1, **newton):
    """A sim with a box at each env-frame pose, its force sensors at ``sensors`` (body frame);
    ``attractor(env, box)`` may add one attractor per env before ``prepare_sim``; ``per_env``
    boxes share an env; ``newton``: ``SimParams.newton`` settings."""
    gym, sim = _sim(gravity=gravity, dt=dt, ground=ground, **newton)
    opts = gymapi.AssetOptions()
    opts.density = DENSITY
    asset = gym.create_box(sim, SIDE, SIDE, SIDE, opts)
    for pose in sensors:
        gym.create_asset_force_sensor(asset, 0, pose)
    envs, attractors = [], []
    for i in range(0, len(poses), per_env):
        env = gym.create_env(sim, gymapi.Vec3(-1, -1, 0), gymapi.Vec3(1, 1, 1), len(poses))
        for k, pose in enumerate(poses[i : i + per_env]):
            box = gym.create_actor(env, asset, pose, f"box{k}", i, 0, 0)
        if attractor:
            attractors.append(attractor(env, gym.get_actor_rigid_body_handle(env, box, 0)))
        envs.append(env)
    gym.prepare_sim(sim)
    bodies = gymtorch.wrap_tensor(gym.acquire_rigid_body_state_tensor(sim))
    sensor = gymtorch.wrap_tensor(gym.acquire_force_sensor_tensor(sim))
    return gym, sim, envs, attractors, bodies, sensor


def _sim(*, gravity=-G, dt=0.01, ground=True, **newton):
    gym = gymapi.acquire_gym()
    sp = gymapi.SimParams()
    sp.use_gpu_pipeline = False
    sp.dt, sp.substeps, sp.up_axis = dt, 1, gymapi.UP_AXIS_Z
    sp.gravity = gymapi.Vec3(0.0, 0.0, gravity)
    for key, value in newton.items():
        setattr(sp.newton, key, value)
    sim = gym.create_sim(-1, -1, gymapi.SIM_NEWTON, sp)
    if ground:
        gym.add_ground(sim, gymapi.PlaneParams())
    return gym, sim


def _at(x=0.0, y=0.0, z=SIDE / 2, yaw=0.0):
    return gymapi.Transform(gymapi.Vec3(x, y, z), gymapi.Quat.from_axis_angle(gymapi.Vec3(0, 0, 1), yaw))


def _run(gym, sim, steps, each=None):
    for _ in range(steps):
        if each:
            each()
        gym.simulate(sim)
        gym.fetch_results(sim, True)
    gym.refresh_rigid_body_state_tensor(sim)
    gym.refresh_force_sensor_tensor(sim)


def test_a_box_resting_on_the_ground_senses_its_weight_about_each_sensor():
    """Everything but gravity on a resting box is the ground's m g upward, through the centre:
    a sensor at the centre reads (0, 0, m g) and no torque; one 0.1 m along x reads the same
    force and the torque (c - p) x F = (0, 0.1 m g, 0)."""
    offset = gymapi.Transform(gymapi.Vec3(0.1, 0.0, 0.0))
    gym, sim, _, _, _, sensor = _boxes([_at(z=SIDE / 2 + 0.002)] * 2, sensors=(CENTRE, offset))
    assert gym.get_sim_force_sensor_count(sim) == 4 and sensor.shape == (4, 6)
    _run(gym, sim, 100)
    weight = MASS * G
    for k in (0, 1):  # the sensors of env 0, then env 1
        torch.testing.assert_close(sensor[2 * k, :3], torch.tensor([0.0, 0.0, weight]), atol=0.02 * weight, rtol=0)
        assert sensor[2 * k, 3:].abs().max() < 0.01 * weight * SIDE
        torch.testing.assert_close(sensor[2 * k + 1, :3], sensor[2 * k, :3])
        torch.testing.assert_close(sensor[2 * k + 1, 3:], torch.tensor([0.0, 0.1 * weight, 0.0]),
                                   atol=0.02 * 0.1 * weight, rtol=0)  # fmt: skip


@pytest.mark.parametrize("space, direction", [(gymapi.ENV_SPACE, (1.0, 0.0)), (gymapi.LOCAL_SPACE, (0.0, 1.0))])
def test_a_pushed_free_box_moves_as_f_over_m_in_the_frame_asked_for(space, direction):
    """Weightless, a box turned 90 deg about z pushed by 4 N along x for 1 s: v = F t / m and
    x = F t^2 / (2 m), along the world's x in ENV_SPACE and along the box's own x (the world's
    y) in LOCAL_SPACE. Forces last one simulate, so they are given before each."""
    gym, sim, _, _, bodies, sensor = _boxes([_at(z=1.0, yaw=math.pi / 2)], gravity=0.0, ground=False)
    force = torch.tensor([[4.0, 0.0, 0.0]])
    _run(gym, sim, 100, lambda: gym.apply_rigid_body_force_tensors(sim, gymtorch.unwrap_tensor(force), None, space))
    dx, dy = direction
    v = 4.0 * 1.0 / MASS
    torch.testing.assert_close(bodies[0, 7:10], torch.tensor([dx * v, dy * v, 0.0]), atol=0.01 * v, rtol=0)
    torch.testing.assert_close(bodies[0, 0:2], torch.tensor([dx, dy]) * 0.5 * v, atol=0.02 * 0.5 * v, rtol=0)
    assert bodies[0, 10:13].abs().max() < 1e-3  # through the centre: no turning
    # The sensor (at the centre, in the box's frame) reads the push along the box's axes.
    local = [4.0, 0.0, 0.0] if space == gymapi.LOCAL_SPACE else [0.0, -4.0, 0.0]
    torch.testing.assert_close(sensor[0], torch.tensor([*local, 0.0, 0.0, 0.0]), atol=0.04, rtol=0)
    gym.simulate(sim)  # a step without a push: nothing is applied any more
    gym.refresh_force_sensor_tensor(sim)
    assert sensor[0].abs().max() < 1e-3


@pytest.mark.parametrize("space, axis", [(gymapi.ENV_SPACE, 0), (gymapi.LOCAL_SPACE, 1)])
def test_a_torque_spins_a_free_box_at_tau_over_i(space, axis):
    """A torque of I N m about x for 1 s on the weightless box turned 90 deg about z: omega =
    tau t / I = 1 rad/s about the world's x (ENV_SPACE) or the box's x, the world's y (LOCAL_SPACE)."""
    gym, sim, _, _, bodies, _ = _boxes([_at(z=1.0, yaw=math.pi / 2)], gravity=0.0, ground=False)
    torque = torch.tensor([[INERTIA, 0.0, 0.0]])
    _run(gym, sim, 100, lambda: gym.apply_rigid_body_force_tensors(sim, None, gymtorch.unwrap_tensor(torque), space))
    expected = torch.zeros(3)
    expected[axis] = 1.0
    torch.testing.assert_close(bodies[0, 10:13], expected, atol=0.01, rtol=0)
    assert bodies[0, 7:10].abs().max() < 1e-3


def test_an_inertia_mujoco_refuses_is_balanced_keeping_its_axes():
    """Principal moments (I, I, 3I) break A + B >= C: PhysX takes them, MuJoCo's compiler refuses
    them (the Allegro hand's links). The shortfall I is added to each moment, so (2I, 2I, 4I):
    for 1 s a torque of 2I about x spins one weightless box, one of 4I about z another, each at
    1 rad/s."""
    gym = gymapi.acquire_gym()
    sp = gymapi.SimParams()
    sp.use_gpu_pipeline, sp.dt, sp.up_axis, sp.gravity = False, 0.01, gymapi.UP_AXIS_Z, gymapi.Vec3(0, 0, 0)
    sim = gym.create_sim(-1, -1, gymapi.SIM_NEWTON, sp)
    asset = gym.create_box(sim, SIDE, SIDE, SIDE, gymapi.AssetOptions())
    for i in range(2):
        env = gym.create_env(sim, gymapi.Vec3(-1, -1, 0), gymapi.Vec3(1, 1, 1), 2)
        box = gym.create_actor(env, asset, _at(z=1.0), "box", i, 0, 0)
        props = gym.get_actor_rigid_body_properties(env, box)
        props[0].mass = MASS
        props[0].inertia = gymapi.Mat33.from_numpy(np.diag([INERTIA, INERTIA, 3 * INERTIA]))
        gym.set_actor_rigid_body_properties(env, box, props, False)
    gym.prepare_sim(sim)
    bodies = gymtorch.wrap_tensor(gym.acquire_rigid_body_state_tensor(sim))
    torques = torch.tensor([[2 * INERTIA, 0.0, 0.0], [0.0, 0.0, 4 * INERTIA]])
    _run(gym, sim, 100, lambda: gym.apply_rigid_body_force_tensors(sim, None, gymtorch.unwrap_tensor(torques)))
    torch.testing.assert_close(bodies[:, 10:13], torch.tensor([[1.0, 0, 0], [0, 0, 1.0]]), atol=0.01, rtol=0)


def test_a_force_at_a_point_off_the_centre_also_turns_the_box():
    """0.4 N along y at 0.1 m along x from the centre, for 1 s: v = F t / m and the torque
    r x F = 0.04 N m about z gives omega = 0.04 t / I."""
    gym, sim, _, _, bodies, _ = _boxes([_at(z=1.0)], gravity=0.0, ground=False)
    force = torch.tensor([[0.0, 0.4, 0.0]])

    def push():
        gym.refresh_rigid_body_state_tensor(sim)
        at = bodies[:, 0:3] + torch.tensor([0.1, 0.0, 0.0])
        gym.apply_rigid_body_force_at_pos_tensors(sim, gymtorch.unwrap_tensor(force), gymtorch.unwrap_tensor(at),
                                                  gymapi.ENV_SPACE)  # fmt: skip

    _run(gym, sim, 100, push)
    assert bodies[0, 8].item() == pytest.approx(0.4 / MASS, rel=0.01)
    assert bodies[0, 12].item() == pytest.approx(0.04 / INERTIA, rel=0.01)


def test_an_attractor_holds_a_hanging_box_at_its_target_and_follows_it():
    """A box held at its centre by a translation attractor hangs where the target is, its
    sensor reading the attractor's m g; moved with set_attractor_target, the box follows."""

    def attract(env, body):
        props = gymapi.AttractorProperties()
        props.rigid_handle = body
        props.axes = gymapi.AXIS_TRANSLATION
        props.stiffness, props.damping = 5e4, 2e3
        props.target = gymapi.Transform(gymapi.Vec3(0.0, 0.0, 1.0))
        return gym.create_rigid_body_attractor(env, props)

    gym = gymapi.acquire_gym()
    _, sim, envs, attractors, bodies, sensor = _boxes([_at(z=1.0)], ground=False, attractor=attract)
    _run(gym, sim, 100)
    torch.testing.assert_close(bodies[0, 0:3], torch.tensor([0.0, 0.0, 1.0]), atol=5e-3, rtol=0)
    assert sensor[0, 2].item() == pytest.approx(MASS * G, rel=0.02)
    gym.set_attractor_target(envs[0], attractors[0], gymapi.Transform(gymapi.Vec3(0.1, 0.05, 1.0)))
    _run(gym, sim, 200)
    torch.testing.assert_close(bodies[0, 0:3], torch.tensor([0.1, 0.05, 1.0]), atol=5e-3, rtol=0)
    assert bodies[0, 7:10].abs().max() < 0.01  # at rest there


def test_running_out_of_contact_capacity_is_one_warning_line(capsys):
    """A stack of four boxes needs 16 contacts; with room for 4 the engine drops some, and says
    so once. Hitting the solver's iteration cap (1 iteration, while the stack settles) is the
    solver stopping early, as PhysX does every step, not lost capacity: no line."""
    stack = [_at(z=SIDE / 2 + k * (SIDE + 0.001)) for k in range(4)]
    gym, sim, *_ = _boxes(stack, per_env=4, nconmax=4, njmax=64)
    _run(gym, sim, 202)
    lines = [x for x in capsys.readouterr().out.splitlines() if "ran out of capacity" in x]
    assert len(lines) == 1 and "narrowphase" in lines[0] and "raise sim.newton.nconmax / njmax" in lines[0], lines
    gym, sim, *_ = _boxes(stack, per_env=4, iterations=1, ls_iterations=1)
    world = sim.world
    capped = False
    for _ in range(40):
        gym.simulate(sim)
        capped = bool(world._observables.overflow.numpy().any())
        if capped:
            break
    assert capped, "the stack never capped the solver's iterations"
    world._check_overflow()  # what the world runs every 100 steps, right after a capped step
    assert "ran out of capacity" not in capsys.readouterr().out


def test_envs_may_hold_different_assets_of_one_structure():
    """Isaac Gym lets each env pick its asset (AllegroKuka gives each env a cuboid of its own
    size): boxes of 0.1, 0.2 and 0.3 m in three envs rest at their own half sides, and the
    sensor under each reads its own weight. Envs whose actors differ in structure are one line."""
    gym, sim = _sim()
    opts = gymapi.AssetOptions()
    opts.density = DENSITY
    sides = (0.1, 0.2, 0.3)
    for side in sides:
        asset = gym.create_box(sim, side, side, side, opts)
        gym.create_asset_force_sensor(asset, 0, CENTRE)
        env = gym.create_env(sim, gymapi.Vec3(-1, -1, 0), gymapi.Vec3(1, 1, 1), 3)
        gym.create_actor(env, asset, _at(z=side / 2 + 0.02), "box", 0, 0, 0)
    gym.prepare_sim(sim)
    bodies = gymtorch.wrap_tensor(gym.acquire_rigid_body_state_tensor(sim))
    sensor = gymtorch.wrap_tensor(gym.acquire_force_sensor_tensor(sim))
    _run(gym, sim, 150)
    for i, side in enumerate(sides):
        assert bodies[i, 2].item() == pytest.approx(side / 2, abs=2e-3), (side, bodies[i, 2])
        assert sensor[i, 2].item() == pytest.approx(DENSITY * side**3 * G, rel=0.02), (side, sensor[i])

    _, sim = _sim()
    box = gym.create_box(sim, SIDE, SIDE, SIDE, opts)
    for count in (1, 2):  # env 1 holds two boxes
        env = gym.create_env(sim, gymapi.Vec3(-1, -1, 0), gymapi.Vec3(1, 1, 1), 2)
        for k in range(count):
            gym.create_actor(env, box, _at(x=0.5 * k), f"box{k}", 0, 0, 0)
    with pytest.raises(NotImplementedError, match="env 1 holds actors of another structure than env 0's"):
        gym.prepare_sim(sim)


_CUBE_OBJ = "".join(f"v {x} {y} {z}\n" for x in (-0.05, 0.05) for y in (-0.05, 0.05) for z in (-0.05, 0.05)) + (
    "f 1 3 4 2\nf 5 6 8 7\nf 1 2 6 5\nf 3 7 8 4\nf 1 5 7 3\nf 2 4 8 6\n"
)


def test_a_urdf_mesh_named_from_the_folder_above_is_found_and_collides(tmp_path):
    """Upstream's Kuka-Allegro URDF names its meshes from the folder that holds its own folder
    (``kuka_allegro_description/meshes/...``): the link keeps its shape, and a 0.1 m cube of
    it dropped on the ground rests at 0.05 m."""
    (tmp_path / "bot" / "meshes").mkdir(parents=True)
    (tmp_path / "bot" / "meshes" / "cube.obj").write_text(_CUBE_OBJ)
    (tmp_path / "bot" / "bot.urdf").write_text(
        '<robot name="bot"><link name="cube"><inertial><mass value="1"/>'
        '<inertia ixx="0.0017" iyy="0.0017" izz="0.0017" ixy="0" ixz="0" iyz="0"/></inertial>'
        '<collision><geometry><mesh filename="bot/meshes/cube.obj"/></geometry></collision></link></robot>'
    )
    gym, sim = _sim()
    asset = gym.load_asset(sim, str(tmp_path), "bot/bot.urdf", gymapi.AssetOptions())
    assert gym.get_asset_rigid_shape_count(asset) == 1
    env = gym.create_env(sim, gymapi.Vec3(-1, -1, 0), gymapi.Vec3(1, 1, 1), 1)
    gym.create_actor(env, asset, _at(z=0.07), "cube", 0, 0, 0)
    gym.prepare_sim(sim)
    bodies = gymtorch.wrap_tensor(gym.acquire_rigid_body_state_tensor(sim))
    _run(gym, sim, 150)
    assert bodies[0, 2].item() == pytest.approx(0.05, abs=2e-3)

"""The Newton model of a recorded scene: one world per env, envs of one layout (the same assets
in the same order) replicated in one batched pass, then the ground and the height fields.

Envs may hold different assets, as in Isaac Gym, where their structure is the same (MuJoCo
batches worlds of one model): each run of envs of one layout is replicated from its own
builder. The per-env offsets that index the model's arrays are the same in every env.
"""

from __future__ import annotations

from mytasks.sim import types as gt
from mytasks.sim.newton_backend.bodies import add_attractor_joints
from mytasks.sim.newton_backend.terrain import add_heightfield


def env_layouts(sim) -> list:
    """Each env's layout (``Env.layout``), once every env is known to share env 0's structure;
    otherwise the one line naming the first env that does not."""
    layouts = [env.layout() for env in sim.envs]
    if any(layout != layouts[0] for layout in layouts):
        structure = sim.envs[0].structure()
        for env, layout in zip(sim.envs, layouts, strict=True):
            if layout != layouts[0] and env.structure() != structure:
                raise NotImplementedError(
                    f"env {env.index} holds actors of another structure than env 0's; the Newton "
                    "backend needs every env's actors to have, in the same order, the same bodies, "
                    "joints, shapes and force sensors (their sizes, meshes, poses and properties may differ)"
                )
    return layouts


def build_model(world, newton, layouts: list):
    """The finalized model; sets the world's per-env sizes and per-actor offsets."""
    sim, n = world.sim, world.num_envs
    up = newton.Axis.Z if world.params.up_axis == gt.UP_AXIS_Z else newton.Axis.Y
    gravity = tuple(world.params.gravity)
    env_b, world.attractor_joints = _env_builder(newton, sim.envs[0], up, gravity)
    world.env_coords, world.env_qd, world.env_joints, world.env_tendons = [], [], [], []
    world.tendons_per_env = coords = qd = joints = 0
    for actor in sim.envs[0].actors:
        _, joint_types, n_q, n_qd, _, n_tendons, _ = actor.asset.structure(actor.self_collisions)
        world.env_coords.append(coords)
        world.env_qd.append(qd)
        world.env_joints.append(joints)
        world.env_tendons.append(world.tendons_per_env)
        coords, qd, joints = coords + n_q, qd + n_qd, joints + len(joint_types)
        world.tendons_per_env += n_tendons
    world.coords_per_env = len(env_b.joint_q)
    world.qd_per_env = len(env_b.joint_qd)
    world.joints_per_env = len(env_b.joint_type)
    world.bodies_per_env = len(env_b.body_mass)
    world.shapes_per_env = len(env_b.shape_type)
    scene = newton.ModelBuilder(up_axis=up, gravity=gravity)
    scene.rigid_gap = 0.0
    builders = {layouts[0]: env_b}
    start = 0
    for i in range(1, n + 1):
        if i == n or layouts[i] != layouts[start]:
            if layouts[start] not in builders:
                builders[layouts[start]] = _env_builder(newton, sim.envs[start], up, gravity)[0]
            scene.replicate(builders[layouts[start]], i - start)
            start = i
    if sim.ground is not None:
        pp = sim.ground
        cfg = newton.ModelBuilder.ShapeConfig(mu=pp.static_friction, restitution=pp.restitution)
        scene.add_ground_plane(cfg=cfg)
    for hf in sim.heightfields:
        add_heightfield(newton, scene, hf)
    model = scene.finalize(device=world.device)
    assert model.body_count == n * world.bodies_per_env
    assert model.joint_dof_count == n * world.qd_per_env
    return model


def _env_builder(newton, env, up, gravity):
    """One env's builder (its actors' assets in order, then its attractors) and the
    attractors' joints in it."""
    env_b = newton.ModelBuilder(up_axis=up, gravity=gravity)
    env_b.rigid_gap = 0.0
    for actor in env.actors:
        env_b.add_builder(actor.asset.builder(actor.self_collisions))
    attractor_joints = add_attractor_joints(env_b, env)
    env_b.gravity = gravity  # add_builder hands each asset's default gravity on to env_b
    return env_b, attractor_joints

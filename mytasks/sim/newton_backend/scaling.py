"""``set_actor_scale``: an actor made larger or smaller as a whole, before ``prepare_sim``.

Its shapes' sizes and their offsets in their bodies, the offsets of its joints (all but the
root's placement in its env) and its bodies' centres of mass scale by ``s``; masses by s^3 and
inertias by s^5 (the same density), written into the actor's body properties when the scale is
set. MuJoCo compiles mesh shapes once for every env, so an actor with a mesh collision shape
takes no scale but 1 (one line); primitives (boxes, spheres, capsules, cylinders) take any.
"""

from __future__ import annotations

import copy

import numpy as np

from mytasks.sim import types as gt


def scale_body_properties(actor, s: float) -> None:
    """The mass properties of ``actor``'s bodies for a scale ``s`` from the one they have."""
    ratio = s / actor.scale
    actor.body_props = [copy.deepcopy(p) for p in actor.body_props]  # shared with the asset until set
    for p in actor.body_props:
        p.mass = p.mass * ratio**3
        p.invMass = p.invMass / ratio**3 if p.invMass else 0.0
        p.com = gt.Vec3(p.com.x * ratio, p.com.y * ratio, p.com.z * ratio)
        p.inertia = gt.Mat33.from_numpy(p.inertia.to_numpy() * ratio**5)
        p.invInertia = gt.Mat33.from_numpy(p.invInertia.to_numpy() / ratio**5)


def check_scalable(actor, s: float) -> None:
    import newton

    b = actor.asset.builder(actor.self_collisions)
    mesh = int(newton.GeoType.MESH), int(newton.GeoType.CONVEX_MESH)
    collides = int(newton.ShapeFlags.COLLIDE_SHAPES)
    if s != 1.0 and any(int(t) in mesh and int(f) & collides for t, f in zip(b.shape_type, b.shape_flags, strict=True)):
        raise NotImplementedError(
            f"set_actor_scale({s:g}) on actor '{actor.name}': it collides with a mesh, which MuJoCo compiles "
            "once for every env; the Newton backend scales actors made of primitive shapes only"
        )


def write_scales(world, actors) -> None:
    """Writes the scaled shapes and joint offsets of ``actors`` (scale not 1) into the model."""
    scaled = [a for a in actors if a.scale != 1.0]
    if not scaled:
        return
    m = world.model
    size, shape_x = m.shape_scale.numpy(), m.shape_transform.numpy()
    x_p, x_c = m.joint_X_p.numpy(), m.joint_X_c.numpy()
    for actor in scaled:
        s = actor.scale
        first = world.actor_first_shape(actor)
        rows = np.arange(first, first + actor.asset.model_shape_count)
        size[rows] *= s
        shape_x[rows, :3] *= s
        root = world.actor_root_joint(actor)
        joints = np.arange(root, root + len(actor.asset.joint_names))
        x_c[joints, :3] *= s
        x_p[joints[1:], :3] *= s  # the root joint places the actor in its env: not scaled
    m.shape_scale.assign(size)
    m.shape_transform.assign(shape_x)
    m.joint_X_p.assign(x_p)
    m.joint_X_c.assign(x_c)

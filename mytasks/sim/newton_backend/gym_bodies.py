"""The Gym's calls for procedural assets, joints and actuators, rigid bodies (and their colours
in the viewers), forces, force sensors, attractors and aggregates (a mixin of ``gym.Gym``; see
bodies.py for the physics).

Aggregates group an env's actors for PhysX's broad phase; Newton needs no such grouping, so
``begin_aggregate``/``end_aggregate`` accept the call and change nothing.
"""

from __future__ import annotations

from copy import deepcopy

from mytasks.sim import types as gt
from mytasks.sim.newton_backend import scaling
from mytasks.sim.newton_backend.assets import Asset, ForceSensor, Procedural
from mytasks.sim.newton_backend.gymtorch import TensorHandle, _tensor


class BodyCalls:
    # ------------------------------------------------------------------ procedural assets
    def create_box(self, sim, width: float, height: float, depth: float, options: gt.AssetOptions | None = None):
        """A box of full extents ``width`` (x), ``height`` (y), ``depth`` (z) [m]."""
        return Asset(Procedural("box", (width, height, depth)), options or gt.AssetOptions())

    def create_sphere(self, sim, radius: float, options: gt.AssetOptions | None = None):
        return Asset(Procedural("sphere", (radius,)), options or gt.AssetOptions())

    def create_capsule(self, sim, radius: float, length: float, options: gt.AssetOptions | None = None):
        """A capsule along x: ``length`` of its cylinder part plus two hemispheres of ``radius``."""
        return Asset(Procedural("capsule", (radius, length)), options or gt.AssetOptions())

    # ------------------------------------------------------------------ joints, actuators, bodies
    def get_asset_joint_count(self, asset: Asset) -> int:
        return len(asset.link_joints)

    def get_asset_joint_names(self, asset: Asset) -> list[str]:
        """Joint ``i`` joins link ``i + 1`` to its parent (Isaac Gym's order; the root has none)."""
        return [asset.joint_names[j] for j in asset.link_joints]

    def get_asset_joint_name(self, asset: Asset, index: int) -> str:
        return self.get_asset_joint_names(asset)[index]

    def get_asset_joint_dict(self, asset: Asset) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.get_asset_joint_names(asset))}

    def find_asset_joint_index(self, asset: Asset, name: str) -> int:
        return self.get_asset_joint_dict(asset).get(name, -1)

    def get_actor_joint_count(self, env, actor: int) -> int:
        return self.get_asset_joint_count(env.actors[actor].asset)

    def get_actor_joint_names(self, env, actor: int) -> list[str]:
        return self.get_asset_joint_names(env.actors[actor].asset)

    def get_actor_joint_dict(self, env, actor: int) -> dict[str, int]:
        return self.get_asset_joint_dict(env.actors[actor].asset)

    def get_actor_dof_dict(self, env, actor: int) -> dict[str, int]:
        return self.get_asset_dof_dict(env.actors[actor].asset)

    def get_actor_rigid_body_dict(self, env, actor: int) -> dict[str, int]:
        return self.get_asset_rigid_body_dict(env.actors[actor].asset)

    def get_asset_rigid_body_name(self, asset: Asset, index: int) -> str:
        return asset.body_names[index]

    def get_asset_actuator_count(self, asset: Asset) -> int:
        return len(asset.actuators)

    def get_asset_actuator_properties(self, asset: Asset) -> list[gt.ActuatorProperties]:
        return [gt.ActuatorProperties(**vars(p)) for _, _, p in asset.actuators]

    def get_asset_actuator_name(self, asset: Asset, index: int) -> str:
        return asset.actuators[index][1]

    def get_asset_actuator_joint_name(self, asset: Asset, index: int) -> str:
        dof = asset.actuators[index][0]
        return asset.dof_names[dof] if dof >= 0 else ""

    def set_rigid_body_color(self, env, actor, body, mesh_type, color) -> None:
        """The colour (RGB in [0, 1]) the viewers draw the body's shapes in (its
        visual and collision shapes alike: ``mesh_type`` is accepted as Isaac Gym takes it)."""
        a = env.actors[actor]
        if not 0 <= int(body) < a.asset.body_count:
            raise IndexError(f"set_rigid_body_color: actor {a.name} has no body {body} ({a.asset.body_count} bodies)")
        a.body_colors[int(body)] = tuple(float(c) for c in tuple(color))
        world = self._sim_of(env).world
        if world is not None:
            write_body_colors(world, [a])

    def debug_print_asset(self, asset: Asset) -> None:
        print(f"asset {asset.path}: {asset.body_count} bodies, {asset.dof_count} DOFs, {asset.shape_count} shapes")
        for i, name in enumerate(asset.body_names):
            print(f"  body {i:3d} {name} mass {asset.body_properties[i].mass:.4g} kg")
        for i, name in enumerate(asset.dof_names):
            p = asset.dof_properties[i]
            print(f"  dof  {i:3d} {name} limits [{p['lower']:.4g}, {p['upper']:.4g}] armature {p['armature']:.4g}")

    def get_actor_rigid_body_properties(self, env, actor: int) -> list[gt.RigidBodyProperties]:
        return [deepcopy(p) for p in env.actors[actor].body_props]

    def set_actor_rigid_body_properties(self, env, actor: int, props, recomputeInertia: bool = False) -> bool:
        """``recomputeInertia``: a body whose mass changes while its inertia is given as it was
        keeps its mass distribution (the inertia scales with the mass), as Isaac Gym's does."""
        a = env.actors[actor]
        if len(props) != a.asset.body_count:
            raise ValueError(f"{len(props)} rigid body properties for an actor with {a.asset.body_count} bodies")
        new = [deepcopy(p) for p in props]
        if recomputeInertia:
            for p, old in zip(new, a.body_props, strict=True):
                same_inertia = (p.inertia.to_numpy() == old.inertia.to_numpy()).all()
                if old.mass > 0 and p.mass != old.mass and same_inertia:
                    p.inertia = gt.Mat33.from_numpy(old.inertia.to_numpy() * (p.mass / old.mass))
        a.body_props = new
        world = env._sim.world
        if world is not None:
            world.bodies.write_properties([a])
            world.notify_properties_changed(bodies=True)
        return True

    def set_actor_scale(self, env, actor: int, scale: float) -> bool:
        """The actor larger or smaller as a whole (``scaling.py``), before ``prepare_sim``."""
        a = env.actors[actor]
        scale = gt.real(scale)
        if env._sim.world is not None:
            raise RuntimeError("set_actor_scale after prepare_sim: the Newton backend scales actors before it "
                               "(IsaacGymEnvs' randomisation does with setup_only: True)")  # fmt: skip
        if scale <= 0:
            raise ValueError(f"set_actor_scale({scale:g}): a scale must be positive")
        scaling.check_scalable(a, scale)
        scaling.scale_body_properties(a, scale)
        a.scale = scale
        return True

    def get_actor_scale(self, env, actor: int) -> float:
        return env.actors[actor].scale

    def get_rigid_handle(self, env, actor_name: str, body_name: str) -> int:
        for a in env.actors:
            if a.name == actor_name:
                return self.find_actor_rigid_body_handle(env, a.handle, body_name)
        return -1

    def find_actor_handle(self, env, name: str) -> int:
        return next((a.handle for a in env.actors if a.name == name), -1)

    def get_actor_handle(self, env, index: int) -> int:
        return env.actors[index].handle

    def get_actor_name(self, env, actor: int) -> str:
        return env.actors[actor].name

    def get_rigid_transform(self, env, handle: int) -> gt.Transform:
        """The pose of env body ``handle`` in the env's frame; before ``prepare_sim`` as the scene
        places it (the asset in its default configuration at the actor's pose)."""
        actor = next((a for a in env.actors if a.body_offset <= handle < a.body_offset + a.asset.body_count), None)
        if actor is None:
            raise IndexError(f"env {env.index} has no rigid body {handle}")
        world = env._sim.world
        if world is not None:
            world.tensors.update_bodies()
            return gt.Transform.from_buffer(world.tensors.body_q[env.index * world.bodies_per_env + handle].tolist())
        body_q = actor.asset.builder(actor.self_collisions).body_q
        root, body = gt.Transform.from_buffer(body_q[0]), gt.Transform.from_buffer(body_q[handle - actor.body_offset])
        return actor.pose * (root.inverse() * body)

    # ------------------------------------------------------------------ forces
    def apply_rigid_body_force_tensors(self, sim, forceTensor=None, torqueTensor=None, space=gt.ENV_SPACE) -> bool:
        """Forces and torques (num_bodies x 3 each, or None) on every body's centre of mass for
        the next ``simulate``: world (ENV_SPACE, GLOBAL_SPACE) or body (LOCAL_SPACE) frame."""
        f = None if forceTensor is None else _tensor(forceTensor)
        t = None if torqueTensor is None else _tensor(torqueTensor)
        self._world(sim).bodies.apply(f, t, space)
        return True

    def apply_rigid_body_force_at_pos_tensors(self, sim, forceTensor, posTensor=None, space=gt.ENV_SPACE) -> bool:
        """Forces applied at points ``posTensor`` (env frame, or body frame with LOCAL_SPACE);
        without points, at the centres of mass."""
        p = None if posTensor is None else _tensor(posTensor)
        self._world(sim).bodies.apply(_tensor(forceTensor), None, space, positions=p)
        return True

    # ------------------------------------------------------------------ force sensors
    def create_asset_force_sensor(self, asset: Asset, body: int, local_pose: gt.Transform,
                                  props: gt.ForceSensorProperties | None = None) -> int:  # fmt: skip
        """A 6-axis force sensor on ``body`` at ``local_pose`` (body frame); every actor of the
        asset created afterwards carries it. Returns its index within the asset."""
        if not 0 <= body < asset.body_count:
            raise IndexError(f"asset {asset.path} has no rigid body {body}")
        pose = gt.Transform(gt.Vec3(*local_pose.p), gt.Quat(*local_pose.r))
        asset.force_sensors.append(ForceSensor(body, pose, props or gt.ForceSensorProperties()))
        return len(asset.force_sensors) - 1

    def get_asset_force_sensor_count(self, asset: Asset) -> int:
        return len(asset.force_sensors)

    def get_actor_force_sensor_count(self, env, actor: int) -> int:
        return len(env.actors[actor].asset.force_sensors)

    def get_sim_force_sensor_count(self, sim) -> int:
        return sum(len(a.asset.force_sensors) for a in sim.all_actors())

    def acquire_force_sensor_tensor(self, sim) -> TensorHandle:
        """(num_sensors, 6): force [N] then torque [N·m] of each sensor, env by env."""
        return TensorHandle(self._world(sim).bodies.enable_sensors())

    def refresh_force_sensor_tensor(self, sim) -> None:
        self._world(sim).bodies.refresh_sensors()

    # ------------------------------------------------------------------ attractors
    def create_rigid_body_attractor(self, env, props: gt.AttractorProperties) -> int:
        if env._sim.world is not None:
            raise RuntimeError("create_rigid_body_attractor after prepare_sim: build the whole scene first")
        env.attractors.append(deepcopy(props))
        return len(env.attractors) - 1

    def set_attractor_target(self, env, attractor: int, target: gt.Transform) -> None:
        env.attractors[attractor].target = gt.Transform(gt.Vec3(*target.p), gt.Quat(*target.r))
        world = env._sim.world
        if world is not None:
            joint = env.index * world.joints_per_env + world.attractor_joints[attractor]
            world.tensors.root_x_p[joint] = world.tensors.root_x_p.new_tensor([*target.p, *target.r])
            world.notify_properties_changed(joints=True)

    def get_attractor_properties(self, env, attractor: int) -> gt.AttractorProperties:
        return deepcopy(env.attractors[attractor])

    # ------------------------------------------------------------------ aggregates
    def begin_aggregate(self, env, max_bodies: int, max_shapes: int, self_collisions: bool) -> bool:
        return True

    def end_aggregate(self, env) -> bool:
        return True


def write_body_colors(world, actors) -> None:
    """Writes the colours ``set_rigid_body_color`` gave ``actors``' bodies into the model."""
    actors = [a for a in actors if a.body_colors]
    if not actors or world.model.shape_color is None:
        return
    colors = world.model.shape_color.numpy()
    for a in actors:
        first = world.actor_first_shape(a)
        for k, body in enumerate(a.asset.shape_body):
            if body in a.body_colors:
                colors[first + k] = a.body_colors[body]
    world.model.shape_color.assign(colors)

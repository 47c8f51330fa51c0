"""The ``Gym`` object of the isaacgym API, on Newton.

Method names, arguments and return values follow Isaac Gym (see
../docs/conventions.md for where the physics differs). Scene calls are recorded until
``prepare_sim`` builds the Newton model; tensor calls then work on that model.
"""

from __future__ import annotations

import os
from copy import copy, deepcopy

import numpy as np

from mytasks.sim import types as gt
from mytasks.sim.newton_backend import early_tensors
from mytasks.sim.newton_backend.assets import Asset
from mytasks.sim.newton_backend.dynamics import DynamicsCalls
from mytasks.sim.newton_backend.gym_bodies import BodyCalls
from mytasks.sim.newton_backend.scene import Camera, Env, HeightField, Sim
from mytasks.sim.newton_backend.state_tensors import TensorCalls
from mytasks.sim.newton_backend.tendons import TendonCalls
from mytasks.sim.newton_backend.viewer import ViewerCalls
from mytasks.sim.properties import check_step


def _device_of(compute_device: int, params: gt.SimParams) -> str:
    if not params.use_gpu_pipeline or compute_device < 0:
        return "cpu"
    return f"cuda:{compute_device}"


class Gym(ViewerCalls, BodyCalls, TendonCalls, DynamicsCalls, TensorCalls):
    _instance: Gym | None = None

    @classmethod
    def instance(cls) -> Gym:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    # ------------------------------------------------------------------ sim
    def create_sim(self, compute_device: int = 0, graphics_device: int = 0, type=gt.SIM_NEWTON, params=None):
        if type not in (gt.SIM_NEWTON, gt.SIM_PHYSX):
            raise ValueError("the Newton backend simulates SIM_NEWTON scenes")
        params = params or gt.SimParams()
        check_step(params)
        from mytasks.sim.newton_backend import runtime

        runtime.init_warp()
        sim = Sim(_device_of(compute_device, params), params)
        runtime.start_compiling(sim.device)  # beside the scene building, until prepare_sim
        return sim

    def destroy_sim(self, sim: Sim) -> None:
        sim.world = None
        sim.envs.clear()

    def get_sim_params(self, sim: Sim) -> gt.SimParams:
        return deepcopy(sim.params)  # a copy, as Isaac Gym's: it takes effect through set_sim_params

    def set_sim_params(self, sim: Sim, params: gt.SimParams) -> None:
        check_step(params)
        if sim.world is not None and params.substeps != sim.params.substeps:
            raise RuntimeError("substeps cannot change after prepare_sim (the step graph is captured)")
        if sim.world is not None and tuple(params.gravity) != tuple(sim.params.gravity):
            import newton

            sim.world.model.set_gravity(tuple(params.gravity))
            sim.world.solver.notify_model_changed(newton.ModelFlags.MODEL_PROPERTIES)
        sim.params = deepcopy(params)
        if sim.world is not None:
            sim.world.params = sim.params

    def add_ground(self, sim: Sim, params: gt.PlaneParams) -> None:
        sim.ground = params

    def add_heightfield(self, sim: Sim, heights, params: gt.HeightFieldParams) -> None:
        """Static terrain from ``nbRows x nbColumns`` heights (rows along x), shared by every env."""
        rows, cols = int(params.nbRows), int(params.nbColumns)
        h = np.asarray(heights, dtype=np.float64).reshape(rows, cols) * params.vertical_scale
        _add_terrain(sim, h.astype(np.float32), params.row_scale, params.column_scale, params, "add_heightfield")

    def add_triangle_mesh(self, sim: Sim, vertices, triangles, params: gt.TriangleMeshParams) -> None:
        """Static terrain from a mesh that ``terrain_utils.convert_heightfield_to_trimesh`` made,
        simulated as its height field (MuJoCo collides with a general mesh's convex hull)."""
        from mytasks.sim import terrain_utils

        made = terrain_utils.heightfield_of(vertices)
        if made is None:
            raise NotImplementedError(
                "gym.add_triangle_mesh takes the terrain meshes that isaacgym.terrain_utils makes: the engine "
                "collides with any other mesh's convex hull; pass the height field to gym.add_heightfield instead"
            )
        heights, scale = made
        _add_terrain(sim, heights, scale, scale, params, "add_triangle_mesh")

    def prepare_sim(self, sim: Sim) -> bool:
        from mytasks.sim.newton_backend.world import World

        sim.world = World(sim)
        early_tensors.measure(sim)
        return True

    def simulate(self, sim: Sim) -> None:
        self._world(sim).step()

    def fetch_results(self, sim: Sim, wait: bool = True) -> None:
        pass  # state is written in place on the sim device

    def get_sim_state(self, sim: Sim) -> dict:
        """mytasks' addition to the API: a copy of everything that carries the simulation to its
        next step (name -> tensor on the sim device), for exact snapshots."""
        return self._world(sim).get_state()

    def set_sim_state(self, sim: Sim, state: dict) -> None:
        """mytasks' addition to the API: restores what ``get_sim_state`` returned."""
        self._world(sim).set_state(state)

    def get_frame_count(self, sim: Sim) -> int:
        return sim.world._steps if sim.world is not None else 0  # no frame before prepare_sim

    def get_sim_time(self, sim: Sim) -> float:
        return self.get_frame_count(sim) * sim.params.dt

    @staticmethod
    def _world(sim: Sim):
        if sim.world is None:
            raise RuntimeError("call prepare_sim first: the Newton model is built from the whole scene")
        return sim.world

    # ------------------------------------------------------------------ assets
    def load_asset(self, sim: Sim, root: str, filename: str, options: gt.AssetOptions | None = None) -> Asset:
        return Asset(os.path.join(root, filename), options or gt.AssetOptions())

    def get_asset_dof_count(self, asset: Asset) -> int:
        return asset.dof_count

    def get_asset_dof_names(self, asset: Asset) -> list[str]:
        return list(asset.dof_names)

    def get_asset_dof_dict(self, asset: Asset) -> dict[str, int]:
        return {n: i for i, n in enumerate(asset.dof_names)}

    def find_asset_dof_index(self, asset: Asset, name: str) -> int:
        return self.get_asset_dof_dict(asset).get(name, -1)

    def get_asset_dof_type(self, asset: Asset, index: int) -> gt.DofType:
        return gt.DOF_ROTATION if asset.dof_is_rotation[index] else gt.DOF_TRANSLATION

    def get_asset_dof_properties(self, asset: Asset) -> np.ndarray:
        return asset.dof_properties.copy()

    def get_asset_rigid_body_count(self, asset: Asset) -> int:
        return asset.body_count

    def get_asset_rigid_body_names(self, asset: Asset) -> list[str]:
        return list(asset.body_names)

    def get_asset_rigid_body_dict(self, asset: Asset) -> dict[str, int]:
        return {n: i for i, n in enumerate(asset.body_names)}

    def find_asset_rigid_body_index(self, asset: Asset, name: str) -> int:
        return self.get_asset_rigid_body_dict(asset).get(name, -1)

    def get_asset_rigid_shape_count(self, asset: Asset) -> int:
        return asset.shape_count

    def get_asset_rigid_shape_properties(self, asset: Asset) -> list[gt.RigidShapeProperties]:
        return [copy(s) for s in asset.shape_properties]

    def set_asset_rigid_shape_properties(self, asset: Asset, props) -> bool:
        _check_shape_count("set_asset_rigid_shape_properties", asset, props)
        asset.shape_properties = [copy(s) for s in props]
        return True

    # ------------------------------------------------------------------ envs and actors
    def create_env(self, sim: Sim, lower: gt.Vec3, upper: gt.Vec3, num_per_row: int) -> Env:
        return sim.create_env(lower, upper, num_per_row)

    def get_env_count(self, sim: Sim) -> int:
        return len(sim.envs)

    def get_env(self, sim: Sim, index: int) -> Env:
        return sim.envs[index]

    def get_env_origin(self, env: Env) -> gt.Vec3:
        return gt.Vec3(*env.origin)

    def create_actor(self, env: Env, asset: Asset, pose: gt.Transform, name: str = "", group: int = -1,
                     filter: int = 0, segmentation_id: int = 0) -> int:  # fmt: skip
        return self._sim_of(env).create_actor(env, asset, pose, name, group, filter)

    def _sim_of(self, env: Env) -> Sim:
        return env._sim  # set by Sim.create_env

    def get_actor_count(self, env: Env) -> int:
        return len(env.actors)

    def get_sim_actor_count(self, sim: Sim) -> int:
        return sum(len(e.actors) for e in sim.envs)

    def get_sim_dof_count(self, sim: Sim) -> int:
        return sum(e.dof_count for e in sim.envs)

    def get_sim_rigid_body_count(self, sim: Sim) -> int:
        return sum(e.body_count for e in sim.envs)

    def get_env_dof_count(self, env: Env) -> int:
        return env.dof_count

    def get_env_rigid_body_count(self, env: Env) -> int:
        return env.body_count

    def get_actor_dof_count(self, env: Env, actor: int) -> int:
        return env.actors[actor].asset.dof_count

    def get_actor_rigid_body_count(self, env: Env, actor: int) -> int:
        return env.actors[actor].asset.body_count

    def get_actor_rigid_shape_count(self, env: Env, actor: int) -> int:
        return len(env.actors[actor].shape_props)

    def get_actor_dof_names(self, env: Env, actor: int) -> list[str]:
        return list(env.actors[actor].asset.dof_names)

    def get_actor_rigid_body_names(self, env: Env, actor: int) -> list[str]:
        return list(env.actors[actor].asset.body_names)

    def get_actor_index(self, env: Env, actor: int, domain=gt.DOMAIN_SIM) -> int:
        return actor if domain != gt.DOMAIN_SIM else self._sim_of(env).global_actor_index(env.actors[actor])

    def get_actor_rigid_body_handle(self, env: Env, actor: int, index: int) -> int:
        """The env-domain handle of the actor's ``index``-th rigid body."""
        a = env.actors[actor]
        if not 0 <= index < a.asset.body_count:
            raise IndexError(f"actor {actor} has {a.asset.body_count} rigid bodies, not {index + 1}")
        return a.body_offset + index

    def find_actor_rigid_body_handle(self, env: Env, actor: int, name: str) -> int:
        a = env.actors[actor]
        i = self.find_asset_rigid_body_index(a.asset, name)
        return -1 if i < 0 else a.body_offset + i

    def find_actor_rigid_body_index(self, env: Env, actor: int, name: str, domain=gt.DOMAIN_ENV) -> int:
        a = env.actors[actor]
        i = self.find_asset_rigid_body_index(a.asset, name)
        if i < 0 or domain == gt.DOMAIN_ACTOR:
            return i
        local = a.body_offset + i
        return local if domain == gt.DOMAIN_ENV else env.index * env.body_count + local

    def find_actor_dof_handle(self, env: Env, actor: int, name: str) -> int:
        a = env.actors[actor]
        i = self.find_asset_dof_index(a.asset, name)
        return -1 if i < 0 else a.dof_offset + i

    def find_actor_dof_index(self, env: Env, actor: int, name: str, domain=gt.DOMAIN_ENV) -> int:
        a = env.actors[actor]
        i = self.find_asset_dof_index(a.asset, name)
        if i < 0 or domain == gt.DOMAIN_ACTOR:
            return i
        local = a.dof_offset + i
        return local if domain == gt.DOMAIN_ENV else env.index * env.dof_count + local

    def get_actor_dof_properties(self, env: Env, actor: int) -> np.ndarray:
        return env.actors[actor].dof_props.copy()

    def set_actor_dof_properties(self, env: Env, actor: int, props: np.ndarray) -> bool:
        a = env.actors[actor]
        if len(props) != a.asset.dof_count:
            raise ValueError(f"{len(props)} DOF properties for an actor with {a.asset.dof_count} DOFs")
        new = np.asarray(props, dtype=gt.DOF_PROPERTIES_DTYPE).copy()
        world = self._sim_of(env).world
        if world is not None:
            if (new["driveMode"] != a.dof_props["driveMode"]).any():
                raise RuntimeError("drive modes cannot change after prepare_sim; set them before")
            a.dof_props = new
            world.write_dof_properties([a])
            world.notify_properties_changed(dofs=True)
        else:
            a.dof_props = new
        return True

    def get_actor_rigid_shape_properties(self, env: Env, actor: int) -> list[gt.RigidShapeProperties]:
        return [copy(s) for s in env.actors[actor].shape_props]

    def set_actor_rigid_shape_properties(self, env: Env, actor: int, props) -> bool:
        a = env.actors[actor]
        _check_shape_count("set_actor_rigid_shape_properties", a.asset, props)
        a.shape_props = [copy(s) for s in props]
        world = self._sim_of(env).world
        if world is not None:
            world.write_shape_properties([a])
            world.notify_properties_changed(shapes=True)
        return True

    def enable_actor_dof_force_sensors(self, env: Env, actor: int) -> None:
        """Accepted: on Newton the DOF force tensor covers every actor without it (docs/conventions.md
        says what the tensor holds)."""

    # ------------------------------------------------------------------ camera sensors
    def create_camera_sensor(self, env: Env, props: gt.CameraProperties) -> int:
        """A camera of ``env``, before or after ``prepare_sim``; returns its handle."""
        sim = env._sim
        sim.cameras.append(Camera(env.index, props))
        return len(sim.cameras) - 1

    def set_camera_location(self, camera: int, env: Env, position: gt.Vec3, target: gt.Vec3) -> None:
        """Puts ``camera`` at ``position`` looking at ``target`` [m], in the env's frame, z up."""
        cam = env._sim.cameras[camera]
        cam.position, cam.target = gt.Vec3(*position), gt.Vec3(*target)

    def render_all_camera_sensors(self, sim: Sim) -> None:
        self._world(sim).cameras.render_all(sim.cameras)

    def get_camera_image(self, sim: Sim, env: Env, camera: int, image_type: int = gt.IMAGE_COLOR) -> np.ndarray:
        """The last render, RGBA uint8 of shape (height, width x 4), as Isaac Gym returns it."""
        if image_type != gt.IMAGE_COLOR:
            raise NotImplementedError("the Newton backend renders colour images (IMAGE_COLOR) only")
        return self._world(sim).cameras.image(camera, sim.cameras[camera])


def _add_terrain(sim: Sim, heights: np.ndarray, dx: float, dy: float, params, call: str) -> None:
    if sim.world is not None:
        raise RuntimeError(f"{call} after prepare_sim: build the whole scene first")
    sim.heightfields.append(HeightField(heights, dx, dy, params.transform, params.static_friction,
                                        params.restitution))  # fmt: skip


def _check_shape_count(call: str, asset: Asset, props) -> None:
    if len(props) != asset.shape_count:
        raise ValueError(f"{call}: {asset.path} has {asset.shape_count} rigid shapes, got properties for "
                         f"{len(props)}; pass the list its get_ call returns")  # fmt: skip

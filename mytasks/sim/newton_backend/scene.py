"""What the gym calls record before ``prepare_sim``: the sim, its envs and their actors.

Isaac Gym builds scenes one call at a time; Newton wants the whole model at once. So scene
building only records here, and ``world.World`` turns the record into one Newton model at
``prepare_sim``. Indices follow Isaac Gym: actors, DOFs and bodies are numbered env by env,
actor by actor, in creation order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mytasks.sim import types as gt
from mytasks.sim.newton_backend.assets import Asset


@dataclass
class Actor:
    env: Env
    handle: int  # index within its env
    asset: Asset
    pose: gt.Transform
    name: str
    group: int
    filter: int
    dof_props: np.ndarray
    shape_props: list[gt.RigidShapeProperties]
    body_props: list[gt.RigidBodyProperties]
    dof_offset: int  # first DOF within the env
    body_offset: int  # first body within the env
    shape_offset: int  # first shape within the env
    tendon_props: list[gt.TendonProperties] = field(default_factory=list)
    body_colors: dict[int, tuple[float, float, float]] = field(default_factory=dict)  # set_rigid_body_color
    scale: float = 1.0  # set_actor_scale (scaling.py)

    @property
    def self_collisions(self) -> bool:
        # Isaac Gym: two shapes of an actor collide only when their filters share no bit, and
        # all shapes of an actor carry the actor's filter.
        return self.filter == 0


@dataclass
class HeightField:
    """Static terrain: ``heights`` [m], rows along x ``dx`` apart, columns along y ``dy`` apart,
    sample (0, 0) at ``origin``."""

    heights: np.ndarray
    dx: float
    dy: float
    origin: gt.Transform
    friction: float
    restitution: float


@dataclass
class Camera:
    """A camera sensor of an env: its properties and where it looks from, in the env's frame."""

    env: int
    props: gt.CameraProperties
    position: gt.Vec3 = field(default_factory=lambda: gt.Vec3(2.0, -2.0, 1.5))
    target: gt.Vec3 = field(default_factory=lambda: gt.Vec3(0.0, 0.0, 0.5))


@dataclass
class Env:
    index: int
    origin: gt.Vec3
    actors: list[Actor] = field(default_factory=list)
    attractors: list[gt.AttractorProperties] = field(default_factory=list)

    @property
    def dof_count(self) -> int:
        return sum(a.asset.dof_count for a in self.actors)

    @property
    def body_count(self) -> int:
        return sum(a.asset.body_count for a in self.actors)

    @property
    def shape_count(self) -> int:
        """The env's rows in the model's shape arrays (visual shapes too)."""
        return sum(a.asset.model_shape_count for a in self.actors)

    def layout(self) -> tuple:
        """What the env is built from: its assets in order and its attractors."""
        return tuple((id(a.asset), a.self_collisions) for a in self.actors), self._attractor_layout()

    def structure(self) -> tuple:
        """What every env must share (Isaac Gym lets envs hold different assets; MuJoCo batches
        worlds of one structure): per actor ``Asset.structure``, and the attractors. Assets may
        differ in anything else (a box of another size, another mesh)."""
        return tuple(a.asset.structure(a.self_collisions) for a in self.actors), self._attractor_layout()

    def _attractor_layout(self) -> tuple:
        return tuple((a.rigid_handle, a.axes) for a in self.attractors)


class Sim:
    """One simulation: the recorded scene and, after ``prepare_sim``, the running world."""

    def __init__(self, device: str, params: gt.SimParams):
        self.device = device
        self.params = params
        self.ground: gt.PlaneParams | None = None
        self.heightfields: list[HeightField] = []  # static terrain, shared by every env
        self.envs: list[Env] = []
        self.world = None  # a world.World once prepared
        self.early = None  # tensors acquired before prepare_sim (early_tensors.EarlyTensors)
        self.viewer_options = None  # how create_viewer opens a viewer (viewer.ViewerOptions)
        self.cameras: list[Camera] = []  # may be added before or after prepare_sim
        self._grid_per_row = 1
        self._spacing = gt.Vec3()

    def create_env(self, lower: gt.Vec3, upper: gt.Vec3, per_row: int) -> Env:
        if self.world is not None:
            raise RuntimeError("create_env after prepare_sim: build the whole scene first")
        i = len(self.envs)
        per_row = max(1, int(per_row))
        spacing = upper - lower
        origin = gt.Vec3((i % per_row) * spacing.x, (i // per_row) * spacing.y, 0.0)
        env = Env(i, origin)
        env._sim = self
        self.envs.append(env)
        return env

    def create_actor(self, env: Env, asset: Asset, pose, name, group, filter_) -> int:
        if self.world is not None:
            raise RuntimeError("create_actor after prepare_sim: build the whole scene first")
        actor = Actor(
            env=env,
            handle=len(env.actors),
            asset=asset,
            pose=gt.Transform(gt.Vec3(*pose.p), gt.Quat(*pose.r)),
            name=name or f"actor{len(env.actors)}",
            group=group,
            filter=filter_,
            dof_props=asset.dof_properties.copy(),
            # Shared with the asset until set: the getters hand out copies and the setters put
            # in copies, so an actor's shape, body and tendon properties are never changed in
            # place (a copy per actor was most of building 4096 envs).
            shape_props=asset.shape_properties,
            body_props=list(asset.body_properties),
            dof_offset=env.dof_count,
            body_offset=env.body_count,
            shape_offset=env.shape_count,
            tendon_props=[t.props for t in asset.tendons],
        )
        env.actors.append(actor)
        return actor.handle

    @property
    def actors_per_env(self) -> int:
        return len(self.envs[0].actors) if self.envs else 0

    def actor(self, env: Env, handle: int) -> Actor:
        try:
            return env.actors[handle]
        except IndexError:
            raise IndexError(f"env {env.index} has no actor {handle}") from None

    def all_actors(self):
        for env in self.envs:
            yield from env.actors

    def global_actor_index(self, actor: Actor) -> int:
        return actor.env.index * self.actors_per_env + actor.handle

"""IsaacGymEnvs' domain randomisation: ``VecTask.apply_randomizations(randomization_params)``.

A task turns it on with ``task.randomize: True`` and calls ``apply_randomizations`` itself, as
IsaacGymEnvs' tasks do: once while it builds its envs (every env is randomised; so are the
``setup_only`` parameters, which are never touched again) and then from ``pre_physics_step``,
where the envs that are being reset and have run ``frequency`` steps since their last draw
(``randomize_buf``, which the task advances) get new values. The parameters:

``observations`` / ``actions``
    Noise added to (``additive``) or multiplied into (``scaling``) every observation the task
    returns and every action it is given: ``gaussian`` with ``range: [mean, std]`` or ``uniform``
    with ``range: [low, high]``, plus a correlated part (``range_correlated``) drawn once per
    tensor element and kept until the next draw.
``sim_params``
    ``gravity`` (a sample per axis, on the configured gravity).
``actor_params: {actor name: {property: {attribute: parameters}}}``
    ``rigid_body_properties`` (mass; inertia follows it, as Isaac Gym's setter recomputes it),
    ``rigid_shape_properties`` (friction, restitution, ...), ``dof_properties`` (stiffness,
    damping, lower, upper, effort, velocity, armature, friction), ``tendon_properties``,
    ``scale`` (the whole actor) and ``color`` (random body colours).

Each parameter: ``distribution`` gaussian | uniform | loguniform, ``operation`` additive |
scaling (on the value the property had at the first draw), ``range``, optionally ``schedule``
linear | constant with ``schedule_steps`` (the range grows from nothing, or switches on, over
the sim's frame count), ``num_buckets`` (values snapped to that many levels) and ``setup_only``.
A scaling or an addition starts from the value the property had at the first draw, each env's
and actor's own. (IsaacGymEnvs' VecTask keeps one set of those values per property name, the last
one the first draw met, and zips it with every actor's list: a robot's shapes after the first
draw scaled from the object's. That is a slip of that code, not Isaac Gym's, and is not kept.)
"""

from __future__ import annotations

import bisect
import copy
import operator
import random

import numpy as np
import torch

from mytasks.sim import gymapi
from mytasks.utils.errors import UserError


def _schedule(params: dict, step: int) -> float:
    kind, steps = params.get("schedule"), params.get("schedule_steps")
    if kind == "linear":
        return min(step, steps) / steps
    if kind == "constant":
        return 0.0 if step < steps else 1.0
    return 1.0


def _scheduled(low: float, high: float, params: dict, step: int, operation: str) -> tuple[float, float]:
    """A range shrunk towards no change by the schedule: towards 0 added, or towards a factor of 1."""
    s = _schedule(params, step)
    if operation == "additive":
        return low * s, high * s
    return low * s + (1.0 - s), high * s + (1.0 - s)


def _scheduled_gaussian(mean: float, std: float, params: dict, step: int, operation: str) -> tuple[float, float]:
    s = _schedule(params, step)
    if operation == "additive":
        return mean * s, std * s
    return mean * s + (1.0 - s), std * s


def samples(params: dict, shape, step: int) -> np.ndarray:
    """Draws of one parameter (NumPy's global generator, as Isaac Gym's tasks seed it)."""
    low, high = params["range"]
    distribution, operation = params["distribution"], params["operation"]
    if distribution == "gaussian":
        mean, std = _scheduled_gaussian(low, high, params, step, operation)
        return np.random.normal(mean, std, shape)
    low, high = _scheduled(low, high, params, step, operation)
    if distribution == "loguniform":
        return np.exp(np.random.uniform(np.log(low), np.log(high), shape))
    if distribution == "uniform":
        return np.random.uniform(low, high, shape)
    raise UserError(f"randomization distribution {distribution!r}: use gaussian, uniform or loguniform")


def bucketed(value, params: dict):
    """``num_buckets``: the value snapped down to one of that many evenly spaced levels over the
    range (a gaussian's: mean +- 2 sqrt(var), as Isaac Gym has it)."""
    if params["distribution"] == "uniform":
        low, high = params["range"]
    else:
        mean, var = params["range"]
        low, high = mean - 2 * np.sqrt(var), mean + 2 * np.sqrt(var)
    n = int(params["num_buckets"])
    levels = [(high - low) * i / n + low for i in range(n)]
    snap = np.vectorize(lambda v: levels[max(bisect.bisect(levels, v) - 1, 0)])
    return snap(value) if np.ndim(value) else float(snap(value))


def _combine(original, sample, operation: str):
    if operation == "scaling":
        return original * sample
    if operation == "additive":
        return original + sample
    raise UserError(f"randomization operation {operation!r}: use additive or scaling")


def randomize_attribute(prop, original, attr: str, params: dict, step: int) -> None:
    """Sets ``prop.attr`` (or ``prop[attr]`` of a DOF or tendon property array, one draw per
    entry) from its ``original`` value and a draw; ``gravity`` of SimParams per axis."""
    operation = params["operation"]
    if isinstance(prop, gymapi.SimParams):
        if attr != "gravity":
            raise UserError(f"randomization_params.sim_params.{attr}: only gravity is randomised")
        draw = samples(params, 3, step)
        g = original["gravity"]
        axes = zip((g.x, g.y, g.z), draw, strict=True)
        prop.gravity = gymapi.Vec3(*(_combine(float(v), d, operation) for v, d in axes))
        return
    if isinstance(prop, np.ndarray):
        value = _combine(original[attr], samples(params, prop[attr].shape, step), operation)
    else:
        value = _combine(original[attr], float(samples(params, 1, step)[0]), operation)
    if params.get("num_buckets", 0) > 0:
        value = bucketed(value, params)
    if isinstance(prop, np.ndarray):
        prop[attr] = value
    else:
        setattr(prop, attr, value)


def _noise(params: dict, step: int):
    """The noise function of ``observations`` or ``actions`` (``noise_lambda``) and what it draws
    from: ``offset + scale * draw`` per element, with a gaussian's ``(mean, std)`` or a uniform's
    ``(low, high)``, plus a correlated part drawn (from a normal distribution, as IsaacGymEnvs
    does for both) at the first call and kept."""
    operation = params["operation"]
    combine = operator.add if operation == "additive" else operator.mul
    spread, correlated = params["range"], params.get("range_correlated", [0.0, 0.0])
    if params["distribution"] == "gaussian":
        (offset, scale), (offset_c, scale_c) = (_scheduled_gaussian(*r, params, step, operation)
                                                for r in (spread, correlated))  # fmt: skip
        draw = torch.randn_like
    elif params["distribution"] == "uniform":
        (offset, high), (offset_c, high_c) = (_scheduled(*r, params, step, operation) for r in (spread, correlated))
        scale, scale_c = high - offset, high_c - offset_c
        draw = torch.rand_like
    else:
        raise UserError(f"randomization distribution {params['distribution']!r} for noise: use gaussian or uniform")
    state = {"offset": offset, "scale": scale, "offset_corr": offset_c, "scale_corr": scale_c, "corr": None}

    def noise(t: torch.Tensor) -> torch.Tensor:
        if state["corr"] is None:
            state["corr"] = torch.randn_like(t)
        return combine(t, state["corr"] * scale_c + offset_c + draw(t) * scale + offset)

    state["noise_lambda"] = noise
    return state


def _fields(prop) -> tuple[str, ...]:
    """The attributes a property (a struct, a list of them, or a DOF or tendon array) has."""
    if isinstance(prop, np.ndarray):
        return prop.dtype.names or ()
    if isinstance(prop, list):
        return tuple(vars(prop[0])) if prop else ()
    return tuple(vars(prop))


def _original(prop):
    """The values a scaling or addition starts from: a copy of a property (or of each in a list)."""
    if isinstance(prop, list):
        return [copy.deepcopy(vars(p)) for p in prop]
    if isinstance(prop, np.ndarray):
        return prop.copy()
    return copy.deepcopy(vars(prop))


class DomainRandomization:
    """``apply_randomizations`` and the state it keeps, for ``VecTask`` (see the module's notice)."""

    def init_randomization(self) -> None:
        self.randomize = bool(self.cfg.get("task", {}).get("randomize", False))
        self.randomization_params = self.cfg.get("task", {}).get("randomization_params", {})
        self.first_randomization = True
        self.original_props: dict = {}
        self.dr_randomizations: dict = {}
        self.actor_params_generator = None  # IsaacGymEnvs' names, which its tasks may set or read
        self.extern_actor_params = {i: None for i in range(self.num_envs)}
        self.last_step = -1
        self.last_rand_step = -1

    def _properties(self):
        gym = self.gym
        return {
            "rigid_body_properties": (gym.get_actor_rigid_body_properties,
                                      lambda env, h, p: gym.set_actor_rigid_body_properties(env, h, p, True)),
            "rigid_shape_properties": (gym.get_actor_rigid_shape_properties, gym.set_actor_rigid_shape_properties),
            "dof_properties": (gym.get_actor_dof_properties, gym.set_actor_dof_properties),
            "tendon_properties": (gym.get_actor_tendon_properties, gym.set_actor_tendon_properties),
        }  # fmt: skip

    def apply_randomizations(self, dr_params: dict) -> None:
        """Draws new values for what ``dr_params`` names (see the module's notice): everything on
        the first call; later, the non-env parameters every ``frequency`` frames and the envs being
        reset whose ``randomize_buf`` reached ``frequency``."""
        frequency = dr_params.get("frequency", 1)
        self.last_step = self.gym.get_frame_count(self.sim)
        if self.first_randomization:
            global_draw = True
            env_ids = list(range(self.num_envs))
        else:
            global_draw = (self.last_step - self.last_rand_step) >= frequency
            due = (self.randomize_buf >= frequency) & (self.reset_buf != 0)
            env_ids = due.nonzero(as_tuple=False).flatten().tolist()
            self.randomize_buf[due] = 0
        if global_draw:
            self.last_rand_step = self.last_step
            for kind in ("observations", "actions"):
                if kind in dr_params:
                    self.dr_randomizations[kind] = _noise(dr_params[kind], self.last_step)
            if "sim_params" in dr_params:
                params = self.gym.get_sim_params(self.sim)
                if self.first_randomization:
                    self.original_props["sim_params"] = _original(params)
                for attr, attr_params in dr_params["sim_params"].items():
                    randomize_attribute(params, self.original_props["sim_params"], attr, attr_params, self.last_step)
                self.gym.set_sim_params(self.sim, params)
        accessors = self._properties()
        for actor, properties in dr_params.get("actor_params", {}).items():
            for env_id in env_ids:
                self._randomize_actor(env_id, actor, properties, accessors)
        self.first_randomization = False

    def _randomize_actor(self, env_id: int, actor: str, properties: dict, accessors: dict) -> None:
        env = self.envs[env_id]
        handle = self.gym.find_actor_handle(env, actor)
        if handle < 0:
            count = self.gym.get_actor_count(env)
            names = ", ".join(self.gym.get_actor_name(env, h) for h in range(count))
            raise UserError(f"randomization_params.actor_params.{actor}: env {env_id} has no actor named "
                             f"{actor!r} (its actors: {names})")  # fmt: skip
        for name, attrs in properties.items():
            if name == "color":
                for body in range(self.gym.get_actor_rigid_body_count(env, handle)):
                    colour = gymapi.Vec3(random.uniform(0, 1), random.uniform(0, 1), random.uniform(0, 1))
                    self.gym.set_rigid_body_color(env, handle, body, gymapi.MESH_VISUAL, colour)
                continue
            if name == "scale":
                if not attrs.get("setup_only", False) or not self.sim_initialized:
                    draw = float(samples(attrs, 1, self.last_step)[0])
                    self.gym.set_actor_scale(env, handle, _combine(1.0, draw, attrs["operation"]))
                continue
            if name not in accessors:
                raise UserError(f"randomization_params.actor_params.{actor}.{name}: use one of "
                                 f"{', '.join([*accessors, 'scale', 'color'])}")  # fmt: skip
            get, put = accessors[name]
            prop = get(env, handle)
            fields = _fields(prop)
            unknown = [a for a in attrs if a not in fields]
            if unknown and fields:
                raise UserError(f"randomization_params.actor_params.{actor}.{name}: no {unknown[0]!r}; its fields: "
                                f"{', '.join(fields)}")  # fmt: skip
            key = (env_id, actor, name)
            if key not in self.original_props:
                self.original_props[key] = _original(prop)
            originals = self.original_props[key]
            pairs = zip(prop, originals, strict=True) if isinstance(prop, list) else [(prop, originals)]
            changed = True
            for p, original in pairs:
                for attr, attr_params in attrs.items():
                    if attr_params.get("setup_only", False) and self.sim_initialized:
                        changed = False
                        continue
                    randomize_attribute(p, original, attr, attr_params, self.last_step)
            if changed:
                put(env, handle, prop)

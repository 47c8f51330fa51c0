"""The env contract every task follows: IsaacGymEnvs' ``VecTask``.

Construction
    ``Task(cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture,
    force_render)``. The subclass sets ``self.cfg = cfg``, writes ``cfg["env"]["numObservations"]``
    and ``["numActions"]`` when they are derived, then calls ``super().__init__``, which parses
    ``cfg["sim"]``, acquires the gym, calls the subclass's ``create_sim()``, ``prepare_sim``, and
    allocates the buffers. The subclass sets ``self.max_episode_length``.

Devices
    ``self.device`` (where the buffers and sim tensors live) is the CUDA sim device when
    ``sim.use_gpu_pipeline`` is true and ``sim_device`` is CUDA, else "cpu". ``step`` returns its
    tensors on ``rl_device``.

Buffers (on ``self.device``), N = ``num_envs``
    ``obs_buf`` (N, num_obs) float32; ``states_buf`` (N, num_states) float32; ``rew_buf`` (N,)
    float32; ``reset_buf`` (N,) int64, initialised to ones so that every env resets on the first
    step; ``timeout_buf``, ``progress_buf``, ``randomize_buf`` (N,) int64 zeros; ``extras`` dict.

``step(actions)``, actions (N, num_actions) float32 on any device
    0. action noise, when domain randomisation set one (``randomization.py``); 1. clamp to
    ±``clipActions``; 2. ``pre_physics_step(actions)``; 3. ``controlFrequencyInv``
    times ``simulate`` (rendering first when ``force_render``); 4. ``fetch_results`` on a CPU
    pipeline; 5. ``post_physics_step()`` — the task advances ``progress_buf``, resets the envs
    flagged on the previous step, computes observations, reward and ``reset_buf``;
    6. envs that blew up (observations, states or reward NaN/Inf, an observation beyond
    ``nan_guard.max_observation``, a body faster than ``nan_guard.max_body_speed``) get them
    zeroed and are flagged done (``nonfinite.py``; counted for the learner, never passed on;
    ``nonfinite_buf`` holds this step's mask, which play reads); 7. ``timeout_buf =
    (progress_buf >= max_episode_length - 1) & (reset_buf != 0)``, false for blown-up envs;
    8. observation noise, when set; ``extras["time_outs"] = timeout_buf``; 9. obs clamped to ±``clipObservations``;
    10. a video recorder, when attached (``video.py``), takes its frame.
    Returns ``({"obs": obs[, "states": states]}, rew_buf, reset_buf, extras)`` on rl_device.
    An env flagged done in one step starts its new episode in the next ``post_physics_step``
    (auto-reset one step late, as in IsaacGymEnvs): the observation returned with done=1 is
    the last one of the ended episode.

``reset()`` resets nothing and returns the current observation dict; ``reset_done()`` resets
the flagged envs and returns ``(obs_dict, done_env_ids)``.

Spaces: ``observation_space`` Box(-inf, inf, (num_obs,)), ``action_space`` Box(-1, 1,
(num_actions,)), ``state_space`` Box(-inf, inf, (num_states,)) when num_states > 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from mytasks.sim import gymapi, gymtorch
from mytasks.tasks.base import snapshot, viewing
from mytasks.tasks.base.nonfinite import NonFiniteGuard
from mytasks.tasks.base.randomization import DomainRandomization
from mytasks.utils.cuda_graph import GraphedCall
from mytasks.utils.errors import UserError
from mytasks.utils.schema import did_you_mean

_ENGINES = {"newton": "SIM_NEWTON", "physx": "SIM_PHYSX"}  # Isaac Gym's Flex has no counterpart


def _finite(value, default: float = math.inf) -> float:
    return default if value is None else float(value)


class Env:
    """IsaacGymEnvs' ``Env``, the base of ``VecTask``: devices, counts, spaces and clip limits from
    the config, nothing simulated. Code written for IsaacGymEnvs that builds its own vec-task on it
    (DeXtreme's ``VecTaskDextreme`` calls ``Env.__init__``, then ``VecTask``'s parts one by one)
    finds what it finds there; what mytasks' runners read of a task (``recorder``, ``viewer``)
    starts here too, so that such a task runs with them."""

    def __init__(self, config: dict, rl_device: str, sim_device: str, graphics_device_id: int, headless: bool):
        self.cfg = config
        self.rl_device = rl_device
        self.sim_device = sim_device
        device_type, _, index = sim_device.partition(":")
        self.device_type = device_type
        self.device_id = int(index) if index else 0
        self.device = "cpu"
        if config["sim"].get("use_gpu_pipeline", False):
            if device_type in ("cuda", "gpu"):
                self.device = f"cuda:{self.device_id}"
            else:
                print("mytasks: the GPU pipeline needs a CUDA sim device; using the CPU pipeline")
                config["sim"]["use_gpu_pipeline"] = False
        self.headless = headless
        env = config["env"]
        enable_camera_sensors = env.get("enableCameraSensors", False)
        self.graphics_device_id = -1 if headless and not enable_camera_sensors else graphics_device_id

        self.num_environments = int(env["numEnvs"])
        self.num_agents = int(env.get("numAgents", 1))
        self.num_observations = int(env.get("numObservations", 0))
        self.num_states = int(env.get("numStates", 0))
        self.num_actions = int(env["numActions"])
        self.control_freq_inv = int(env.get("controlFrequencyInv", 1))
        self.clip_obs = _finite(env.get("clipObservations"))
        self.clip_actions = _finite(env.get("clipActions"))
        self.obs_space = spaces.Box(-np.inf, np.inf, (self.num_obs,), np.float32)
        self.state_space = spaces.Box(-np.inf, np.inf, (self.num_states,), np.float32)
        self.act_space = spaces.Box(-1.0, 1.0, (self.num_actions,), np.float32)
        self.render_fps = env.get("renderFPS", -1)
        self.control_steps = 0
        self.total_train_env_frames = 0
        self.viewer = None
        self.recorder = None  # a video recorder (video.py), attached by whoever runs the task

    @property
    def num_envs(self) -> int:
        return self.num_environments

    @property
    def num_obs(self) -> int:
        return self.num_observations

    @property
    def observation_space(self) -> spaces.Space:
        return self.obs_space

    @property
    def action_space(self) -> spaces.Box:
        return self.act_space

    def get_number_of_agents(self) -> int:
        return self.num_agents

    def get_env_state(self) -> dict | None:
        """Saved with checkpoints (rl-games' ``env_state``); tasks with curricula override it."""
        return None

    def set_env_state(self, env_state: dict | None) -> None:
        pass


class VecTask(Env, DomainRandomization):
    def __init__(self, config: dict, rl_device: str, sim_device: str, graphics_device_id: int,
                 headless: bool, virtual_screen_capture: bool = False, force_render: bool = False):  # fmt: skip
        super().__init__(config, rl_device, sim_device, graphics_device_id, headless)
        self.virtual_screen_capture = virtual_screen_capture
        self.force_render = force_render

        engine = self.cfg.get("physics_engine", "newton")
        self.sim_params = self.__parse_sim_params(engine, self.cfg["sim"])  # checks the engine's name
        self.physics_engine = getattr(gymapi, _ENGINES[str(engine).lower()])
        self.gym = gymapi.acquire_gym()
        self.sim_initialized = False  # until prepare_sim: setup_only randomisations apply
        self.init_randomization()
        self.create_sim()
        self.gym.prepare_sim(self.sim)
        self.sim_initialized = True
        self.set_viewer()
        self.allocate_buffers()
        self.obs_dict: dict[str, torch.Tensor] = {}
        on_gpu = bool(self.cfg["env"].get("stepGraph", False)) and self.device.startswith("cuda")
        self._step_graph = GraphedCall(f"{type(self).__name__}'s step", enabled=on_gpu)

    # ------------------------------------------------------------------ set-up
    def __parse_sim_params(self, physics_engine: str, cfg_sim: dict) -> Any:
        """IsaacGymEnvs' private ``VecTask.__parse_sim_params`` (DeXtreme's vec-task calls it by its
        mangled name, ``_VecTask__parse_sim_params``)."""
        if str(physics_engine).lower() not in _ENGINES:
            raise ValueError(f"unknown physics_engine '{physics_engine}'; choose newton or physx")
        return self._parse_sim_params(cfg_sim)

    def _parse_sim_params(self, cfg_sim: dict) -> Any:
        sp = gymapi.SimParams()
        up = cfg_sim.get("up_axis", "z")
        if up not in ("z", "y"):
            raise ValueError(f"sim.up_axis must be 'z' or 'y', got '{up}'")
        sp.up_axis = gymapi.UP_AXIS_Z if up == "z" else gymapi.UP_AXIS_Y
        sp.dt = float(cfg_sim["dt"])
        sp.num_client_threads = int(cfg_sim.get("num_client_threads", 0))
        sp.use_gpu_pipeline = bool(cfg_sim.get("use_gpu_pipeline", False))
        sp.substeps = int(cfg_sim.get("substeps", 2))
        sp.gravity = gymapi.Vec3(*cfg_sim.get("gravity", [0.0, 0.0, -9.81]))
        chosen = cfg_sim.get("newton") or {}
        if hasattr(sp, "newton") and "cone" not in chosen and "impratio" not in chosen:
            # A task that does not choose its friction cone, as none written for PhysX does (with
            # or without other sim.newton keys, from its YAML or the command line): PhysX contacts
            # do not creep under sustained tangential load, MuJoCo's soft ones do unless friction
            # is made stiff (elliptic cone, impratio 10, MuJoCo's own advice against slip).
            sp.newton.cone, sp.newton.impratio = "elliptic", 10.0
        for block in ("physx", "newton"):
            target = getattr(sp, block, None)
            for key, value in (cfg_sim.get(block) or {}).items():
                if target is None:
                    continue
                if key == "contact_collection":
                    value = gymapi.ContactCollection(int(value))
                if hasattr(target, key):
                    setattr(target, key, value)
                elif block == "newton":
                    keys = list(vars(target))
                    raise UserError(f"unknown key sim.newton.{key}{did_you_mean(str(key), keys, 'sim.newton.')}; "
                                    f"its keys: {', '.join(keys)}")  # fmt: skip
        return sp

    def create_sim(self, compute_device: int, graphics_device: int, physics_engine, sim_params):
        """Creates the sim (the subclass's ``create_sim()`` calls this through ``super()``)."""
        sim = self.gym.create_sim(compute_device, graphics_device, physics_engine, sim_params)
        if sim is None:
            raise RuntimeError("the physics engine could not create a sim")
        return sim

    def set_viewer(self) -> None:
        viewing.open_viewer(self)

    def allocate_buffers(self) -> None:
        n, dev = self.num_envs, self.device
        self.obs_buf = torch.zeros((n, self.num_obs), device=dev, dtype=torch.float)
        self.states_buf = torch.zeros((n, self.num_states), device=dev, dtype=torch.float)
        self.rew_buf = torch.zeros(n, device=dev, dtype=torch.float)
        self.reset_buf = torch.ones(n, device=dev, dtype=torch.long)
        self.timeout_buf = torch.zeros(n, device=dev, dtype=torch.long)
        self.progress_buf = torch.zeros(n, device=dev, dtype=torch.long)
        self.randomize_buf = torch.zeros(n, device=dev, dtype=torch.long)
        self.extras: dict[str, Any] = {}
        self.nonfinite = NonFiniteGuard(n, dev)  # its bounds: make_task sets them from nan_guard
        self._guard_bodies: torch.Tensor | None = None

    # ------------------------------------------------------------------ the contract
    def pre_physics_step(self, actions: torch.Tensor) -> None:
        raise NotImplementedError

    def post_physics_step(self) -> None:
        raise NotImplementedError

    def reset_idx(self, env_ids: torch.Tensor) -> None:
        raise NotImplementedError

    def step(self, actions: torch.Tensor):
        actions = actions.to(self.device)
        if self.dr_randomizations.get("actions"):
            actions = self.dr_randomizations["actions"]["noise_lambda"](actions)
        action_tensor = torch.clamp(actions, -self.clip_actions, self.clip_actions)
        self.pre_physics_step(action_tensor)
        for _ in range(self.control_freq_inv):
            if self.force_render:
                self.render()
            self.gym.simulate(self.sim)
        if self.device == "cpu":
            self.gym.fetch_results(self.sim, True)
        self.post_physics_step()
        self.control_steps += 1
        states = self.states_buf if self.num_states > 0 else None
        speed = self._fastest_bodies() if math.isfinite(self.nonfinite.max_body_speed) else None
        self.nonfinite_buf = blown = self.nonfinite.apply(self.obs_buf, states, self.rew_buf, self.reset_buf, speed)
        self.timeout_buf = (self.progress_buf >= self.max_episode_length - 1) & (self.reset_buf != 0) & ~blown
        if self.dr_randomizations.get("observations"):
            self.obs_buf = self.dr_randomizations["observations"]["noise_lambda"](self.obs_buf)
        self.extras["time_outs"] = self.timeout_buf.to(self.rl_device)
        self._fill_obs_dict()
        if self.recorder is not None:
            self.recorder.after_step()
        return self.obs_dict, self.rew_buf.to(self.rl_device), self.reset_buf.to(self.rl_device), self.extras

    def _fastest_bodies(self) -> torch.Tensor | None:
        """Each env's fastest body (m/s), for the blow-up guard; None where the envs differ in
        their number of bodies."""
        if self._guard_bodies is None:
            bodies = gymtorch.wrap_tensor(self.gym.acquire_rigid_body_state_tensor(self.sim))
            whole = bodies.shape[0] % self.num_envs == 0
            self._guard_bodies = bodies.view(self.num_envs, -1, 13) if whole else bodies[:0]
        if self._guard_bodies.shape[0] == 0:
            return None
        self.gym.refresh_rigid_body_state_tensor(self.sim)
        return torch.linalg.vector_norm(self._guard_bodies[..., 7:10], dim=-1).amax(dim=1)

    def _fill_obs_dict(self) -> None:
        self.obs_dict["obs"] = torch.clamp(self.obs_buf, -self.clip_obs, self.clip_obs).to(self.rl_device)
        if self.num_states > 0:
            self.obs_dict["states"] = self.get_state()

    def run_step_graph(self, fn) -> None:
        """Runs ``fn`` (a task's per-step tensor work) as a replayed CUDA graph once warmed up.

        Used when the task YAML sets ``env.stepGraph: True`` and the pipeline is on a GPU, else
        ``fn`` simply runs. ``fn`` must only launch device work on tensors that live as long as
        the task: no host syncs (``.item()``, ``nonzero``, Python branches on tensor values), no
        CPU tensors. A graph replaces hundreds of kernel launches with one.
        """
        self._step_graph(fn)

    def zero_actions(self) -> torch.Tensor:
        return torch.zeros((self.num_envs, self.num_actions), dtype=torch.float32, device=self.rl_device)

    def reset(self):
        """Resets nothing (envs reset themselves); returns the current observation dict."""
        self._fill_obs_dict()
        return self.obs_dict

    def reset_done(self):
        done_env_ids = self.reset_buf.nonzero(as_tuple=False).flatten()
        if len(done_env_ids) > 0:
            self.reset_idx(done_env_ids)
        self._fill_obs_dict()
        return self.obs_dict, done_env_ids

    def get_state(self) -> torch.Tensor:
        return torch.clamp(self.states_buf, -self.clip_obs, self.clip_obs).to(self.rl_device)

    def set_train_info(self, env_frames: int, *args, **kwargs) -> None:
        self.total_train_env_frames = env_frames

    def snapshot(self) -> dict:
        """The whole state of the task and its sim (``snapshot.py``), saved for exact resume."""
        return snapshot.take(self)

    def restore_snapshot(self, snap: dict) -> str | None:
        """Restores :meth:`snapshot`'s state; returns why it could not, or None."""
        return snapshot.restore(self, snap)

    def render(self, mode: str = "rgb_array") -> None:
        viewing.render(self)

    def close(self) -> None:
        if getattr(self, "recorder", None) is not None:
            self.recorder.close()
        if getattr(self, "viewer", None) is not None:
            viewing.close_viewer(self)
        self.gym.destroy_sim(self.sim)

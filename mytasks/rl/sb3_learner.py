"""``learner=sb3``: Stable-Baselines3's PPO on a VecTask, through SB3's ``VecEnv`` interface
and its ``VecNormalize``.

``Sb3VecEnv`` is the boundary: actions come in as numpy and go to the task as one tensor;
observations, rewards and dones go back as numpy, with one info dict per env. An env that
ended carries SB3's ``episode`` (return, length, time: what its Monitor wrapper would add),
``terminal_observation`` and ``TimeLimit.truncated`` (the task's time-out), so PPO bootstraps
time-outs from the value. As in IsaacGymEnvs, the observation returned with done is the last
of the ended episode (the task resets it on the next step), so it is also the terminal one.

Checkpoints are plain dicts (policy and optimizer state, VecNormalize's statistics, the step
count), not SB3's zip, whose loading unpickles code. A callback on SB3's rollout events
prints mytasks' epoch line, saves every ``save_frequency`` epochs and at Ctrl-C; SB3's own
console table shows with ``verbose=True``; TensorBoard goes to the run's ``summaries/``.
"""

from __future__ import annotations

import copy
import os
import time

import numpy as np
import torch
from gymnasium import spaces
from omegaconf import DictConfig, OmegaConf
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from mytasks.rl import checkpoints, learners
from mytasks.utils.errors import UserError

_ACTIVATIONS = {"elu": torch.nn.ELU, "relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "selu": torch.nn.SELU,
                "leaky_relu": torch.nn.LeakyReLU, "gelu": torch.nn.GELU}  # fmt: skip


class Sb3VecEnv(VecEnv):
    """SB3's VecEnv over a VecTask (see the module docstring)."""

    def __init__(self, task):
        self.task = task
        box = task.observation_space
        obs_space = spaces.Box(-np.inf, np.inf, box.shape, np.float32)
        act = task.action_space
        super().__init__(task.num_envs, obs_space, spaces.Box(act.low, act.high, act.shape, np.float32))
        self._actions = None
        self._returns = torch.zeros(task.num_envs, dtype=torch.float64, device=task.rl_device)
        self._lengths = torch.zeros(task.num_envs, dtype=torch.long, device=task.rl_device)
        self._t0 = time.time()

    def reset(self) -> np.ndarray:
        return self.task.reset()["obs"].cpu().numpy()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = torch.as_tensor(actions, dtype=torch.float32, device=self.task.rl_device)

    def step_wait(self):
        obs_dict, rew, done, extras = self.task.step(self._actions)
        self._returns += rew
        self._lengths += 1
        obs, dones = obs_dict["obs"].cpu().numpy(), (done != 0).cpu().numpy()
        infos = [{} for _ in range(self.num_envs)]
        ended = np.flatnonzero(dones)
        if len(ended):
            timeouts = extras["time_outs"].cpu().numpy()
            returns, lengths = self._returns[ended].cpu().numpy(), self._lengths[ended].cpu().numpy()
            for k, i in enumerate(ended):
                infos[i] = {"episode": {"r": float(returns[k]), "l": int(lengths[k]),
                                        "t": round(time.time() - self._t0, 6)},
                            "terminal_observation": obs[i], "TimeLimit.truncated": bool(timeouts[i])}  # fmt: skip
            ids = torch.as_tensor(ended, device=self._returns.device)
            self._returns[ids] = 0.0
            self._lengths[ids] = 0
        return obs, rew.cpu().numpy().astype(np.float32), dones, infos

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices=None) -> list:
        default = (None,) if attr_name == "render_mode" else ()  # tasks render through their viewer
        return [getattr(self.task, attr_name, *default)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value, indices=None) -> None:
        setattr(self.task, attr_name, value)

    def env_method(self, method_name: str, *args, indices=None, **kwargs) -> list:
        return [getattr(self.task, method_name)(*args, **kwargs)] * len(self._get_indices(indices))

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        return [False] * len(self._get_indices(indices))

    def _get_indices(self, indices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [indices] if isinstance(indices, int) else list(indices)


def _settings(cfg: DictConfig) -> tuple[dict, dict]:
    """PPO's keyword arguments and VecNormalize's, from ``train.params.sb3``."""
    kwargs = OmegaConf.to_container(cfg.train.params.sb3, resolve=True)
    normalize = kwargs.pop("normalize", {}) or {}
    policy_kwargs = kwargs.setdefault("policy_kwargs", {})
    activation = policy_kwargs.get("activation_fn")
    if isinstance(activation, str):
        if activation not in _ACTIVATIONS:
            raise UserError(f"train.params.sb3.policy_kwargs.activation_fn must be one of "
                            f"{', '.join(_ACTIVATIONS)}, got '{activation}'")  # fmt: skip
        policy_kwargs["activation_fn"] = _ACTIVATIONS[activation]
    return kwargs, normalize


def _build(task, cfg: DictConfig, training: bool) -> tuple[PPO, VecNormalize | None]:
    kwargs, normalize = _settings(cfg)
    env = Sb3VecEnv(task)
    vec_norm = None
    if normalize:
        env = vec_norm = VecNormalize(env, training=training, gamma=float(kwargs.get("gamma", 0.99)), **normalize)
    model = PPO(env=env, device=cfg.rl_device, seed=int(cfg.seed), verbose=1 if cfg.verbose else 0, **kwargs)
    return model, vec_norm


def _norm_state(vec_norm: VecNormalize | None) -> dict | None:
    if vec_norm is None:
        return None
    rms = {k: getattr(vec_norm, k) for k in ("obs_rms", "ret_rms")}
    return {k: {"mean": torch.as_tensor(r.mean), "var": torch.as_tensor(r.var), "count": float(r.count)}
            for k, r in rms.items()}  # fmt: skip


def _restore_norm(vec_norm: VecNormalize | None, saved: dict | None) -> None:
    """VecNormalize's statistics, each of the shape the running one has (never broadcast)."""
    if vec_norm is None or saved is None:
        return
    for k, r in saved.items():
        rms = getattr(vec_norm, k)
        mean, var = r["mean"].numpy(), r["var"].numpy()
        if mean.shape != rms.mean.shape or var.shape != rms.var.shape:
            raise ValueError(f"vecnormalize.{k} has shape {mean.shape}, the task's is {rms.mean.shape}")
        rms.mean, rms.var, rms.count = mean, var, float(r["count"])


def load(path: str, trust: bool = False) -> dict:
    return learners.check_state(checkpoints.load(path, trust=trust, key="policy"), path, "sb3", "policy")


class _Epochs(BaseCallback):
    """After each rollout's update: the epoch line, the periodic save, Ctrl-C's save."""

    def __init__(self, run, first: int):
        super().__init__()
        self.run, self.collected, self.done = run, first, first

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self.collected += 1

    def _on_rollout_start(self) -> None:  # the previous rollout's update has run
        if self.collected > self.done:
            self.run.epoch_done(self.collected)
            self.done = self.collected

    def _on_training_end(self) -> None:
        if self.collected > self.done:
            self.run.epoch_done(self.collected, last=True)
            self.done = self.collected


class _Run:
    def __init__(self, task, cfg: DictConfig, run_dir: str, model: PPO, vec_norm, signals, first: int):
        self.task, self.run_dir, self.model, self.vec_norm, self.signals = task, run_dir, model, vec_norm, signals
        self.name = cfg.train.params.config.name
        self.max_epochs = int(cfg.train.params.config.max_epochs)
        self.every = int(cfg.train.params.config.save_frequency)
        self.saved = None
        self.epoch_end = learners.EpochEnd(task, cfg, signals, self.save, first)

    def save(self, epoch: int, interrupted: bool = False) -> str:
        policy = self.model.policy
        state = {
            "policy": policy.state_dict(),
            "optimizer": policy.optimizer.state_dict(),
            "num_timesteps": int(self.model.num_timesteps),
            "vecnormalize": _norm_state(self.vec_norm),
        }
        self.saved = learners.checkpoint_path(self.run_dir, self.name, epoch, interrupted)
        checkpoints.save(checkpoints.stamp(state, "sb3", epoch, self.task), self.saved)
        return self.saved

    def means(self) -> tuple[float | None, float | None]:
        infos = self.model.ep_info_buffer
        if not infos:
            return None, None
        return float(np.mean([e["r"] for e in infos])), float(np.mean([e["l"] for e in infos]))

    def epoch_done(self, epoch: int, last: bool = False) -> None:
        if self.signals.requested:
            self.model.logger.close()  # its TensorBoard events, before the process ends by the signal
        self.epoch_end(epoch, int(self.model.n_steps) * self.task.num_envs, *self.means())
        if learners.saves_at(epoch, self.every, last):
            self.save(epoch)


def train(task, cfg: DictConfig, run_dir: str, state: dict | None) -> learners.Trained:
    learners.start_wandb(cfg, os.path.basename(run_dir))
    model, vec_norm = _build(task, cfg, training=True)
    first = 0
    if state is not None:
        learners.check_spaces(state, "the checkpoint", task)
        with checkpoints.restoring("the checkpoint"):
            model.policy.load_state_dict(state["policy"])
            model.policy.optimizer.load_state_dict(state["optimizer"])
            model.num_timesteps = int(state["num_timesteps"])
            _restore_norm(vec_norm, state["vecnormalize"])
        first = int(state["epoch"])
    formats = ["tensorboard", *(["stdout"] if cfg.verbose else [])]
    model.set_logger(configure(os.path.join(run_dir, "summaries"), formats))
    epochs = int(cfg.train.params.config.max_epochs) - first
    with learners.Signals() as signals:
        run = _Run(task, cfg, run_dir, model, vec_norm, signals, first)
        try:
            model.learn(total_timesteps=epochs * int(model.n_steps) * task.num_envs, callback=_Epochs(run, first),
                        reset_num_timesteps=state is None)  # fmt: skip
        except learners.ViewerClosed:
            pass
    model.logger.close()
    return learners.Trained(run.means()[0], run.saved)


def player(task, cfg: DictConfig, state: dict, path: str) -> learners.Player:
    learners.check_spaces(state, path, task)
    model, vec_norm = _build(task, cfg, training=False)
    with checkpoints.restoring(path):
        model.policy.load_state_dict(state["policy"])
        _restore_norm(vec_norm, state["vecnormalize"])
    device = task.rl_device

    def act(obs: torch.Tensor) -> torch.Tensor:
        x = obs.cpu().numpy()
        if vec_norm is not None:
            x = vec_norm.normalize_obs(x)
        actions, _ = model.predict(x, deterministic=True)
        return torch.as_tensor(actions, dtype=torch.float32, device=device)

    low, high = model.action_space.low, model.action_space.high
    return learners.Player(act=act, actor=_Actor(model.policy, vec_norm, low, high).cpu().eval())


class _Actor(torch.nn.Module):
    """What ``predict(deterministic=True)`` does with an observation, as one module: the
    VecNormalize observation scaling and clip, the policy's mean action, the clip to the action
    space."""

    def __init__(self, policy, vec_norm: VecNormalize | None, low, high):
        super().__init__()
        self.policy = copy.deepcopy(policy)
        self.normalize = vec_norm is not None and bool(vec_norm.norm_obs)
        if self.normalize:
            rms = vec_norm.obs_rms
            self.register_buffer("mean", torch.as_tensor(rms.mean, dtype=torch.float32))
            self.register_buffer("std", torch.sqrt(torch.as_tensor(rms.var, dtype=torch.float32) + vec_norm.epsilon))
            self.clip_obs = float(vec_norm.clip_obs)
        self.register_buffer("low", torch.as_tensor(low, dtype=torch.float32))
        self.register_buffer("high", torch.as_tensor(high, dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            obs = torch.clamp((obs - self.mean) / self.std, -self.clip_obs, self.clip_obs)
        features = self.policy.extract_features(obs)
        if isinstance(features, tuple):  # the actor's and the critic's, when not shared
            features = features[0]
        latent = self.policy.mlp_extractor.forward_actor(features)
        return torch.clamp(self.policy.action_net(latent), self.low, self.high)

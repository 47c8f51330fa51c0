"""``learner=rsl_rl``: rsl-rl-lib's ``OnPolicyRunner`` and PPO, as legged_gym and unitree_rl_gym
train with them, on a VecTask.

``RslRlEnv`` is rsl_rl's ``VecEnv`` over the task: observations as a TensorDict with the
group ``policy`` (the task's ``obs``) and, for tasks with privileged states, ``critic``; the
task's ``extras`` pass on, ``time_outs`` among them, so that PPO bootstraps time-outs from the
value. ``params.rsl_rl`` of the train config is the runner's ``train_cfg``.

The runner is rsl_rl's own; mytasks changes where it saves (``save``: the run's ``nn/``, with
mytasks' names and entries) and adds one step after each iteration's log (``logger.log``,
rsl_rl's per-iteration call): mytasks' epoch line, and the Ctrl-C save. rsl_rl's console block
shows with ``verbose=True``; its TensorBoard scalars go to the run's ``summaries/``.
"""

from __future__ import annotations

import copy
import os
import statistics
import sys

import torch
from omegaconf import DictConfig, OmegaConf
from rsl_rl.env import VecEnv
from rsl_rl.runners import OnPolicyRunner
from tensordict import TensorDict

from mytasks.rl import checkpoints, learners
from mytasks.rl.runner import quiet
from mytasks.utils.errors import UserError


class RslRlEnv(VecEnv):
    """rsl_rl's VecEnv over a VecTask (see the module docstring)."""

    def __init__(self, task):
        self.task = task
        self.num_envs = task.num_envs
        self.num_actions = task.num_actions
        self.max_episode_length = int(task.max_episode_length)
        self.device = task.rl_device
        self.cfg = task.cfg

    @property
    def episode_length_buf(self) -> torch.Tensor:
        return self.task.progress_buf

    @episode_length_buf.setter
    def episode_length_buf(self, value: torch.Tensor) -> None:  # rsl_rl's init_at_random_ep_len
        self.task.progress_buf.copy_(value)

    def _groups(self, obs_dict: dict) -> TensorDict:
        groups = {"policy": obs_dict["obs"]}
        if "states" in obs_dict:
            groups["critic"] = obs_dict["states"]
        return TensorDict(groups, batch_size=[groups["policy"].shape[0]], device=self.device)

    def get_observations(self) -> TensorDict:
        return self._groups(self.task.reset())

    def step(self, actions: torch.Tensor):
        obs_dict, rew, done, extras = self.task.step(actions)
        return self._groups(obs_dict), rew, done, extras


def _train_cfg(cfg: DictConfig) -> dict:
    train_cfg = OmegaConf.to_container(cfg.train.params.rsl_rl, resolve=True)
    every = int(cfg.train.params.config.save_frequency)  # 0: only the last, which rsl_rl saves anyway
    train_cfg.setdefault("save_interval", every or int(cfg.train.params.config.max_epochs) + 1)
    train_cfg.setdefault("logger", "tensorboard")
    return train_cfg


# The settings rsl_rl resolves to a class or function by name (rsl_rl.utils.resolve_callable,
# which imports any module a name points at), wherever they stand in its train_cfg.
_NAMES_CODE = ("class_name", "data_augmentation_func", "logger")
_LOGGER_ALIASES = ("tensorboard", "wandb", "neptune")


def check_settings(cfg: DictConfig) -> None:
    """Every class or function that ``params.rsl_rl`` names is one that rsl_rl itself provides:
    a plain name found in its own modules, or a qualified name inside the ``rsl_rl`` package.
    Anything else would be imported from wherever Python finds it, a run directory included,
    so it is refused in one line."""
    import importlib
    import pkgutil

    import rsl_rl
    from rsl_rl.utils import resolve_callable

    own = [importlib.import_module(m) for _, m, _ in pkgutil.iter_modules(rsl_rl.__path__, "rsl_rl.")]

    def provided(name: str) -> bool:
        parts = name.replace(":", ".").split(".")
        if parts[0] == "rsl_rl" and all(p.isidentifier() for p in parts):
            try:
                return callable(resolve_callable(name))
            except (ImportError, AttributeError, ValueError):
                return False
        return name.isidentifier() and any(callable(getattr(m, name, None)) for m in own)

    tree = OmegaConf.to_container(cfg.train.params.rsl_rl, resolve=True)
    for key, text, here in learners.named_settings(tree, "train.params.rsl_rl"):
        if key in _NAMES_CODE and not (key == "logger" and text in _LOGGER_ALIASES) and not provided(text):
            raise UserError(f"{here} is '{text}', which is not a class or function of rsl_rl; mytasks lets rsl_rl "
                            "build only its own (a name such as PPO, MLPModel or "
                            "rsl_rl.modules:EmpiricalNormalization)")  # fmt: skip


def load(path: str, trust: bool = False) -> dict:
    return learners.check_state(checkpoints.load(path, trust=trust, key="actor_state_dict"), path, "rsl_rl",
                                "actor_state_dict")  # fmt: skip


class _Runner(OnPolicyRunner):
    """rsl_rl's runner, saving into the run's ``nn/`` (see the module docstring)."""

    def __init__(self, env: RslRlEnv, train_cfg: dict, log_dir: str | None, device: str, run_dir: str, name: str):
        self.run_dir, self.name, self.saved = run_dir, name, None
        super().__init__(env, copy.deepcopy(train_cfg), log_dir=log_dir, device=device)

    def save(self, path: str, infos: dict | None = None, interrupted: bool = False) -> str:
        epoch = self.current_learning_iteration + 1  # the iteration index is 0-based
        state = {**self.alg.save(), "iter": epoch, "infos": infos}
        out = learners.checkpoint_path(self.run_dir, self.name, epoch, interrupted)
        checkpoints.save(checkpoints.stamp(state, "rsl_rl", epoch, self.env.task), out)
        self.saved = out
        return out


def train(task, cfg: DictConfig, run_dir: str, state: dict | None) -> learners.Trained:
    if state is not None:
        learners.check_spaces(state, "the checkpoint", task)
    name, max_epochs = cfg.train.params.config.name, int(cfg.train.params.config.max_epochs)
    train_cfg = _train_cfg(cfg)
    learners.start_wandb(cfg, os.path.basename(run_dir))
    env = RslRlEnv(task)
    with quiet(cfg.verbose):
        runner = _Runner(env, train_cfg, os.path.join(run_dir, "summaries"), cfg.rl_device, run_dir, name)
    first = 0
    if state is not None:
        with checkpoints.restoring("the checkpoint"):
            runner.alg.load(state, None, strict=True)
            runner.current_learning_iteration = first = int(state["iter"])
    steps = int(train_cfg["num_steps_per_env"]) * task.num_envs
    log, console = runner.logger.log, sys.stdout  # the epoch line shows when rsl_rl's output is quiet

    with learners.Signals() as signals:
        save = lambda _, interrupted=False: runner.save("", interrupted=interrupted)  # noqa: E731
        epoch_end = learners.EpochEnd(task, cfg, signals, save, first)

        def after_iteration(**kwargs):
            with quiet(cfg.verbose):
                log(**kwargs)
            runner.logger.writer.flush()
            epoch_end(kwargs["it"] + 1, steps, *_means(runner.logger), console=console)

        runner.logger.log = after_iteration
        try:
            with quiet(cfg.verbose):
                runner.learn(num_learning_iterations=max_epochs - first)
        except learners.ViewerClosed:
            pass
    return learners.Trained(_means(runner.logger)[0], runner.saved)


def _means(logger) -> tuple[float | None, float | None]:
    """The mean reward and length of the last 100 episodes, as rsl_rl logs them."""
    if not logger.rewbuffer:
        return None, None
    return statistics.mean(logger.rewbuffer), statistics.mean(logger.lenbuffer)


def player(task, cfg: DictConfig, state: dict, path: str) -> learners.Player:
    learners.check_spaces(state, path, task)
    env = RslRlEnv(task)
    with quiet(cfg.verbose):
        runner = _Runner(env, _train_cfg(cfg), None, cfg.rl_device, "", "")
    with checkpoints.restoring(path):
        runner.alg.load(state, {"actor": True}, strict=True)
    policy = runner.get_inference_policy(cfg.rl_device)
    actor = runner.alg.get_policy().as_jit().cpu().eval()  # normaliser, MLP, mean: from the obs tensor

    def act(obs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return policy(env._groups({"obs": obs}))

    return learners.Player(act=act, actor=actor)

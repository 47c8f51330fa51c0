"""``learner=skrl``: skrl's PPO (torch) on a VecTask, built by skrl's own ``Runner`` from the
configuration Isaac Lab writes for it (``train.params.skrl``: models, memory, agent, trainer).

``SkrlEnv`` is skrl's environment ``Wrapper`` over the task: observations and, for tasks with
privileged states, ``state()``; the task's done split into ``terminated`` and ``truncated``
(its time-out), so that ``time_limit_bootstrap`` bootstraps time-outs from the value.

mytasks sets what belongs to the run: the experiment directory (the run's ``summaries/``, for
TensorBoard), the trainer's timesteps (``max_epochs`` x ``rollouts``), and the checkpoints,
which it writes itself after each update (every ``save_frequency`` epochs, the last, and at
Ctrl-C) as plain dicts of the agent's modules, in the run's ``nn/``. The preprocessor and
scheduler names of the configuration are looked up here rather than evaluated as code, as
skrl's Runner would.
"""

from __future__ import annotations

import collections
import copy
import os

import torch
from omegaconf import DictConfig, OmegaConf
from skrl.envs.wrappers.torch.base import Wrapper
from skrl.resources.preprocessors.torch import RunningStandardScaler
from skrl.resources.schedulers.torch import KLAdaptiveLR
from skrl.utils.runner.torch import Runner

from mytasks.rl import checkpoints, learners
from mytasks.rl.runner import quiet
from mytasks.utils.errors import UserError

_BY_NAME = {"RunningStandardScaler": RunningStandardScaler, "KLAdaptiveLR": KLAdaptiveLR}
_NAMED = ("learning_rate_scheduler", "observation_preprocessor", "state_preprocessor", "value_preprocessor")


class SkrlEnv(Wrapper):
    """skrl's Wrapper over a VecTask (see the module docstring); it also keeps the returns and
    lengths of the last 100 episodes for the epoch line."""

    def __init__(self, task):
        super().__init__(task)
        self.task = task
        self._states = None
        self._returns = torch.zeros(task.num_envs, device=task.rl_device)
        self._lengths = torch.zeros(task.num_envs, device=task.rl_device)
        self.episodes = collections.deque(maxlen=100)

    @property
    def state_space(self):
        return self.task.state_space if self.task.num_states > 0 else None

    def _take(self, obs_dict: dict) -> torch.Tensor:
        self._states = obs_dict.get("states")
        return obs_dict["obs"]

    def reset(self):
        return self._take(self.task.reset()), {}

    def step(self, actions: torch.Tensor):
        obs_dict, rew, done, extras = self.task.step(actions)
        truncated = extras["time_outs"].bool()
        ended = done != 0
        self._returns += rew
        self._lengths += 1
        if ended.any():
            self.episodes.extend(zip(self._returns[ended].tolist(), self._lengths[ended].tolist(), strict=True))
            self._returns[ended] = 0.0
            self._lengths[ended] = 0.0
        obs = self._take(obs_dict)
        return obs, rew.view(-1, 1), (ended & ~truncated).view(-1, 1), truncated.view(-1, 1), extras

    def state(self):
        return self._states

    def render(self, *args, **kwargs) -> None:
        return None  # the task renders through its own viewer

    def close(self) -> None:
        pass  # the task is closed by its owner

    def means(self) -> tuple[float | None, float | None]:
        if not self.episodes:
            return None, None
        returns, lengths = zip(*self.episodes, strict=True)
        return sum(returns) / len(returns), sum(lengths) / len(lengths)


# What skrl's Runner turns from text into code: the values it eval()s, wherever they stand
# (Runner._process_cfg), the exploration schedule it makes a lambda of, and the model
# definitions its instantiators write into Python source and exec() (input, output, layers).
_EVALUATED = (*_NAMED, "amp_observation_preprocessor", "exploration_noise", "smooth_regularization_noise",
              "exploration_scheduler")  # fmt: skip
_MODEL_NAMES = {"OBSERVATIONS", "STATES", "ACTIONS", "OBSERVATION_SPACE", "STATE_SPACE", "ACTION_SPACE", "ONE",
                "NUM_OBSERVATIONS", "NUM_STATES", "NUM_ACTIONS"}  # fmt: skip
_MODEL_FUNCTIONS = {"concatenate", "permute", "elu", "leaky_relu", "relu", "selu", "sigmoid", "softmax", "softplus",
                    "softsign", "tanh"}  # fmt: skip


def check_settings(cfg: DictConfig) -> None:
    """``params.skrl`` names only what skrl provides: the preprocessor and scheduler names
    mytasks maps (``_BY_NAME``), no other text skrl would evaluate, and model definitions whose
    input and output expressions use skrl's tokens, numbers, arithmetic and its named
    operations alone, with identifiers for names and numbers or tokens for layers. Anything else
    would run as code in this process, so it is refused in one line."""
    tree = OmegaConf.to_container(cfg.train.params.skrl, resolve=True)
    for key, text, here in learners.named_settings(tree, "train.params.skrl"):
        if key in _EVALUATED and not (key in _NAMED and text in _BY_NAME):
            raise UserError(f"{here} is '{text}', which skrl would evaluate as code; mytasks takes "
                            f"{', '.join(_BY_NAME)} there by name, or null")  # fmt: skip
    for role, model in (tree.get("models") or {}).items():
        if isinstance(model, dict):
            _check_model(model, f"train.params.skrl.models.{role}")


def _check_model(model: dict, where: str) -> None:
    import ast

    names = set(_MODEL_NAMES)
    for i, item in enumerate(model.get("network") or []):
        here = f"{where}.network[{i}]"
        if not isinstance(item, dict) or not str(item.get("name", "")).isidentifier():
            raise UserError(f"{here}.name must be a plain identifier such as net, got {item!r}")
        names.add(str(item["name"]))
        _check_expression(item.get("input", ""), names, f"{here}.input", ast)
        for layer in item.get("layers") or []:
            if isinstance(layer, bool) or not (isinstance(layer, int) or str(layer) in _MODEL_NAMES):
                raise UserError(f"{here}.layers holds '{layer}'; mytasks takes layer sizes (whole numbers) or "
                                f"{', '.join(sorted(_MODEL_NAMES))}")  # fmt: skip
        activations = item.get("activations") or []
        for a in [activations] if isinstance(activations, str) else activations:
            if str(a).lower() not in _MODEL_FUNCTIONS - {"concatenate", "permute"}:
                raise UserError(f"{here}.activations holds '{a}', which is not one of skrl's activations")
    if "output" in model:
        _check_expression(model["output"], names, f"{where}.output", ast)


def _check_expression(text, names: set, where: str, ast) -> None:
    """An expression of ``names``, numbers, + - * / and calls of skrl's named operations."""
    allowed = (ast.Expression, ast.Name, ast.Load, ast.Constant, ast.BinOp, ast.UnaryOp, ast.Add, ast.Sub, ast.Mult,
               ast.Div, ast.USub, ast.UAdd, ast.Call, ast.List, ast.Tuple)  # fmt: skip
    try:
        tree = ast.parse(str(text), mode="eval")
    except SyntaxError:
        tree = None
    bad = tree is None
    for node in ast.walk(tree) if tree is not None else ():
        if not isinstance(node, allowed):
            bad = True
        elif isinstance(node, ast.Name) and node.id not in names | _MODEL_FUNCTIONS:
            bad = True
        elif isinstance(node, ast.Call) and (node.keywords or not isinstance(node.func, ast.Name)
                                             or node.func.id not in _MODEL_FUNCTIONS):  # fmt: skip
            bad = True
        elif isinstance(node, ast.Constant):
            bad = bad or isinstance(node.value, bool) or not isinstance(node.value, int | float)
    if bad:
        raise UserError(f"{where} is '{text}'; skrl writes it into Python code, so mytasks takes only its tokens "
                        "(OBSERVATIONS, STATES, ACTIONS, ONE, ...), numbers, + - * / and its operations "
                        "(concatenate, tanh, ...)")  # fmt: skip


def _runner_cfg(cfg: DictConfig, run_dir: str | None, epochs: int) -> dict:
    """skrl's Runner configuration; ``run_dir`` None (play) writes no TensorBoard."""
    out = OmegaConf.to_container(cfg.train.params.skrl, resolve=True)
    out["seed"] = int(cfg.seed)
    agent = out["agent"]
    for key in _NAMED:
        name = agent.get(key)
        if isinstance(name, str):
            if name not in _BY_NAME:
                raise UserError(f"train.params.skrl.agent.{key} must be one of {', '.join(_BY_NAME)}, got '{name}'")
            agent[key] = _BY_NAME[name]
    where = {"directory": run_dir or "", "experiment_name": "summaries", "checkpoint_interval": 0,
             "write_interval": int(agent["rollouts"]) if run_dir else 0}  # fmt: skip
    agent["experiment"] = {**(agent.get("experiment") or {}), **where}
    out["trainer"] = {"headless": True, "close_environment_at_exit": False, **out.get("trainer", {}),
                      "timesteps": epochs * int(agent["rollouts"])}  # fmt: skip
    return out


def _build(task, cfg: DictConfig, run_dir: str | None, epochs: int) -> tuple[Runner, SkrlEnv]:
    env = SkrlEnv(task)
    with quiet(cfg.verbose):
        runner = Runner(env, copy.deepcopy(_runner_cfg(cfg, run_dir, epochs)), verbose=bool(cfg.verbose))
    return runner, env


def _modules(agent) -> dict:
    return {name: agent._get_internal_value(module) for name, module in agent.checkpoint_modules.items()}


def _restore(agent, modules: dict) -> None:
    for name, data in modules.items():
        agent.checkpoint_modules[name].load_state_dict(data)


def load(path: str, trust: bool = False) -> dict:
    return learners.check_state(checkpoints.load(path, trust=trust, key="modules"), path, "skrl", "modules")


def train(task, cfg: DictConfig, run_dir: str, state: dict | None) -> learners.Trained:
    if state is not None:
        learners.check_spaces(state, "the checkpoint", task)
    name, max_epochs = cfg.train.params.config.name, int(cfg.train.params.config.max_epochs)
    every = int(cfg.train.params.config.save_frequency)
    first = int(state["epoch"]) if state is not None else 0
    learners.start_wandb(cfg, os.path.basename(run_dir))
    runner, env = _build(task, cfg, run_dir, max_epochs - first)
    agent = runner.agent
    if cfg.wandb_activate:  # wandb follows torch's TensorBoard writer, not skrl's own
        agent.writer.close()
        agent.writer = _TorchWriter(agent.experiment_dir)
    if state is not None:
        with checkpoints.restoring("the checkpoint"):
            _restore(agent, state["modules"])
    rollouts = int(agent.cfg.rollouts)
    saved = []

    def save(epoch: int, interrupted: bool = False) -> str:
        path = learners.checkpoint_path(run_dir, name, epoch, interrupted)
        checkpoints.save(checkpoints.stamp({"modules": _modules(agent)}, "skrl", epoch, task), path)
        saved.append(path)
        return path

    post_interaction = agent.post_interaction
    with learners.Signals() as signals:
        epoch_end = learners.EpochEnd(task, cfg, signals, save, first)

        def after_step(*, timestep: int, timesteps: int) -> None:
            post_interaction(timestep=timestep, timesteps=timesteps)
            if (timestep + 1) % rollouts:
                return  # no update at this step
            epoch = first + (timestep + 1) // rollouts
            agent.writer.flush()
            epoch_end(epoch, rollouts * task.num_envs, *env.means())
            if learners.saves_at(epoch, every, epoch == max_epochs):
                save(epoch)

        agent.post_interaction = after_step
        try:
            runner.run("train")
        except learners.ViewerClosed:
            pass
    agent.writer.flush()
    return learners.Trained(env.means()[0], saved[-1])


def player(task, cfg: DictConfig, state: dict, path: str) -> learners.Player:
    learners.check_spaces(state, path, task)
    runner, _ = _build(task, cfg, None, 1)
    agent = runner.agent
    with checkpoints.restoring(path):
        _restore(agent, state["modules"])
    agent.enable_training_mode(False)
    actor = _Actor(agent.policy, agent._observation_preprocessor).eval()

    def act(obs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return actor(obs)

    return learners.Player(act=act, actor=copy.deepcopy(actor).cpu())


class _TorchWriter:
    """skrl's writer interface (``add_scalar(tag=, value=, timestep=)``) on torch's SummaryWriter."""

    def __init__(self, log_dir: str):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=log_dir)

    def add_scalar(self, *, tag: str, value: float, timestep: int) -> None:
        self.writer.add_scalar(tag, value, timestep)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class _Actor(torch.nn.Module):
    """The policy's mean action from the observation tensor: the observation preprocessor,
    then the policy network, as the agent acts without sampling."""

    def __init__(self, policy, preprocessor):
        super().__init__()
        self.policy, self.preprocessor = policy, preprocessor

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        mean, _ = self.policy.compute({"observations": self.preprocessor(obs), "states": None}, role="policy")
        return mean

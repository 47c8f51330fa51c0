"""Tasks whose observations are a dict of named parts (IsaacGymEnvs' ``dict_obs_cls``, as
DeXtreme's AllegroHand tasks declare): the parts that the train file's networks name in their
``inputs`` are concatenated, in that order, into the ``obs`` (``params.network.inputs``) and the
``states`` (``params.config.central_value_config.network.inputs``) that every learner takes, as
IsaacGymEnvs' ``ComplexObsRLGPUEnv`` does for rl-games. The task itself is left as it is: the
view forwards every other attribute to it, and attributes set on the view (a video recorder)
are set on the task."""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces

from mytasks.utils.errors import UserError


def flat_view(task, train: dict):
    """``task`` itself, or its flat view when it gives a dict of observations."""
    if not getattr(type(task), "dict_obs_cls", False):
        return task
    params = train.get("params", {})
    actor = params.get("network") or {}
    critic = ((params.get("config") or {}).get("central_value_config") or {}).get("network")
    obs = _names(task, actor, "params.network")
    states = _names(task, critic, "params.config.central_value_config.network") if critic else []
    return FlatObservations(task, obs, states)


def _names(task, network: dict, where: str) -> list[str]:
    parts = task.observation_space
    if network.get("name") == "complex_net":
        raise UserError(f"{where}.name complex_net takes the observation parts apart; mytasks' learners take them "
                        "concatenated: use actor_critic")  # fmt: skip
    names = list(network.get("inputs") or [])
    if not names:
        raise UserError(f"task {type(task).__name__} gives its observations as a dict of parts; {where}.inputs must "
                        f"name the ones the network takes, of: {', '.join(parts.spaces)}")  # fmt: skip
    unknown = [n for n in names if n not in parts.spaces]
    if unknown:
        raise UserError(f"{where}.inputs names {unknown[0]}, which task {type(task).__name__} does not give; "
                        f"its parts: {', '.join(parts.spaces)}")  # fmt: skip
    return names


class FlatObservations:
    """``task`` with ``{"obs": ..., "states": ...}`` made of the named parts of its observation dict."""

    def __init__(self, task, obs: list[str], states: list[str]):
        parts = task.observation_space
        size = {name: int(np.prod(parts[name].shape)) for name in (*obs, *states)}
        vars(self).update(task=task, obs_names=obs, state_names=states, num_obs=sum(size[n] for n in obs),
                          num_states=sum(size[n] for n in states))  # fmt: skip
        vars(self).update(observation_space=spaces.Box(-np.inf, np.inf, (self.num_obs,), np.float32),
                          state_space=spaces.Box(-np.inf, np.inf, (self.num_states,), np.float32))  # fmt: skip

    def __getattr__(self, name: str):
        return getattr(vars(self)["task"], name)

    def __setattr__(self, name: str, value) -> None:
        setattr(self.task, name, value)

    def _flat(self, parts: dict) -> dict:
        out = {"obs": _cat(parts, self.obs_names)}
        if self.state_names:
            out["states"] = _cat(parts, self.state_names)
        return out

    def step(self, actions: torch.Tensor):
        parts, rew, done, extras = self.task.step(actions)
        return self._flat(parts), rew, done, extras

    def reset(self) -> dict:
        return self._flat(self.task.reset())

    def reset_done(self):
        parts, done_env_ids = self.task.reset_done()
        return self._flat(parts), done_env_ids


def _cat(parts: dict, names: list[str]) -> torch.Tensor:
    return torch.cat([parts[n].reshape(parts[n].shape[0], -1) for n in names], dim=1)

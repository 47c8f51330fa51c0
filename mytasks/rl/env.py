"""rl-games glue: the task handed to rl-games' agent (in an ``RLGPUEnv``, IsaacGymEnvs' vec-env
type) and player, without rl-games' registry of env names."""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def _compile_deferred():
    """rl-games 1.6.5 defines a test network of its own (``rl_games/envs/test_network.py``) under
    ``@torch.compile`` at import, which imports torch._dynamo: about 2 s of every start-up, for
    a class mytasks never builds. Within the block ``torch.compile`` hands back what it is given;
    outside it, it is torch's own (``torch_compile=True`` in a train config still compiles)."""
    compile_ = torch.compile

    def as_given(model=None, **_options):
        return model if model is not None else (lambda m: m)

    torch.compile = as_given
    try:
        yield
    finally:
        torch.compile = compile_


with _compile_deferred():  # the first import of rl-games' env registry, which imports its test envs
    from rl_games.common import vecenv  # noqa: F401
    from rl_games.common.ivecenv import IVecEnv


def env_info(task) -> dict:
    """What rl-games asks of an env before it builds its networks: the spaces."""
    info = {"action_space": task.action_space, "observation_space": task.observation_space}
    if getattr(task, "num_states", 0) > 0:
        info["state_space"] = task.state_space
    return info


def hand_over(config: dict, task, player: bool) -> None:
    """Gives rl-games the task itself, in its agent's or player's ``config``: with ``env_info``
    and ``vec_env`` there, rl-games builds no env from its process-wide registry of names (the
    agent steps an ``RLGPUEnv`` around the task, the player the task, as IsaacGymEnvs has them)."""
    config["env_info"] = env_info(task)
    config["vec_env"] = task if player else RLGPUEnv(task)


class RLGPUEnv(IVecEnv):
    """Forwards rl-games' calls to the task, which is already batched on the GPU (or CPU)."""

    def __init__(self, task):
        self.env = task

    def step(self, actions):
        return self.env.step(actions)

    def reset(self):
        return self.env.reset()

    def reset_done(self):
        return self.env.reset_done()

    def get_number_of_agents(self) -> int:
        return self.env.get_number_of_agents()

    def get_env_info(self) -> dict:
        return env_info(self.env)

    def set_train_info(self, env_frames, *args, **kwargs) -> None:
        self.env.set_train_info(env_frames, *args, **kwargs)

    def get_env_state(self):
        return self.env.get_env_state()

    def set_env_state(self, env_state) -> None:
        self.env.set_env_state(env_state)

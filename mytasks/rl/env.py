"""rl-games glue: the 'rlgpu' env and the 'RLGPU' vec-env type, as in IsaacGymEnvs."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

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
    from rl_games.common import env_configurations, vecenv
    from rl_games.common.ivecenv import IVecEnv


class RLGPUEnv(IVecEnv):
    """Forwards rl-games' calls to the task, which is already batched on the GPU (or CPU)."""

    def __init__(self, config_name: str, num_actors: int, **kwargs):
        self.env = env_configurations.configurations[config_name]["env_creator"](**kwargs)

    def step(self, actions):
        return self.env.step(actions)

    def reset(self):
        return self.env.reset()

    def reset_done(self):
        return self.env.reset_done()

    def get_number_of_agents(self) -> int:
        return self.env.get_number_of_agents()

    def get_env_info(self) -> dict:
        info = {"action_space": self.env.action_space, "observation_space": self.env.observation_space}
        if getattr(self.env, "num_states", 0) > 0:
            info["state_space"] = self.env.state_space
        return info

    def set_train_info(self, env_frames, *args, **kwargs) -> None:
        self.env.set_train_info(env_frames, *args, **kwargs)

    def get_env_state(self):
        return self.env.get_env_state()

    def set_env_state(self, env_state) -> None:
        self.env.set_env_state(env_state)


def register_rlgpu(create_task: Callable[..., object]) -> None:
    """Makes ``env_name: rlgpu`` build tasks with ``create_task(**kwargs)``."""
    vecenv.register("RLGPU", lambda config_name, num_actors, **kwargs: RLGPUEnv(config_name, num_actors, **kwargs))
    env_configurations.register(
        "rlgpu", {"vecenv_type": "RLGPU", "env_creator": lambda **kwargs: create_task(**kwargs)}
    )

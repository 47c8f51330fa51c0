"""rl-games glue: the 'rlgpu' env and the 'RLGPU' vec-env type, as in IsaacGymEnvs."""

from __future__ import annotations

from collections.abc import Callable

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

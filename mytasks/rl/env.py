"""rl-games glue: the task handed to rl-games' agent (in an ``RLGPUEnv``, IsaacGymEnvs' vec-env
type) and player, without rl-games' registry of env names."""

from __future__ import annotations

from mytasks.rl.dynamo import compile_deferred

with compile_deferred():  # the first import of rl-games' env registry, which imports its test envs
    from rl_games.common import vecenv  # noqa: F401
    from rl_games.common.ivecenv import IVecEnv


def env_info(task) -> dict:
    """What rl-games asks of an env before it builds its networks: the spaces (an AMP task's
    ``amp_observation_space`` too)."""
    info = {"action_space": task.action_space, "observation_space": task.observation_space}
    if hasattr(task, "amp_observation_space"):  # as IsaacGymEnvs' RLGPUEnv hands it to the AMP agent
        info["amp_observation_space"] = task.amp_observation_space
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

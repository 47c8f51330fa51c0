"""``learner=rl_games`` (the default): rl-games' PPO in mytasks' loop (``runner.py``, ``loop.py``),
behind the interface of ``learners.py``."""

from __future__ import annotations

import os

from omegaconf import DictConfig, OmegaConf

from mytasks.rl import checkpoints, distributed, learners, runner


def _params(cfg: DictConfig) -> dict:
    return runner.train_params(OmegaConf.to_container(cfg.train, resolve=True), cfg.rl_device)


def load(path: str, trust: bool = False) -> dict:
    return learners.check_state(checkpoints.load(path, trust=trust), path, "rl_games", "model")


def player(task, cfg: DictConfig, state: dict, path: str) -> learners.Player:
    played = runner.load_player(task, _params(cfg), state, path, cfg.task.name, cfg.sigma, cfg.verbose)
    act = lambda obs: played.get_action(obs, is_deterministic=played.is_deterministic)  # noqa: E731
    if not played.is_rnn:
        return learners.Player(act=act, actor=played)
    played.batch_size = task.num_envs
    played.init_rnn()  # the recurrent state of every env, zero at the start, as rl-games' player begins

    def episodes_ended(env_ids):
        for s in played.states:
            s[:, env_ids, :] = 0.0

    return learners.Player(act=act, actor=played, episodes_ended=episodes_ended)


def train(task, cfg: DictConfig, run_dir: str, state: dict | None) -> learners.Trained:
    from mytasks.rl.loop import LoopOptions
    from mytasks.rl.observer import RLGPUAlgoObserver

    if state is not None:
        checkpoints.check_matches(state, "the checkpoint", cfg.task.name, task.num_obs, task.num_actions)
    params = _params(cfg)
    params["config"]["train_dir"] = os.path.dirname(run_dir)
    params["config"]["full_experiment_name"] = os.path.basename(run_dir)
    learners.start_wandb(cfg, os.path.basename(run_dir))  # before rl-games opens its writer
    observer = RLGPUAlgoObserver()
    guard = cfg.nan_guard
    options = LoopOptions(task_name=cfg.task.name, verbose=bool(cfg.verbose),
                          nan_max_fraction=float(guard.max_fraction), nan_epochs=int(guard.epochs))  # fmt: skip
    algo = runner.train(task, params, observer, options, state, cfg.sigma)
    ranks = distributed.current()
    if ranks and not ranks.main:  # rank 0 saved the checkpoints
        return learners.Trained(_reward(algo.mean_rewards), "")
    name = cfg.train.params.config.name
    best = os.path.join(run_dir, "nn", f"{name}.pth")
    if not os.path.isfile(best):
        best = checkpoints.resolve(run_dir, last=True)
    return learners.Trained(_reward(algo.mean_rewards), best, best_reward=_reward(algo.last_mean_rewards))


def _reward(value) -> float | None:
    """rl-games' reward statistics start at -1e9 until an episode ends (the best: until it saves one)."""
    return None if float(value) <= -1e9 else float(value)

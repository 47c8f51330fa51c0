"""The rollout without host syncs collects exactly what rl-games' own rollout collects."""

from __future__ import annotations

import torch
from conftest import CPU, build_task
from omegaconf import OmegaConf
from rl_games.algos_torch import a2c_continuous

from mytasks.rl import runner
from mytasks.rl.agent import A2CAgent
from mytasks.rl.env import register_rlgpu
from mytasks.rl.observer import RLGPUAlgoObserver
from mytasks.utils.config import compose


def _rollout(agent_class):
    cfg = compose(["task=Cartpole", "num_envs=16", *CPU, "task.env.maxEpisodeLength=10",
                   "train.params.config.horizon_length=32", "train.params.config.minibatch_size=512"])  # fmt: skip
    register_rlgpu(lambda **_: build_task(cfg))
    params = runner.train_params(OmegaConf.to_container(cfg.train, resolve=True), "cpu")
    torch.manual_seed(0)
    rl = runner.make_runner(params, RLGPUAlgoObserver())
    agent = agent_class(base_name="run", params=rl.params)
    agent.init_tensors()
    agent.obs = agent.env_reset()
    agent.set_eval()
    with torch.no_grad():
        batch = agent.play_steps()
    return agent, batch


def test_sync_free_rollout_matches_rl_games():
    ours, ours_batch = _rollout(A2CAgent)
    assert ours._sync_free()
    theirs, theirs_batch = _rollout(a2c_continuous.A2CAgent)
    assert set(ours_batch) == set(theirs_batch)
    for key, value in theirs_batch.items():
        if isinstance(value, torch.Tensor):
            torch.testing.assert_close(ours_batch[key], value, rtol=0, atol=0, msg=key)
    assert theirs.game_lengths.current_size > 16  # episodes of 10 steps ended in the rollout
    for meter in ("game_rewards", "game_shaped_rewards", "game_lengths"):
        a, b = getattr(ours, meter), getattr(theirs, meter)
        assert a.current_size == b.current_size
        torch.testing.assert_close(a.mean, b.mean, rtol=0, atol=0)

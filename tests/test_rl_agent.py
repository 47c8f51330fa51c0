"""Our PPO agent without host syncs against rl-games' own: the same rollout, the same update."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf
from rl_games.algos_torch import a2c_continuous

from mytasks.rl import runner
from mytasks.rl.agent import A2CAgent
from mytasks.rl.env import register_rlgpu
from mytasks.rl.observer import RLGPUAlgoObserver
from mytasks.tasks import isaacgym_task_map
from mytasks.utils.config import compose


def _agent(agent_class):
    cfg = compose(["task=Cartpole", "num_envs=16", "sim_device=cpu", "rl_device=cpu", "pipeline=cpu",
                   "task.env.maxEpisodeLength=10", "train.params.config.horizon_length=32",
                   "train.params.config.minibatch_size=512"])  # fmt: skip
    task_cfg = OmegaConf.to_container(cfg.task, resolve=True)
    register_rlgpu(lambda **_: isaacgym_task_map["Cartpole"](cfg=task_cfg, rl_device="cpu", sim_device="cpu",
                                                               graphics_device_id=-1, headless=True))  # fmt: skip
    params = runner.train_params(OmegaConf.to_container(cfg.train, resolve=True), "cpu")
    torch.manual_seed(0)
    rl = runner.make_runner(params, RLGPUAlgoObserver())
    agent = agent_class(base_name="run", params=rl.params)
    agent.init_tensors()
    agent.obs = agent.env_reset()
    return agent


def _rollout(agent_class):
    agent = _agent(agent_class)
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


def _train(agent, epochs: int) -> list[float]:
    lrs = []
    for _ in range(epochs):  # each: a rollout, then 8 mini-epochs of the KL-adaptive update
        agent.epoch_num += 1
        agent.train_epoch()
        lrs.append(agent.last_lr)
    return lrs


def test_update_with_the_learning_rate_on_the_device_matches_rl_games():
    ours = _agent(A2CAgent)  # each agent seeds the RNG when built and then draws from it alone
    assert ours._lr_on_device()
    our_lrs = _train(ours, 3)
    theirs = _agent(a2c_continuous.A2CAgent)
    their_lrs = _train(theirs, 3)
    assert our_lrs == pytest.approx(their_lrs, rel=1e-5)
    assert len(set(their_lrs)) > 1  # the learning rate did adapt
    for (name, a), b in zip(ours.model.state_dict().items(), theirs.model.state_dict().values(), strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), name

"""Our PPO agent without host syncs against rl-games' own: the same rollout, the same update."""

from __future__ import annotations

import pytest
import torch
from conftest import CPU
from omegaconf import OmegaConf
from rl_games.algos_torch import a2c_continuous, torch_ext

from mytasks.rl import runner
from mytasks.rl.agent import A2CAgent
from mytasks.rl.env import hand_over
from mytasks.rl.observer import RLGPUAlgoObserver
from mytasks.tasks import make_task
from mytasks.utils.config import compose

CARTPOLE = ["task=Cartpole", "task.env.maxEpisodeLength=10", "train.params.config.horizon_length=32",
            "train.params.config.minibatch_size=512"]  # fmt: skip
# G1: a critic of its own (rl-games' central value, on the task's states)
G1 = ["task=G1", "task.env.maxEpisodeLength=10", "train.params.config.horizon_length=32",
      "train.params.config.minibatch_size=128",
      "train.params.config.central_value_config.minibatch_size=128"]  # fmt: skip


def _agent(agent_class, *overrides: str, device: str = "cpu", task: list[str] = CARTPOLE):
    on = CPU if device == "cpu" else [f"sim_device={device}", f"rl_device={device}", "pipeline=gpu"]
    cfg = compose([*overrides, *task, "num_envs=16", *on])
    params = runner.train_params(OmegaConf.to_container(cfg.train, resolve=True), device)
    rl = runner.Setup(params, RLGPUAlgoObserver())  # seeds with the run's seed
    hand_over(rl.params["config"], make_task(cfg, headless=True), player=False)  # the task, then the networks
    agent = agent_class(base_name="run", params=rl.params)
    agent.init_tensors()
    agent.obs = agent.env_reset()
    return agent


def _rollout(agent_class, task: list[str] = CARTPOLE):
    agent = _agent(agent_class, task=task)
    agent.set_eval()
    with torch.no_grad():
        batch = agent.play_steps()
    return agent, batch


@pytest.mark.parametrize("task", [CARTPOLE, G1], ids=["Cartpole", "G1 with a central value"])
def test_sync_free_rollout_matches_rl_games(task):
    ours, ours_batch = _rollout(A2CAgent, task)
    assert ours._sync_free()
    theirs, theirs_batch = _rollout(a2c_continuous.A2CAgent, task)
    assert set(ours_batch) == set(theirs_batch)
    for key, value in theirs_batch.items():
        if isinstance(value, torch.Tensor):
            torch.testing.assert_close(ours_batch[key], value, rtol=0, atol=0, msg=key)
    assert theirs.game_lengths.current_size > 16  # episodes of 10 steps ended in the rollout
    for meter in ("game_rewards", "game_shaped_rewards", "game_lengths"):
        a, b = getattr(ours, meter), getattr(theirs, meter)
        assert a.current_size == b.current_size
        torch.testing.assert_close(a.mean, b.mean, rtol=0, atol=0)


def _train(agent, epochs: int) -> tuple[list[float], list[float]]:
    lrs, losses = [], []
    for _ in range(epochs):  # each: a rollout, then 8 mini-epochs of the KL-adaptive update
        agent.epoch_num += 1
        result = agent.train_epoch()
        lrs.append(agent.last_lr)
        losses.append(torch_ext.mean_list(result[4]).item())  # the actor loss over the minibatches
    return lrs, losses


LOW_KL = "train.params.config.kl_threshold=0.0005"  # the learning rate rises to its cap, then falls


@pytest.mark.parametrize("task", [CARTPOLE, G1], ids=["Cartpole", "G1 with a central value"])
def test_update_without_host_syncs_matches_rl_games(task):
    ours = _agent(A2CAgent, LOW_KL, task=task)  # each agent seeds the RNG when built and then draws from it alone
    assert ours._update_on_device()
    our_lrs, our_losses = _train(ours, 3)
    theirs = _agent(a2c_continuous.A2CAgent, LOW_KL, task=task)
    their_lrs, their_losses = _train(theirs, 3)
    assert our_lrs == pytest.approx(their_lrs, rel=1e-5)
    assert len(set(their_lrs)) == 3  # the rate adapted in every epoch
    if task is CARTPOLE:
        assert their_lrs[0] < their_lrs[1] > their_lrs[2]  # both ways
    assert our_losses == pytest.approx(their_losses, rel=1e-4, abs=1e-6)
    for (name, a), b in zip(ours.model.state_dict().items(), theirs.model.state_dict().values(), strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), name  # weights and the input statistics


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("task", [CARTPOLE, G1], ids=["Cartpole", "G1 with a central value"])
def test_update_replayed_as_a_cuda_graph_matches_the_eager_update(task):
    graphed = _agent(A2CAgent, LOW_KL, device="cuda:0", task=task)
    graphed_lrs, graphed_losses = _train(graphed, 3)  # 24 minibatches: 3 warm-up, then capture and replays
    assert graphed._update_graph.graph is not None
    eager = _agent(A2CAgent, LOW_KL, "+train.params.config.update_graph=False", device="cuda:0", task=task)
    eager_lrs, eager_losses = _train(eager, 3)
    assert eager._update_graph.graph is None
    assert graphed_lrs == pytest.approx(eager_lrs, rel=1e-5)
    assert graphed_losses == pytest.approx(eager_losses, rel=1e-4, abs=1e-6)
    for (name, a), b in zip(graphed.model.state_dict().items(), eager.model.state_dict().values(), strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), name  # weights and the input statistics

"""Non-finite physics is contained; a task's snapshot restores it exactly."""

from __future__ import annotations

import math

import torch
from conftest import CPU

from mytasks.sim import gymtorch
from mytasks.tasks import make_task
from mytasks.utils.config import compose


def _cartpole(num_envs: int = 4, *overrides: str):
    return make_task(compose(["task=Cartpole", f"num_envs={num_envs}", *CPU, *overrides]), headless=True)


def test_an_env_whose_state_turns_nan_is_zeroed_flagged_done_counted_and_reset():
    torch.manual_seed(0)
    task = _cartpole()
    actions = torch.zeros(4, 1)
    for _ in range(3):
        task.step(actions)
    before = task.dof_state.clone()
    task.dof_state.view(4, 2, 2)[2] = math.nan  # env 2 blows up
    task.gym.set_dof_state_tensor(task.sim, gymtorch.unwrap_tensor(task.dof_state))
    obs, rew, done, extras = task.step(actions)
    assert torch.isfinite(obs["obs"]).all() and torch.isfinite(rew).all()
    assert done[2] == 1 and torch.equal(obs["obs"][2], torch.zeros(4)) and rew[2] == 0.0
    assert not extras["time_outs"][2]
    assert (done[[0, 1, 3]] == 0).all()  # the others go on
    assert torch.isfinite(task.dof_state.view(4, 2, 2)[[0, 1, 3]]).all()
    blown = task.nonfinite.take()
    assert (blown.events, blown.envs, blown.fraction) == (1, 1, 0.25)
    assert (blown.quantity, blown.env_index) == ("non-finite observations", 2)
    obs, _, done, _ = task.step(actions)  # env 2 starts a new episode, from a finite state
    assert done[2] == 0 and torch.isfinite(obs["obs"]).all() and task.progress_buf[2] == 0  # reset this step
    assert task.nonfinite.take().events == 0
    assert not torch.equal(before, task.dof_state)


def test_an_env_that_stays_finite_but_absurd_is_a_blow_up_too():
    """A pole spun at 1e4 rad/s (its body at thousands of m/s) stays finite, as bodies reaching
    1e16 m/s in a bad contact did; faster than nan_guard.max_body_speed (100 m/s) it is a
    blow-up, zeroed, ended and counted as a NaN is. An observation beyond
    nan_guard.max_observation is one too; a pole at 20 rad/s is neither."""
    task = _cartpole(4, "nan_guard.max_observation=50")
    actions = torch.zeros(4, 1)
    task.step(actions)
    task.step(actions)
    task.nonfinite.take()
    pole_speed = task.dof_state.view(4, 2, 2)[:, 1, 1]
    pole_speed[:] = torch.tensor([20.0, 1e4, 60.0, 0.0])  # env 1: a body far past 100 m/s; env 2: obs 60 > 50
    task.gym.set_dof_state_tensor(task.sim, gymtorch.unwrap_tensor(task.dof_state))
    obs, rew, done, _ = task.step(actions)
    assert torch.isfinite(obs["obs"]).all()
    assert task.nonfinite_buf.tolist() == [False, True, True, False]
    assert torch.equal(obs["obs"][1], torch.zeros(4)) and rew[1] == 0.0 and done[1] == 1 and done[2] == 1
    blown = task.nonfinite.take()
    assert (blown.envs, blown.env_index) == (2, 1)
    assert blown.quantity == "observations beyond nan_guard.max_observation"  # the first of those seen, in order
    _, _, done, _ = task.step(actions)
    assert task.progress_buf[1] == 0 and task.nonfinite.take().envs == 0  # both started again, from finite states
    task.nonfinite.max_observation = math.inf  # the body speed alone
    task.dof_state.view(4, 2, 2)[3, 1, 1] = 1e4
    task.gym.set_dof_state_tensor(task.sim, gymtorch.unwrap_tensor(task.dof_state))
    task.step(actions)
    blown = task.nonfinite.take()
    assert (blown.envs, blown.env_index, blown.quantity) == (1, 3, "bodies faster than nan_guard.max_body_speed")


def test_a_snapshot_restores_the_task_and_its_sim_exactly():
    torch.manual_seed(1)
    task = _cartpole()
    actions = lambda: torch.rand(4, 1) * 2 - 1  # noqa: E731
    for _ in range(30):
        task.step(actions())
    snap, rng = task.snapshot(), torch.get_rng_state()
    first = [task.step(actions())[0]["obs"].clone() for _ in range(40)]  # resets happen in here
    torch.manual_seed(2)  # the other task is built with other random numbers
    other = _cartpole()
    assert other.restore_snapshot(snap) is None
    torch.set_rng_state(rng)
    again = [other.step(actions())[0]["obs"].clone() for _ in range(40)]
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a, b)


def test_a_snapshot_is_not_restored_into_a_task_of_another_config():
    snap = _cartpole().snapshot()
    assert _cartpole(4, "task.env.maxEffort=10").restore_snapshot(snap) == (
        "the task config differs from the checkpoint's run"
    )

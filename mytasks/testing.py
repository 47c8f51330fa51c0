"""Check a task against the VecTask contract, in your own test suite as in mytasks' own.

    from mytasks.testing import check_task

    def test_my_task_keeps_the_vectask_contract():
        check_task("MyTask")                          # an installed package's task
        check_task("MyTask", task_path="path/to/project")   # a project folder not installed

``check_task`` builds the task as ``train.py`` does (its YAMLs composed with the overrides
given, a few envs on the CPU, no viewer, episodes cut to ``episode`` steps), steps it with
random actions for three episodes and checks what the learners rely on (the contract in
``mytasks/tasks/base/vec_task.py``): the spaces and buffer shapes and dtypes, finite and clipped
observations, rewards and resets of one value per env, ``extras["time_outs"]`` a subset of the
resets, episodes that end by time-out at the length set, and ``reset_done`` returning the flagged
envs. A broken rule fails with an ``AssertionError`` that names it.
"""

from __future__ import annotations

CPU = ("sim_device=cpu", "rl_device=cpu", "pipeline=cpu")


def make(name: str, *overrides: str, num_envs: int = 4, episode: int = 8, task_path: str = ""):
    """The task ``name`` built as ``train.py`` builds it, on the CPU without a viewer."""
    from mytasks.tasks import compose_config, make_task

    where = [f"task_path={task_path}"] if task_path else []
    cfg = compose_config([f"task={name}", *where, f"num_envs={num_envs}", *CPU, "headless=True",
                          f"task.env.maxEpisodeLength={episode}", *overrides])  # fmt: skip
    return make_task(cfg, headless=True)


def check_task(name: str, *overrides: str, num_envs: int = 4, episode: int = 8, task_path: str = "",
               seed: int = 0) -> None:  # fmt: skip
    """Builds task ``name`` (with config ``overrides``) and checks the VecTask contract."""
    import torch

    torch.manual_seed(seed)
    task = make(name, *overrides, num_envs=num_envs, episode=episode, task_path=task_path)
    n = task.num_envs
    assert n == num_envs, f"num_envs: asked for {num_envs}, the task has {n}"
    assert task.observation_space.shape == (task.num_obs,), "observation_space is not (num_obs,)"
    assert task.action_space.shape == (task.num_actions,), "action_space is not (num_actions,)"
    assert (task.action_space.low == -1).all() and (task.action_space.high == 1).all(), "actions are not in [-1, 1]"
    assert task.reset_buf.dtype == torch.long, f"reset_buf is {task.reset_buf.dtype}, not torch.long"
    assert bool((task.reset_buf == 1).all()), "every env must start flagged for reset (reset_buf all 1)"
    obs = task.reset()
    assert set(obs) == ({"obs", "states"} if task.num_states > 0 else {"obs"}), f"reset() returned keys {set(obs)}"
    saw_reset = saw_timeout = False
    for step in range(3 * episode):
        actions = 2 * torch.rand(n, task.num_actions) - 1
        obs, rew, reset, extras = task.step(actions)
        at = f"step {step}"
        assert obs["obs"].shape == (n, task.num_obs), f"{at}: obs is {tuple(obs['obs'].shape)}, not ({n}, num_obs)"
        assert obs["obs"].dtype == torch.float32, f"{at}: obs is {obs['obs'].dtype}, not float32"
        assert rew.shape == (n,) and reset.shape == (n,), f"{at}: reward or reset is not one value per env"
        assert torch.isfinite(obs["obs"]).all(), f"{at}: non-finite observations"
        assert torch.isfinite(rew).all(), f"{at}: non-finite rewards"
        assert obs["obs"].abs().max() <= task.clip_obs, f"{at}: observations beyond clipObservations"
        assert extras["time_outs"].shape == (n,), f"{at}: extras['time_outs'] is not one flag per env"
        assert bool((extras["time_outs"].bool() <= reset.bool()).all()), f"{at}: a time-out that is not a reset"
        assert int(task.progress_buf.max()) <= episode, f"{at}: an episode ran past maxEpisodeLength"
        saw_reset |= bool(reset.any())
        saw_timeout |= bool(extras["time_outs"].any())
    assert saw_reset, f"no env was reset in {3 * episode} steps of {episode}-step episodes"
    assert saw_timeout, f"no episode timed out in {3 * episode} steps: extras['time_outs'] never set"
    task.reset_buf[:] = 0
    flagged = [i for i in range(n) if i % 2]
    task.reset_buf[flagged] = 1
    _, ids = task.reset_done()
    assert sorted(ids.tolist()) == flagged, f"reset_done() reset envs {ids.tolist()}, not the flagged {flagged}"
    assert int(task.reset_buf.sum()) == 0, "reset_done() left envs flagged for reset"

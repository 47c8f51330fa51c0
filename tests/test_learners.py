"""learner=rsl_rl, skrl and sb3: each wrapper against its learner's interface, and train.py
with each learner as a user runs it (training whose reward rises, the run directory, play
from it, resume, export, Ctrl-C, bad input)."""

from __future__ import annotations

import glob
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import CPU, ROOT, TRAIN, read_until_epoch, run_python, run_train, start_train, train_command

from mytasks.rl import checkpoints
from mytasks.tasks import make_task
from mytasks.utils.config import compose

LEARNERS = ("rsl_rl", "skrl", "sb3")
EPOCH = re.compile(r"^epoch +(\d+)/(\d+)  reward +([-\d.]+|n/a)  length", re.M)
PLAYED = re.compile(r"played (\d+) episodes in [\d.]+ s: average reward ([-\d.]+)")
# The learners' own Cartpole settings, on 256 envs (the default is 512), saving every 10 epochs
CARTPOLE = ["task=Cartpole", "headless=True", "num_envs=256", "train.params.config.save_frequency=10"]
EPOCHS = {"rsl_rl": 100, "skrl": 50, "sb3": 60}  # rsl_rl: its mean action at 60-80 epochs falls at ~130 steps


def _cartpole(num_envs: int = 8):
    return make_task(compose(["task=Cartpole", f"num_envs={num_envs}", *CPU, "headless=True"]), headless=True)


def _rewards(out: str) -> list[float]:
    return [float(m[2]) for m in EPOCH.findall(out) if m[2] != "n/a"]


# ---------------------------------------------------------------- the wrappers
def test_rsl_rl_env_is_its_vec_env_with_groups_and_time_outs():
    from rsl_rl.env import VecEnv
    from tensordict import TensorDict

    from mytasks.rl.rsl_rl_learner import RslRlEnv

    task = _cartpole()
    env = RslRlEnv(task)
    assert isinstance(env, VecEnv) and env.num_envs == 8 and env.num_actions == 1
    obs = env.get_observations()
    assert isinstance(obs, TensorDict) and obs.batch_size == torch.Size([8]) and obs["policy"].shape == (8, 4)
    timeouts = 0
    for _ in range(int(task.max_episode_length) + 2):  # random actions end episodes, the time limit ends the rest
        obs, rew, done, extras = env.step(torch.rand(8, 1) * 2 - 1)
        assert rew.shape == (8,) and done.shape == (8,) and extras["time_outs"].shape == (8,)
        assert bool((extras["time_outs"].bool() <= (done != 0)).all())  # a time-out is a done
        timeouts += int(extras["time_outs"].sum())
    env.episode_length_buf = torch.full((8,), 7)  # rsl_rl's init_at_random_ep_len writes the task's counter
    assert task.progress_buf.tolist() == [7] * 8
    task.close()


def test_rsl_rl_gives_the_critic_the_tasks_privileged_states():
    from mytasks.rl.rsl_rl_learner import RslRlEnv

    task = make_task(compose(["task=G1", "learner=rsl_rl", "num_envs=2", *CPU, "headless=True"]), headless=True)
    obs = RslRlEnv(task).get_observations()
    assert obs["policy"].shape == (2, task.num_obs) and obs["critic"].shape == (2, task.num_states)
    assert task.num_states > task.num_obs
    task.close()


def test_sb3_vec_env_reports_episodes_terminal_observations_and_time_limits():
    from stable_baselines3.common.vec_env import VecCheckNan, VecNormalize

    from mytasks.rl.sb3_learner import Sb3VecEnv

    task = _cartpole()
    env = VecCheckNan(Sb3VecEnv(task), raise_exception=True)  # SB3's own check of every step's values
    obs = env.reset()
    assert isinstance(obs, np.ndarray) and obs.shape == (8, 4) and obs.dtype == np.float32
    assert env.observation_space.contains(obs[0]) and env.action_space.shape == (1,)
    returns, ended = np.zeros(8), []
    for _ in range(int(task.max_episode_length) + 2):
        env.step_async(np.random.uniform(-1, 1, (8, 1)).astype(np.float32))
        obs, rew, dones, infos = env.step_wait()
        assert rew.shape == (8,) and rew.dtype == np.float32 and dones.dtype == bool and len(infos) == 8
        returns += rew
        for i in np.flatnonzero(dones):
            info = infos[i]
            assert np.array_equal(info["terminal_observation"], obs[i])  # IsaacGymEnvs: reset on the next step
            assert abs(info["episode"]["r"] - returns[i]) < 1e-3  # the episode's own sum of rewards
            ended.append(info["TimeLimit.truncated"])
            returns[i] = 0.0
        assert all(not infos[i] for i in np.flatnonzero(~dones))
    assert False in ended  # the pole fell in some episodes
    norm = VecNormalize(Sb3VecEnv(task))
    norm.reset()
    norm.step(np.zeros((8, 1), np.float32))
    assert norm.obs_rms.count > 1
    task.close()


def test_skrl_env_splits_done_into_terminated_and_truncated():
    from skrl.envs.wrappers.torch.base import Wrapper

    from mytasks.rl.skrl_learner import SkrlEnv

    task = _cartpole()
    env = SkrlEnv(task)
    assert isinstance(env, Wrapper) and env.num_envs == 8 and env.state_space is None and env.state() is None
    obs, info = env.reset()
    assert obs.shape == (8, 4) and env.observation_space.shape == (4,)
    for _ in range(int(task.max_episode_length) + 2):
        obs, rew, terminated, truncated, extras = env.step(torch.rand(8, 1) * 2 - 1)
        assert rew.shape == terminated.shape == truncated.shape == (8, 1)
        assert not bool((terminated & truncated).any())
        assert torch.equal((terminated | truncated).flatten(), task.reset_buf != 0)
    mean_return, mean_length = env.means()
    assert env.episodes and mean_length > 1 and mean_return > 0
    task.close()


# ---------------------------------------------------------------- train.py with each learner
@pytest.fixture(scope="module")
def cwd(tmp_path_factory):
    return str(tmp_path_factory.mktemp("learners"))


@pytest.fixture(scope="module")
def runs(cwd):
    """One short Cartpole training per learner: its run directory and output."""
    out = {}
    for learner in LEARNERS:
        p = run_train(*CARTPOLE, f"learner={learner}", f"max_iterations={EPOCHS[learner]}", f"experiment={learner}",
                      cwd=cwd)  # fmt: skip
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
        (run_dir,) = glob.glob(os.path.join(cwd, "runs", f"{learner}_*"))
        out[learner] = run_dir, p.stdout
    return out


@pytest.mark.slow
@pytest.mark.parametrize("learner", LEARNERS)
def test_training_reward_rises_and_writes_the_run_directory(runs, learner):
    run_dir, out = runs[learner]
    rewards = _rewards(out)
    assert rewards[-1] > 150.0 and rewards[-1] > 4 * rewards[0], rewards
    assert [int(m[0]) for m in EPOCH.findall(out)] == list(range(1, EPOCHS[learner] + 1))  # one line per epoch
    assert all(os.path.isfile(os.path.join(run_dir, f)) for f in ("config.yaml", "overrides.yaml"))
    saved = sorted(os.path.basename(p) for p in glob.glob(os.path.join(run_dir, "nn", "*.pth")))
    assert f"last_{learner}_ep_{EPOCHS[learner]}.pth" in saved and len(saved) >= 3, saved
    assert glob.glob(os.path.join(run_dir, "summaries", "**", "events.out.tfevents.*"), recursive=True)
    state = checkpoints.load(os.path.join(run_dir, "nn", f"last_{learner}_ep_{EPOCHS[learner]}.pth"), key="learner")
    assert state["learner"] == learner and state["epoch"] == EPOCHS[learner]
    assert state["spaces"] == {"obs": 4, "actions": 1}
    assert "training done: mean episode reward" in out
    assert f"play it back: {TRAIN} task=Cartpole test=True checkpoint=runs/{os.path.basename(run_dir)}" in out


@pytest.mark.slow
@pytest.mark.parametrize("learner", LEARNERS)
def test_play_from_the_run_directory_uses_the_runs_learner(runs, learner, cwd):
    run_dir, out = runs[learner]
    p = run_train("test=True", f"checkpoint={run_dir}", "num_envs=64", "play_episodes=64", cwd=cwd)
    assert p.returncode == 0, p.stderr[-2000:]
    m = PLAYED.search(p.stdout)
    assert m and int(m[1]) >= 64
    assert float(m[2]) > 0.6 * _rewards(out)[-1] and float(m[2]) > 100.0, (m[2], _rewards(out)[-1])


@pytest.mark.slow
@pytest.mark.parametrize("learner", LEARNERS)
def test_export_acts_as_the_player(runs, learner, tmp_path):
    import onnxruntime

    from mytasks.cli import config_dirs
    from mytasks.rl import learners
    from mytasks.utils.config import resolved
    from mytasks.utils.run_config import load_config

    run_dir, _ = runs[learner]
    out = str(tmp_path / "exported")
    p = run_train("test=True", f"checkpoint={run_dir}", "export=True", f"export_dir={out}", "play_episodes=0")
    assert p.returncode == 0, p.stderr[-2000:]
    argv = ["test=True", f"checkpoint={run_dir}", *CPU, "num_envs=8", "headless=True"]
    cfg = resolved(load_config(argv, config_dirs))
    task = make_task(cfg, headless=True)
    module = learners.get(learner)
    path = checkpoints.resolve(run_dir, last=True)
    player = module.player(task, cfg, module.load(path), path)
    # Some observations past the task's clip (5): the export clamps them as the task's step does
    # before the player sees them.
    obs = torch.randn(64, 4, generator=torch.Generator().manual_seed(0)) * 4
    session = onnxruntime.InferenceSession(os.path.join(out, "policy.onnx"))
    onnx_actions = session.run(None, {"obs": obs.numpy()})[0]
    seen = torch.clamp(obs, -task.clip_obs, task.clip_obs)
    expected = torch.clamp(player.act(seen), -task.clip_actions, task.clip_actions)
    assert (obs.abs() > task.clip_obs).any() and np.allclose(onnx_actions, expected.numpy(), atol=1e-5)
    scripted = torch.jit.load(os.path.join(out, "policy.pt"))
    assert torch.allclose(scripted(obs), expected, atol=1e-5)
    task.close()


@pytest.mark.slow
def test_sigint_saves_and_resume_goes_on_from_that_epoch(cwd):
    proc = start_train(*CARTPOLE, "learner=rsl_rl", "max_iterations=1000", "experiment=stop", cwd=cwd)
    read_until_epoch(proc, 3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGINT, err[-2000:]
    assert "SIGINT: saving a checkpoint at the end of this epoch" in out
    saved = re.search(r"checkpoint saved: (\S+_ep_(\d+)_interrupted\.pth)", err)
    assert saved, err[-2000:]
    epoch = int(saved[2])
    resume = re.search(r"resume with: python \S*train.py (.*)", err)[1].split()
    assert "learner=rsl_rl" in resume
    p = run_train(*[a for a in resume if not a.startswith("max_iterations=")], f"max_iterations={epoch + 3}", cwd=cwd)
    assert p.returncode == 0, p.stderr[-2000:]
    assert [int(m[0]) for m in EPOCH.findall(p.stdout)] == [epoch + 1, epoch + 2, epoch + 3]


@pytest.mark.slow
@pytest.mark.parametrize("learner", LEARNERS)
def test_blown_up_physics_stops_with_a_checkpoint_and_one_line(learner, tmp_path):
    """nan_guard with every learner: a cart force of 1e12 N turns every env's state NaN at once."""
    p = run_train("task=Cartpole", "headless=True", "num_envs=64", f"learner={learner}", "max_iterations=20",
                  "task.env.maxEffort=1e12", "nan_guard.epochs=2", "experiment=blowup", cwd=str(tmp_path))  # fmt: skip
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stdout[-2000:] + p.stderr[-2000:]
    m = re.search(r"error: task Cartpole blew up: non-finite observations \(env \d+ first\) in 100% of the envs "
                  r"for 2 epochs in a row; last good checkpoint: (\S+\.pth)", p.stderr)  # fmt: skip
    assert m, p.stderr
    assert "blown up: 64 envs (non-finite observations)" in p.stdout  # counted on the epoch line
    state = checkpoints.load(str(tmp_path / m[1]), key="epoch")
    assert state["epoch"] == 2 and state["learner"] == learner
    assert all(torch.isfinite(t).all() for t in _tensors(state))  # NaN never reached the learner


def _tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict | list | tuple):
        for v in value.values() if isinstance(value, dict) else value:
            yield from _tensors(v)


# ---------------------------------------------------------------- bad input: one line, exit 2
def test_a_task_without_the_learners_train_config_is_one_line():
    p = run_train("task=Go2", "learner=sb3")
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0, p.stderr
    assert ("task Go2 has no train config for learner=sb3 (cfg/train/Go2PPO_sb3.yaml); its learners: rl_games, "
            "rsl_rl") in p.stderr  # fmt: skip


def test_an_unknown_learner_is_one_line():
    p = run_train("task=Cartpole", "learner=cleanrl")
    assert p.returncode == 2 and "learner must be one of rl_games, rsl_rl, skrl, sb3, got 'cleanrl'" in p.stderr


@pytest.mark.slow
def test_a_checkpoint_of_another_learner_is_one_line_naming_it(runs, cwd):
    run_dir, _ = runs["rsl_rl"]
    p = run_train("test=True", f"checkpoint={run_dir}", "learner=sb3", cwd=cwd)
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0, p.stderr
    assert "is not a checkpoint of this learner" in p.stderr and "learner=rsl_rl" in p.stderr


def test_a_missing_learner_package_is_one_line_naming_the_install():
    hide = ("import importlib.util as u, runpy, sys; real = u.find_spec; "
            "u.find_spec = lambda name, *a: None if name == 'skrl' else real(name, *a); "
            f"sys.argv = ['train.py', *sys.argv[1:]]; runpy.run_path({os.path.join(ROOT, 'train.py')!r}, "
            "run_name='__main__')")  # fmt: skip
    p = subprocess.run([sys.executable, "-c", hide, "task=Cartpole", "learner=skrl", "headless=True", *CPU],
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0, p.stderr
    assert 'learner=skrl needs skrl, which is not installed: pip install -e ".[learners]"' in p.stderr


# A scalar each learner writes to TensorBoard; the default run checks rl-games' (wandb's start
# is most of each of these runs), ``-m long`` the other learners' too.
_LONG = pytest.mark.long
WANDB_TAGS = [("rl_games", "losses/a_loss"), pytest.param("rsl_rl", "Loss/learning_rate", marks=_LONG),
              pytest.param("skrl", "Loss / Policy loss", marks=_LONG),
              pytest.param("sb3", "train/learning_rate", marks=_LONG)]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("learner", "tag"), WANDB_TAGS)
def test_each_learner_logs_to_wandb_and_runs_torch_on_the_threads_the_train_file_sets(learner, tag, tmp_path):
    """wandb_activate=True (offline here): the run's TensorBoard scalars reach the wandb run. And
    params.torch_threads holds for every learner: torch's default of a thread per core made these
    trainings 5x slower on 2 cores whenever anything ran beside them."""
    env = dict(os.environ, WANDB_MODE="offline", WANDB_DIR=str(tmp_path), PYTHONUNBUFFERED="1")
    argv = train_command("task=Cartpole", "headless=True", "num_envs=64", "max_iterations=3", "wandb_activate=True",
                         f"learner={learner}", "viewer=none", "++train.params.torch_threads=3")[1:]  # fmt: skip
    probe = ("import atexit, runpy, sys, torch\n"
             "atexit.register(lambda: print('torch threads', torch.get_num_threads()))\n"
             f"sys.argv = {argv!r}\n"
             "runpy.run_path(sys.argv[0], run_name='__main__')")  # fmt: skip
    p = run_python("-c", probe, timeout=600, cwd=tmp_path, env=env)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert p.stdout.rstrip().endswith("torch threads 3"), p.stdout[-500:]
    (record,) = glob.glob(str(tmp_path / "wandb" / "offline-run-*" / "run-*.wandb"))
    with open(record, "rb") as f:
        assert tag.encode() in f.read()

"""Shared set-up: everything runs on the CPU with the real Newton engine."""

from __future__ import annotations

import atexit
import functools
import os
import re
import subprocess
import sys

import pytest
import torch
import warm_python

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSETS = os.path.join(ROOT, "assets")
# An IsaacGymEnvs checkout (upstream 1.5.1 unless MYTASKS_IGE_ROOT names another).
IGE = os.environ.get("MYTASKS_IGE_ROOT", os.path.join(os.path.dirname(ROOT), "shared", "ige-upstream"))
needs_ige = pytest.mark.skipif(not os.path.isdir(os.path.join(IGE, "isaacgymenvs", "tasks")),
                               reason=f"no IsaacGymEnvs checkout at {IGE} (set MYTASKS_IGE_ROOT to one)")  # fmt: skip


def build_cartpole(num_envs: int = 4, *, fixed: bool = True, gravity: float = -9.81, dt: float = 1 / 60,
                   substeps: int = 2, drive=None, height: float = 2.0, ground: bool = True, pose_fn=None):  # fmt: skip
    """A cart-pole sim through the isaacgym API. ``drive(props)`` edits each actor's DOF props."""
    from mytasks.sim import gymapi

    gym = gymapi.acquire_gym()
    sp = gymapi.SimParams()
    sp.use_gpu_pipeline = False
    sp.dt, sp.substeps = dt, substeps
    sp.gravity = gymapi.Vec3(0.0, 0.0, gravity)
    sp.newton.nconmax, sp.newton.njmax = 8, 32
    sim = gym.create_sim(-1, -1, gymapi.SIM_NEWTON, sp)
    if ground:
        gym.add_ground(sim, gymapi.PlaneParams())
    opts = gymapi.AssetOptions()
    opts.fix_base_link = fixed
    asset = gym.load_asset(sim, ASSETS, "urdf/cartpole.urdf", opts)
    envs = []
    for i in range(num_envs):
        env = gym.create_env(sim, gymapi.Vec3(-2, -2, 0), gymapi.Vec3(2, 2, 2), 2)
        pose = pose_fn(i) if pose_fn else gymapi.Transform(gymapi.Vec3(0.0, 0.0, height))
        h = gym.create_actor(env, asset, pose, "cartpole", i, 1, 0)
        props = gym.get_actor_dof_properties(env, h)
        props["driveMode"][:] = gymapi.DOF_MODE_NONE
        if drive:
            drive(props)
        gym.set_actor_dof_properties(env, h, props)
        envs.append(env)
    gym.prepare_sim(sim)
    return gym, sim, envs, asset


CPU = ["sim_device=cpu", "rl_device=cpu", "pipeline=cpu"]
# How a run's closing lines name the command the tests run (the one typed, path and all).
TRAIN = f"python {os.path.join(ROOT, 'train.py')}"


def walk_forward(task: str, checkpoint: str, command: float, steps: int = 200):
    """A shipped legged policy on 16 CPU envs asked for ``command`` m/s straight ahead, for
    ``steps`` policy steps (4 s at 50 Hz), failing at the first fall; returns its mean forward
    speed after the first second and the env."""
    from omegaconf import OmegaConf

    from mytasks.rl import checkpoints, runner
    from mytasks.tasks import make_task
    from mytasks.utils.config import compose
    from mytasks.utils.seed import set_seed

    ranges = "task.env.commands.ranges"
    cfg = compose([f"task={task}", *CPU, "num_envs=16", "test=True", f"checkpoint={checkpoint}",
                   f"{ranges}.linVelX=[{command},{command}]", f"{ranges}.linVelY=[0.0,0.0]",
                   f"{ranges}.heading=[0.0,0.0]"])  # fmt: skip
    set_seed(cfg.seed, False)  # as train.py seeds before it builds the task
    params = runner.train_params(OmegaConf.to_container(cfg.train, resolve=True), "cpu")
    player = runner.load_player(make_task(cfg, headless=True), params, checkpoints.load(checkpoint), checkpoint, task)
    env = player.env
    torch.manual_seed(0)  # what the walk draws (noise, pushes), whatever building drew before
    obs = env.reset()["obs"]
    speeds = []
    for step in range(steps):
        obs_dict, _, done, _ = env.step(player.get_action(obs, is_deterministic=True))
        obs = obs_dict["obs"]
        assert not done.any(), f"fell at step {step}"
        if step >= 50:  # after 1 s of getting going
            speeds.append(env.base_lin_vel[:, 0].clone())
    return torch.stack(speeds).mean().item(), env


def run_train(*args: str, timeout: float = 600, cwd=None, fresh: bool = False, env: dict | None = None):
    """``python train.py ARGS`` as a user runs it, on the CPU; with ``viewer=none`` unless the
    arguments choose a viewer (test_viewer.py tests the viewers). The run is a child of this
    worker's warm Python (``warm_python.py``: the imports done once), or with ``fresh`` (or
    ``MYTASKS_TEST_FRESH=1`` for every run) a new interpreter."""
    return run_python(*train_command(*args)[1:], timeout=timeout, cwd=cwd, fresh=fresh, env=env)


def run_python(*command: str, timeout: float = 600, cwd=None, fresh: bool = False, env: dict | None = None):
    """``python COMMAND`` (a script and its arguments, or ``-c CODE ...``) run to its end, as
    ``subprocess.run(..., capture_output=True, text=True)`` returns it."""
    proc = _start([sys.executable, *command], cwd or ROOT, fresh, env, None, None)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def start_train(*args: str, cwd, fresh: bool = False, env: dict | None = None, stdout=None, stderr=None):
    """``python train.py ARGS`` in the background (for signals mid-run), its output in pipes
    unless ``stdout`` is a file (``stderr=subprocess.STDOUT`` joins them): a
    ``subprocess.Popen``, or its like for a child of the warm Python."""
    return _start(train_command(*args), cwd, fresh, env, stdout, stderr)


def _start(command: list[str], cwd, fresh: bool, env: dict | None, stdout, stderr):
    env = dict(os.environ if env is None else env, PYTHONUNBUFFERED="1")
    if fresh or os.environ.get("MYTASKS_TEST_FRESH"):
        return subprocess.Popen(command, cwd=cwd, stdout=stdout or subprocess.PIPE, stderr=stderr or subprocess.PIPE,
                                text=True, env=env)  # fmt: skip
    return warm_python.WarmPopen(_warm_server(), command[1:], cwd, env, stdout, stderr)


@functools.cache
def _warm_server() -> warm_python.WarmServer:
    """This worker's warm Python, started on first use and stopped when the worker ends."""
    server = warm_python.WarmServer(ROOT)
    atexit.register(server.close)
    return server


def read_until_epoch(proc: subprocess.Popen, epoch: int) -> str:
    """The run's output up to its line for ``epoch``; fails with its stderr if it ends first."""
    seen = ""
    while not re.search(rf"^epoch +{epoch}/", seen, re.M):
        line = proc.stdout.readline()
        assert line, proc.stderr.read()[-2000:]
        seen += line
    return seen


def train_command(*args: str) -> list[str]:
    chosen = any(a.partition("=")[0] in ("viewer", "headless") for a in args)
    return [sys.executable, os.path.join(ROOT, "train.py"), *args, *([] if chosen else ["viewer=none"])]


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("runs"))

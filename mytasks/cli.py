"""``python train.py task=<Name> [key=value ...]``: compose the config, build the task, train or play.

Bad input ends with one line on stderr that names the problem and the fix, and exit code 2;
``--traceback`` shows the full trace of any error.
"""

from __future__ import annotations

import datetime
import os
import random
import sys

from omegaconf import DictConfig, OmegaConf

from mytasks.utils.config import UserError, compose, task_files

USAGE = """usage: python train.py [task=NAME] [key=value ...] [--traceback]

  python train.py task=Cartpole                       train (runs/<name>_<time>/)
  python train.py task=Cartpole test=True checkpoint=runs/<run>   play a trained policy
  python train.py task=Go2 headless=True                train the Go2 to walk (one GPU, ~2 min)
  python train.py task=Go2 test=True checkpoint=assets/checkpoints/Go2.pth   play the shipped Go2 policy

common keys: num_envs, seed, max_iterations, physics_engine (newton|physx), sim_device,
rl_device, pipeline (gpu|cpu), headless, experiment, checkpoint, test, wandb_activate;
any config value: task.env.<key>=..., train.params.config.<key>=...
tasks: {tasks}"""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    traceback = "--traceback" in argv or bool(os.environ.get("MYTASKS_TRACEBACK"))
    argv = [a for a in argv if a != "--traceback"]
    if any(a in ("-h", "--help") for a in argv):
        print(USAGE.format(tasks=", ".join(sorted(task_files()))))
        return 0
    try:
        run(argv)
        return 0
    except UserError as e:
        if traceback:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if traceback:
            raise
        from mytasks.sim import BackendUnavailable

        if isinstance(e, BackendUnavailable):
            print(f"error: {e}", file=sys.stderr)
            return 2
        first = (str(e).strip().splitlines() or [""])[0]
        print(f"error: {type(e).__name__}: {first} (rerun with --traceback for the full trace)", file=sys.stderr)
        return 1


def _overridden(argv: list[str], key: str) -> bool:
    return any(a.partition("=")[0].lstrip("+~") == key for a in argv)


def load_config(argv: list[str]) -> DictConfig:
    """The composed config, with the CPU fallback applied when CUDA is missing."""
    cfg = compose(argv)
    wants_cuda = any(str(d).startswith("cuda") for d in (cfg.sim_device, cfg.rl_device))
    if wants_cuda:
        import torch

        if not torch.cuda.is_available():
            print("mytasks: no CUDA device is available; running on the CPU "
                  "(sim_device=cpu rl_device=cpu pipeline=cpu)")  # fmt: skip
            cfg = compose(argv + ["sim_device=cpu", "rl_device=cpu", "pipeline=cpu"])
    if cfg.test:
        cfg = _with_run_config(cfg, argv)
    return cfg


_PLAY_KEYS = ("test", "checkpoint", "sigma", "headless", "sim_device", "rl_device", "pipeline",
              "graphics_device_id", "seed", "force_render", "capture_video", "multi_gpu")  # fmt: skip


def _with_run_config(cfg: DictConfig, argv: list[str]) -> DictConfig:
    """For play: the config the checkpoint's run was trained with, with this command's devices,
    env count, player settings and explicit task./train. overrides."""
    from mytasks.rl import checkpoints

    run_dir = checkpoints.run_dir_of(str(cfg.checkpoint)) if os.path.exists(str(cfg.checkpoint)) else None
    if run_dir is None:
        return cfg
    saved = OmegaConf.load(os.path.join(run_dir, "config.yaml"))
    if _overridden(argv, "task") and saved.task.name != cfg.task.name:
        raise UserError(f"checkpoint {cfg.checkpoint} was trained on task {saved.task.name}, not {cfg.task.name}; "
                        f"use task={saved.task.name} or another checkpoint")  # fmt: skip
    for key in _PLAY_KEYS:
        saved[key] = cfg[key]
    saved.task.sim.use_gpu_pipeline = cfg.task.sim.use_gpu_pipeline
    saved.train.params.config.player = cfg.train.params.config.player
    if _overridden(argv, "num_envs") or _overridden(argv, "task.env.numEnvs"):
        saved.task.env.numEnvs = cfg.task.env.numEnvs
        saved.train.params.config.num_actors = cfg.task.env.numEnvs
    for a in argv:
        key = a.partition("=")[0].lstrip("+~")
        if key.startswith(("task.", "train.")):
            OmegaConf.update(saved, key, OmegaConf.select(cfg, key), force_add=True)
    return saved


def set_seed(seed: int, deterministic: bool) -> int:
    import numpy as np
    import torch

    if seed == -1:
        seed = 42 if deterministic else random.randint(0, 10000)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    if deterministic:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True)
    return seed


def _run_dir(name: str) -> str:
    stamp = datetime.datetime.now().strftime("%d-%H-%M-%S")
    path, k = os.path.join("runs", f"{name}_{stamp}"), 1
    while os.path.exists(path):
        path, k = os.path.join("runs", f"{name}_{stamp}_{k}"), k + 1
    return path


def run(argv: list[str]) -> None:
    cfg = load_config(argv)
    from mytasks.sim import select_backend

    select_backend(cfg.physics_engine)
    from mytasks.rl import checkpoints, runner
    from mytasks.rl.env import register_rlgpu
    from mytasks.tasks import isaacgym_task_map

    task_name = cfg.task.name
    if task_name not in isaacgym_task_map:
        known = ", ".join(sorted(isaacgym_task_map))
        raise UserError(f"task '{task_name}' is not registered; registered tasks: {known}")
    cfg.seed = set_seed(int(cfg.seed), bool(cfg.torch_deterministic))
    cfg.train.params.seed = cfg.seed
    ckpt = ""
    if cfg.checkpoint:
        ckpt = checkpoints.resolve(str(cfg.checkpoint), cfg.train.params.config.name)

    task_cfg = OmegaConf.to_container(cfg.task, resolve=True)

    def create_task(**_kwargs):
        return isaacgym_task_map[task_name](
            cfg=task_cfg, rl_device=cfg.rl_device, sim_device=cfg.sim_device,
            graphics_device_id=cfg.graphics_device_id, headless=cfg.headless,
            virtual_screen_capture=False, force_render=cfg.force_render,
        )  # fmt: skip

    register_rlgpu(create_task)
    if cfg.test:
        params = runner.train_params(OmegaConf.to_container(cfg.train, resolve=True), cfg.rl_device)
        runner.play(params, ckpt, task_name, cfg.sigma)
        return
    run_dir = _run_dir(cfg.train.params.config.name)
    cfg.train.params.config.train_dir = os.path.dirname(run_dir)
    cfg.train.params.config.full_experiment_name = os.path.basename(run_dir)
    os.makedirs(run_dir, exist_ok=True)
    OmegaConf.save(cfg, os.path.join(run_dir, "config.yaml"))
    params = runner.train_params(OmegaConf.to_container(cfg.train, resolve=True), cfg.rl_device)
    _train(cfg, params, ckpt, run_dir)


def _reward(value) -> str:
    """rl-games' reward statistics start at -1e9 until an episode ends (the best: until it saves one)."""
    return "n/a" if float(value) <= -1e9 else f"{float(value):.2f}"


def _train(cfg: DictConfig, params: dict, ckpt: str, run_dir: str) -> None:
    from mytasks.rl import runner
    from mytasks.rl.observer import RLGPUAlgoObserver

    wandb_cfg = None
    if cfg.wandb_activate:
        wandb_cfg = dict(project=cfg.wandb_project, entity=cfg.wandb_entity, group=cfg.wandb_group,
                         name=cfg.wandb_name, tags=list(cfg.wandb_tags))  # fmt: skip
    observer = RLGPUAlgoObserver(wandb_cfg, OmegaConf.to_container(cfg, resolve=True))
    runner.train(params, observer, ckpt, cfg.sigma)
    algo = observer.algo
    name = cfg.train.params.config.name
    best = os.path.join(run_dir, "nn", f"{name}.pth")
    if not os.path.isfile(best):
        from mytasks.rl.checkpoints import resolve

        best = resolve(run_dir)
    print(f"\ntraining done: mean episode reward {_reward(algo.mean_rewards)} at the end, "
          f"best {_reward(algo.last_mean_rewards)}")  # fmt: skip
    print(f"run directory: {run_dir}")
    print(f"best checkpoint: {best}")
    print(f"play it back: python train.py task={cfg.task.name} test=True checkpoint={run_dir}")

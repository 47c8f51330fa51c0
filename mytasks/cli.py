"""``python train.py task=<Name> [key=value ...]`` (or ``mytasks ...``, ``python -m mytasks ...``):
compose the config, build the task, train or play.

The path through the layers: the run config, composed and checked or recomposed from a run
(``utils/run_config.py``) → load the checkpoint, if any → build the task → make the run
directory (training) → hand over to the learner that ``learner=`` names (``rl/learners.py``:
train, or play through ``runner.evaluate``).

Bad input ends with one line on stderr that names the problem and the fix, exit code 2, and
no run directory left behind; ``--traceback`` shows the full trace of any error.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys

from omegaconf import DictConfig, OmegaConf

from mytasks import commands
from mytasks.utils.config import resolved
from mytasks.utils.errors import Interrupted, UserError, WriteFailed, crash_line, end_by_signal
from mytasks.utils.invocation import program
from mytasks.utils.run_config import RUNS_DIR, load_config, make_run_dir, run_dir_of, save_run_config
from mytasks.utils.schema import SOURCE_KEYS
from mytasks.utils.seed import set_seed


def console() -> int:
    """The ``mytasks`` command."""
    return main()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    traceback = "--traceback" in argv or bool(os.environ.get("MYTASKS_TRACEBACK"))
    argv = [a for a in argv if a != "--traceback"]
    try:
        if any(a.startswith("-") for a in argv):  # --help, --tasks, --cfg job, -m, ...
            return commands.run_flags(argv, run)
        run(argv)
        return 0
    except UserError as e:
        if traceback:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except WriteFailed as e:
        if traceback:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 1
    except Interrupted as e:
        end_by_signal(e.signum)
        return 128 + e.signum  # not reached: the signal ends the process
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if traceback:
            raise
        from mytasks.sim import BackendUnavailable, ViewerUnavailable

        if isinstance(e, BackendUnavailable | ViewerUnavailable):
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"error: {type(e).__name__}: {crash_line(e)} (rerun with --traceback for the full trace)",
              file=sys.stderr)  # fmt: skip
        return 1


def config_dirs(sources: dict[str, str]) -> list[str]:
    """The YAML folders of the tasks a run can name, given its task sources (``task_path=``, ``ige_root=``)."""
    from mytasks.tasks import catalog

    return catalog(**sources).config_dirs()


def run(argv: list[str]) -> None:
    cfg = load_config(argv, config_dirs)
    from mytasks.rl import distributed

    ranks = distributed.start(cfg, argv)  # multi_gpu: this rank's device and process group
    try:
        _run(cfg, argv, ranks)
    finally:
        distributed.stop()


def _run(cfg: DictConfig, argv: list[str], ranks) -> None:
    res = resolved(cfg)
    from mytasks.sim import select_backend

    select_backend(res.physics_engine)
    import torch

    from mytasks.rl import checkpoints, distributed, dynamo, learners, runner

    dynamo.defer()  # nothing compiles unless the train config asks: no torch._dynamo import for the optimizer
    from mytasks.rl.dict_obs import flat_view
    from mytasks.tasks import catalog_of, make_task

    tasks = catalog_of(res)
    tasks.get(str(res.task.name))  # an unknown name is one line, before anything is built
    learner = learners.get(res.learner)
    if hasattr(learner, "check_settings"):  # what the learner's library would build from names in its config
        learner.check_settings(res)
    # Every learner, not only rl-games (which reads the same key): torch's default of a thread
    # per core oversubscribes a small CPU as soon as anything else runs beside it (5x slower).
    torch.set_num_threads(runner.torch_threads(res.train.params.get("torch_threads")))
    cfg.seed = res.seed = set_seed(int(res.seed), bool(res.torch_deterministic))
    if ranks:  # every rank its own seed; the run config keeps rank 0's
        res.seed = set_seed(cfg.seed + ranks.rank, bool(res.torch_deterministic))
    res.train.params.seed = res.seed
    name = res.train.params.config.name
    ckpt, state = "", None
    if res.checkpoint:
        ckpt = checkpoints.resolve(str(res.checkpoint), name, last=not res.test)
        if os.path.isdir(str(res.checkpoint)):
            which = "best" if res.test and os.path.basename(ckpt) == f"{name}.pth" else "last"
            print(f"mytasks: {'playing' if res.test else 'resuming from'} {ckpt} (the {which} checkpoint of that run)")
        state = learner.load(ckpt, trust=bool(res.trust_checkpoint))
        trained_on = state.get("task")
        if isinstance(trained_on, str) and trained_on != str(res.task.name):
            print(f"mytasks: {ckpt} was trained on task {trained_on}; using it on {res.task.name}")
        epochs, max_epochs = int(state.get("epoch", 0)), int(res.train.params.config.max_epochs)
        if not res.test and epochs >= max_epochs:
            raise UserError(f"{ckpt} has trained {epochs} epochs already and max_iterations is {max_epochs}; "
                            f"pass max_iterations=N with N > {epochs} to train on")  # fmt: skip
    export_to = ""
    if res.export:
        if not res.test:
            raise UserError("export=True exports a checkpoint that is played: add test=True checkpoint=<file or run>")
        from mytasks.deploy import export

        export.check_packages()
        export_to = export.export_dir(ckpt, run_dir_of(ckpt), RUNS_DIR, res.task.name, str(res.export_dir))
    if res.capture_video:
        from mytasks.tasks.base.video import check_encoder

        check_encoder()
    if res.warm_cache:
        _warm_cache(res, tasks)
        return
    task = distributed.built_in_turn(lambda: make_task(res, catalog=tasks))  # under torchrun: compiled once, by rank 0
    task = flat_view(task, OmegaConf.to_container(res.train, resolve=True))
    if res.test:
        player = learner.player(task, res, state, ckpt)
        if res.export:
            _export(player, ckpt, task, res, export_to)
        if res.play_episodes == 0:
            return
        played_run = run_dir_of(ckpt) or RUNS_DIR
        _record(task, res, os.path.join(played_run, "videos", "play"))
        try:
            watched = task.viewer is not None and res.play_episodes == ""
            if watched:
                print("mytasks: playing until the viewer closes (ESC or closing the window; Ctrl-C here)", flush=True)
            episodes = None if watched else int(res.train.params.config.player.games_num)
            runner.evaluate(task, player.act, episodes, player.episodes_ended, float(res.nan_guard.max_fraction))
        finally:
            _stop_recording(task)
        return
    if ranks and not ranks.main:  # rank 0 writes the run directory; rl-games' files of the others are dropped
        _train_elsewhere(learner, task, res, state, argv)
        return
    run_dir = make_run_dir(name)
    try:
        _record(task, res, os.path.join(run_dir, "videos", "train"))
        save_run_config(cfg, argv, run_dir)
        _train(learner, task, res, state, run_dir, argv)
    except BaseException:
        if not glob.glob(os.path.join(run_dir, "nn", "*.pth")):
            shutil.rmtree(run_dir, ignore_errors=True)  # a run that failed before its first checkpoint
        raise
    finally:
        _stop_recording(task)


def _warm_cache(cfg: DictConfig, tasks) -> None:
    """``warm_cache=True``: the task built on its device and stepped (reset, physics, graph
    capture), so that the kernel cache holds every kernel a run of it loads; nothing trained
    or written besides the cache."""
    import time

    import torch

    from mytasks.sim import kernel_cache_dir
    from mytasks.tasks import make_task

    start = time.perf_counter()
    task = make_task(cfg, headless=True, catalog=tasks)
    actions = torch.zeros((task.num_envs, task.num_actions), device=task.rl_device)
    task.reset()
    for _ in range(3):  # the second simulate captures the step's graph
        task.step(actions)
    print(f"mytasks: kernels of task {cfg.task.name} on {cfg.sim_device} are in {kernel_cache_dir()} "
          f"({time.perf_counter() - start:.1f} s)")  # fmt: skip


def _train_elsewhere(learner, task, cfg: DictConfig, state: dict | None, argv: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mytasks-rank-") as scratch:
        _train(learner, task, cfg, state, os.path.join(scratch, "run"), argv)


def _export(player, ckpt: str, task, cfg: DictConfig, out: str) -> None:
    """``export=True``: the played policy as ONNX, TorchScript and a deploy manifest in ``out`` (``deploy/``)."""
    from mytasks.deploy import export

    if player.actor is None:
        raise UserError(f"learner={cfg.learner} has no exporter; export=True exports the policies of rl_games, "
                        "rsl_rl, skrl and sb3")  # fmt: skip
    if player.episodes_ended is not None:
        raise UserError(f"{ckpt} is a recurrent policy (train.params.network.rnn); export=True exports "
                        "feed-forward policies, whose action depends on the observation alone")  # fmt: skip
    export.export(player.actor, task, ckpt, out)


def _record(task, cfg: DictConfig, folder: str) -> None:
    """With ``capture_video``: clips of env 0 into ``folder`` (``tasks/base/video.py``)."""
    if cfg.capture_video:
        from mytasks.tasks.base.video import VideoRecorder

        task.recorder = VideoRecorder(task, folder, cfg.capture_video_freq, cfg.capture_video_len)


def _stop_recording(task) -> None:
    if task.recorder is not None:
        task.recorder.close()  # the clip in progress, if any
        task.recorder = None


def _train(learner, task, cfg: DictConfig, state: dict | None, run_dir: str, argv: list[str]) -> None:
    from mytasks.rl import distributed

    try:
        trained = learner.train(task, cfg, run_dir, state)
    except Interrupted as e:
        if e.checkpoint is None:  # a rank other than 0, which saves nothing
            raise
        keep = [a for a in argv if a.partition("=")[0].lstrip("+~") not in ("checkpoint", "task")]
        ranks = distributed.current()
        command = program()
        if ranks:
            command = f"torchrun --standalone --nproc_per_node={ranks.world_size} {command.removeprefix('python ')}"
        resume = " ".join([command, f"task={_task_yaml(cfg, argv)}", *keep, f"checkpoint={e.checkpoint}"])
        print(f"checkpoint saved: {e.checkpoint}", file=sys.stderr)
        print(f"resume with: {resume}", file=sys.stderr)
        raise
    shown = lambda r: "n/a" if r is None else f"{r:.2f}"  # noqa: E731
    best = f", best {shown(trained.best_reward)}" if trained.best_reward is not None else ""
    print(f"\ntraining done: mean episode reward {shown(trained.mean_reward)} at the end{best}")
    print(f"run directory: {run_dir}")
    print(f"checkpoint to play: {trained.checkpoint}")
    sources = "".join(f" {key}={cfg[key]}" for key in SOURCE_KEYS if cfg.get(key))
    print(f"play it back: {program()} task={_task_yaml(cfg, argv)}{sources} test=True checkpoint={run_dir}")


def _task_yaml(cfg: DictConfig, argv: list[str]) -> str:
    """The task's YAML as ``task=`` chose it: its ``name:`` may differ (DeXtreme's
    AllegroHandDextremeManualDR.yaml names the task map's AllegroHandManualDR)."""
    chosen = [a.partition("=")[2] for a in argv if a.partition("=")[0].lstrip("+") == "task"]
    return chosen[-1] if chosen else str(cfg.task.name)


if __name__ == "__main__":
    sys.exit(main())

"""The run config and the run directory.

``load_config`` gives the config of this command: composed and checked (``config.py``, the
schema in ``schema.py``), devices settled, and for play or resume from a run, that run's
saved config recomposed with this command's values. A run directory is
``runs/<name>_<DD-HH-MM-SS>/``, created exclusively; its ``config.yaml`` is the config as
composed (interpolations kept) and ``overrides.yaml`` the command line.

A run directory is data: its saved config is read with a size limit, checked against the
task's YAML, and never names code to import. A run of a task from a folder (``task_path=``)
or an IsaacGymEnvs checkout (``ige_root=``) plays or resumes only with that key given again on
the command line (or ``trust_checkpoint=True``), since that imports the folder's code. Tasks of
mytasks and of installed packages are found again by name.

Light on purpose (omegaconf and hydra; torch only to count GPUs).
"""

from __future__ import annotations

import datetime
import glob
import os
from collections.abc import Callable

from omegaconf import DictConfig, OmegaConf

from mytasks.utils import yaml_files
from mytasks.utils.config import check, compose, resolved, task_files
from mytasks.utils.errors import UserError, first_line
from mytasks.utils.files import atomic_write_text
from mytasks.utils.invocation import program
from mytasks.utils.paths import locate_checkpoint
from mytasks.utils.schema import SOURCE_KEYS, TOP_LEVEL, check_same_kinds, sources_in

RUNS_DIR = "runs"
# A run's task sources -> the folders of the YAMLs its tasks can name (the CLI passes the registry's).
ConfigDirs = Callable[[dict[str, str]], list[str]]


def _overridden(argv: list[str], key: str) -> bool:
    return any(a.partition("=")[0].lstrip("+~") == key for a in argv)


def load_config(argv: list[str], config_dirs: ConfigDirs) -> DictConfig:
    """The run config (unresolved): composed and checked, devices settled (CPU when CUDA is
    missing), and for play or resume from a run the config that run was trained with."""
    argv = _with_run_task(_with_paths_resolved(argv), config_dirs)
    cfg = compose(argv, config_dirs(sources_in(argv)))
    _settle_devices(cfg)
    if cfg.checkpoint == "latest":
        cfg.checkpoint = latest_run(str(cfg.task.name))
        print(f"mytasks: checkpoint=latest is {cfg.checkpoint}")
    if cfg.checkpoint:
        cfg = _with_run_config(cfg, argv)
    if cfg.play_episodes != "":
        OmegaConf.update(cfg, "train.params.config.player.games_num", int(cfg.play_episodes), force_add=True)
    _epochs_as_asked(cfg, argv)
    return cfg


def _epochs_as_asked(cfg: DictConfig, argv: list[str]) -> None:
    """``max_iterations=N`` on the command line sets the epochs also where the train YAML writes a
    number of its own instead of reading it (upstream's AllegroKukaPPO: ``max_epochs: 100000``,
    which upstream's train.py then keeps)."""
    if not _overridden(argv, "max_iterations") or cfg.max_iterations in ("", None):
        return
    wanted = int(cfg.max_iterations)
    written = OmegaConf.select(cfg, "train.params.config.max_epochs")
    if written is not None and int(written) != wanted:
        OmegaConf.update(cfg, "train.params.config.max_epochs", wanted)
        print(f"mytasks: the train config writes max_epochs: {written}; max_iterations={wanted} sets it")


def _with_paths_resolved(argv: list[str]) -> list[str]:
    """``argv`` with ``checkpoint=`` located (``paths.locate_checkpoint``) and ``task_path=`` and
    ``ige_root=`` absolute, so that the run's config names them from anywhere."""
    out = []
    for a in argv:
        key, sep, value = a.partition("=")
        name = key.lstrip("+~")
        if sep and name == "checkpoint" and value and value != "latest":
            a = f"{key}={locate_checkpoint(value)}"
        elif sep and name in SOURCE_KEYS and value:
            a = f"{key}={os.path.abspath(os.path.expanduser(value))}"
        out.append(a)
    return out


def _trusted(given: dict[str, str]) -> bool:
    return given.get("trust_checkpoint", "").lower() == "true"


def _with_run_task(argv: list[str], config_dirs: ConfigDirs) -> list[str]:
    """``argv`` with the run's ``task=`` (and ``learner=``) first when a checkpoint of a run is
    given without them: its task./train. overrides are then checked against that task's and
    learner's config. A run of a task from a folder or a checkout needs that folder on the
    command line (or ``trust_checkpoint=True``, which takes the run's)."""
    given = dict(a.partition("=")[::2] for a in argv if "=" in a)
    path = given.get("checkpoint", "")
    if not path or not os.path.exists(path):
        return argv
    run_dir = run_dir_of(path)
    if run_dir is None:
        return argv
    saved = load_run_config(run_dir)
    name, first, sources = saved.task.name, [], {}
    for key in SOURCE_KEYS:
        value = str(saved.get(key, "") or "")
        if value and key not in given:
            if not _trusted(given):
                raise _untrusted_source(run_dir, name, key, value)
            first.append(f"{key}={value}")
        sources[key] = given.get(key) or (value if _trusted(given) else "")
    learner = str(saved.get("learner", "rl_games"))
    if learner != "rl_games" and "learner" not in given and "train" not in given:
        first.append(f"learner={learner}")  # its train config, which the overrides are checked against
    if "task" not in given:
        stems = [stem for stem, task in task_files(config_dirs(sources)).items() if task == name]
        if not stems:
            raise UserError(f"{run_dir} is a run of task {name}, which nothing here provides (not mytasks, an "
                            "installed package, task_path= or ige_root=): install the package that has it, or "
                            "name its folder with task_path=")  # fmt: skip
        first.append(f"task={stems[0]}")
    return [*first, *argv]


def _untrusted_source(run_dir: str, name: str, key: str, value: str) -> UserError:
    where = "the IsaacGymEnvs checkout" if key == "ige_root" else "the folder"
    return UserError(f"{run_dir} is a run of task {name} from {where} {value}; playing or resuming it imports "
                     "that folder's code, which mytasks does not do on a run's word: "
                     f"add {key}={value} if you trust that folder")  # fmt: skip


def load_run_config(run_dir: str) -> DictConfig:
    """A run's saved ``config.yaml``: refused in one line when it is not YAML, would expand
    past a sane size (``yaml_files``), or is not a run config (a mapping with a task name)."""
    path = os.path.join(run_dir, "config.yaml")
    fix = "restore it, or delete it to use this command's config with that run's checkpoints"
    try:
        yaml_files.check(path)
        saved = OmegaConf.load(path)
        ok = isinstance(saved, DictConfig) and isinstance(saved.get("task"), DictConfig)
        ok = ok and isinstance(saved.task.get("name"), str) and isinstance(saved.get("train"), DictConfig)
    except yaml_files.YamlRefused as e:
        raise UserError(f"{e}; {fix}") from None
    except Exception as e:  # a damaged or hand-edited file
        raise UserError(f"{path} cannot be read ({type(e).__name__}); {fix}") from None
    if not ok:
        raise UserError(f"{path} cannot be read (not a run's config: no task name or train config); {fix}")
    return saved


def _settle_devices(cfg: DictConfig) -> None:
    wanted = [str(cfg[k]) for k in ("sim_device", "rl_device") if str(cfg[k]).startswith("cuda")]
    if not wanted:
        return
    import torch

    if not torch.cuda.is_available():
        print("mytasks: no CUDA device is available; running on the CPU (sim_device=cpu rl_device=cpu pipeline=cpu)")
        cfg.sim_device, cfg.rl_device, cfg.pipeline = "cpu", "cpu", "cpu"
        return
    count = torch.cuda.device_count()
    for key in ("sim_device", "rl_device"):
        device = str(cfg[key])
        if device == "cuda":
            cfg[key] = device = "cuda:0"
        if device.startswith("cuda:") and int(device[5:]) >= count:
            raise UserError(f"{key}={device}, but this machine has {count} GPU(s): cuda:0 to cuda:{count - 1}")


# Keys a play or resume takes from its own command; the rest come from the run's config
# unless the command overrides them.
_FROM_COMMAND = ("test", "checkpoint", "trust_checkpoint", *SOURCE_KEYS, "sim_device", "rl_device", "pipeline",
                 "graphics_device_id", "headless", "viewer", "viewer_port", "force_render", "multi_gpu",
                 "verbose")  # fmt: skip
_PLAY_FROM_COMMAND = ("seed", "sigma", "play_episodes", "capture_video", "capture_video_freq", "capture_video_len",
                      "export", "export_dir")  # fmt: skip


def _with_run_config(cfg: DictConfig, argv: list[str]) -> DictConfig:
    """The config the checkpoint's run was trained with (its saved tree, interpolations kept),
    with this command's devices and explicit overrides; for play, its player settings too."""
    path = str(cfg.checkpoint)
    run_dir = run_dir_of(path) if os.path.exists(path) else None
    if run_dir is None:
        return cfg
    saved = load_run_config(run_dir)
    for key in SOURCE_KEYS:
        value = str(saved.get(key, "") or "")
        if value and not cfg[key] and not cfg.trust_checkpoint:  # checkpoint=latest, or task= given
            raise _untrusted_source(run_dir, saved.task.name, key, value)
        if cfg.trust_checkpoint and not _overridden(argv, key):
            cfg[key] = value
    if _overridden(argv, "task") and saved.task.name != cfg.task.name:
        raise UserError(f"checkpoint {cfg.checkpoint} was trained on task {saved.task.name}, not {cfg.task.name}; "
                        f"use task={saved.task.name} or another checkpoint")  # fmt: skip
    for key in _FROM_COMMAND + (_PLAY_FROM_COMMAND if cfg.test else ()):
        saved[key] = cfg[key]
    player = OmegaConf.select(cfg, "train.params.config.player")  # upstream train YAMLs may have none
    if cfg.test and player is not None:
        saved.train.params.config.player = player
    for a in argv:
        key = a.partition("=")[0].lstrip("+~")
        if key in TOP_LEVEL or key.startswith(("task.", "train.")):
            OmegaConf.update(saved, key, OmegaConf.select(cfg, key), force_add=True, merge=False)
    if _overridden(argv, "num_envs") or _overridden(argv, "task.env.numEnvs"):
        saved.task.env.numEnvs = saved.train.params.config.num_actors = cfg.task.env.numEnvs
    now = resolved(cfg)
    saved.task.sim.use_gpu_pipeline = now.task.sim.use_gpu_pipeline
    where = os.path.join(run_dir, "config.yaml")
    try:
        saved_res = resolved(saved)
    except Exception as e:
        raise UserError(f"{where} cannot be read ({type(e).__name__}: {first_line(e)}); restore it") from None
    for group in ("task", "train"):
        check_same_kinds(now[group], saved_res[group], where, f"{group}.")
    check(saved_res)
    return saved


def make_run_dir(name: str, root: str = RUNS_DIR) -> str:
    """Creates ``runs/<name>_<DD-HH-MM-SS>`` exclusively (``_2``, ``_3``... when taken)."""
    stamp = datetime.datetime.now().strftime("%d-%H-%M-%S")
    os.makedirs(root, exist_ok=True)
    for k in range(1, 1000):
        path = os.path.join(root, f"{name}_{stamp}" + (f"_{k}" if k > 1 else ""))
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue
    raise UserError(f"could not create a run directory for {name} under {root}/ (1000 names taken)")


def run_dir_of(path: str) -> str | None:
    """The run directory that holds checkpoint ``path`` (``<run>/nn/<file>.pth``, or the run
    directory or its ``nn/`` itself), if any: a folder with the run's ``config.yaml`` beside
    ``nn/``. A checkpoint elsewhere, even beside some config.yaml, belongs to no run."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        run = os.path.dirname(path) if os.path.basename(path) == "nn" else path
    else:
        folder = os.path.dirname(path)
        run = os.path.dirname(folder) if os.path.basename(folder) == "nn" else None
    if run and os.path.isfile(os.path.join(run, "config.yaml")) and os.path.isdir(os.path.join(run, "nn")):
        return run
    return None


def latest_run(task_name: str, runs_dir: str = RUNS_DIR) -> str:
    """The most recently started run of ``task_name`` under ``runs_dir`` (for ``checkpoint=latest``)."""
    found = []
    for cfg_path in glob.glob(os.path.join(runs_dir, "*", "config.yaml")):
        try:
            yaml_files.check(cfg_path)
            name = OmegaConf.select(OmegaConf.load(cfg_path), "task.name")
        except Exception:  # a damaged or oversized config.yaml is not this task's run
            continue
        nn = os.path.join(os.path.dirname(cfg_path), "nn")
        if name == task_name and any(os.path.isfile(p) for p in glob.glob(os.path.join(nn, "*.pth"))):
            found.append((os.path.getmtime(cfg_path), os.path.dirname(cfg_path)))
    if not found:
        raise UserError(f"checkpoint=latest: no run of task {task_name} with a checkpoint under {runs_dir}/; "
                        f"train one first ({program()} task={task_name})")  # fmt: skip
    return max(found)[1]


def save_run_config(cfg: DictConfig, argv: list[str], run_dir: str) -> None:
    """The run's config as composed (interpolations kept, so play recomposes it with test=True)
    and the command's overrides, for the record."""
    header = "# The run's config, as composed: play and resume recompose it (test=True, devices, overrides).\n"
    atomic_write_text(os.path.join(run_dir, "config.yaml"), header + OmegaConf.to_yaml(cfg))
    atomic_write_text(os.path.join(run_dir, "overrides.yaml"), OmegaConf.to_yaml(OmegaConf.create(list(argv))))



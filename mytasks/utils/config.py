"""Config composition: IsaacGymEnvs' OmegaConf resolvers, Hydra composition, checks of user input.

Light on purpose (omegaconf and hydra only), so that ``--help`` and config errors are instant.
"""

from __future__ import annotations

import contextlib
import glob
import math
import os
import shutil
import tempfile
from collections.abc import Callable

from omegaconf import DictConfig, OmegaConf

from mytasks.utils.errors import first_line
from mytasks.utils.paths import CONFIG_DIR, DATA_DIR
from mytasks.utils.schema import (
    MAX_ENVS,
    UserError,
    check_override_types,
    check_run_name,
    check_top_level,
    check_train_numbers,
    did_you_mean,
    value_overrides,
)

__all__ = ["UserError", "compose", "register_resolvers", "task_files"]


def register_resolvers() -> None:
    """IsaacGymEnvs' four resolvers (safe to call again)."""
    OmegaConf.register_new_resolver("eq", lambda x, y: str(x).lower() == str(y).lower(), replace=True)
    OmegaConf.register_new_resolver("contains", lambda x, y: str(x).lower() in str(y).lower(), replace=True)
    OmegaConf.register_new_resolver("if", lambda pred, a, b: a if pred else b, replace=True)
    OmegaConf.register_new_resolver("resolve_default", lambda default, arg: default if arg == "" else arg, replace=True)


def task_files(config_dirs: list[str] | str = CONFIG_DIR) -> dict[str, str]:
    """Task config file stem -> the task ``name:`` it declares (a later folder wins a stem)."""
    out = {}
    for config_dir in [config_dirs] if isinstance(config_dirs, str) else config_dirs:
        for path in sorted(glob.glob(os.path.join(config_dir, "task", "*.yaml"))):
            stem = os.path.splitext(os.path.basename(path))[0]
            out[stem] = str(OmegaConf.load(path).get("name", stem))
    return out


@contextlib.contextmanager
def config_view(config_dirs: list[str]):
    """One Hydra config folder for several: mytasks' ``config.yaml`` and every entry of the
    config groups (``task/``, ``train/``, an IsaacGymEnvs checkout's ``pbt/``...) of
    ``config_dirs`` (a later folder wins a name), linked into a temporary folder for the time of
    a composition."""
    if list(config_dirs) == [CONFIG_DIR]:
        yield CONFIG_DIR
        return
    tmp = tempfile.mkdtemp(prefix="mytasks-cfg-")
    try:
        shutil.copy(os.path.join(CONFIG_DIR, "config.yaml"), tmp)
        groups = {os.path.basename(g) for d in config_dirs for g in glob.glob(os.path.join(d, "*")) if os.path.isdir(g)}
        for group in sorted(groups - {"hydra"}):
            os.makedirs(os.path.join(tmp, group))
            for config_dir in config_dirs:
                for path in glob.glob(os.path.join(config_dir, group, "*")):
                    link = os.path.join(tmp, group, os.path.basename(path))
                    if os.path.lexists(link):
                        os.remove(link)
                    os.symlink(os.path.abspath(path), link)
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def compose(overrides: list[str], config_dirs: list[str] | None = None) -> DictConfig:
    """Composes cfg/config.yaml with command-line style overrides, as ``train.py`` does, and
    checks it; ``config_dirs`` are the folders of the task and train YAMLs (default: mytasks'
    own; ``registry.Catalog.config_dirs`` gives a run's). Returned unresolved (interpolations
    kept), with struct mode off: the run config that is saved and recomposed later; read values
    through it or ``resolved(cfg)``."""
    with config_view(config_dirs or [CONFIG_DIR]) as config_dir:
        return _compose(overrides, config_dir)


def _compose(overrides: list[str], config_dir: str) -> DictConfig:
    from omegaconf.errors import OmegaConfBaseException

    for o in overrides:
        if o.lstrip("+~").startswith("hydra."):
            raise UserError(f"{o.partition('=')[0]}: mytasks composes its own config folder and takes no hydra.* "
                            "keys; task_path=<folder> adds your tasks' YAMLs (--hydra-help)")  # fmt: skip
    register_resolvers()
    _check_task_override(overrides, config_dir)
    overrides = _with_learner_train(overrides, config_dir)
    selection = [o for o in overrides if o.partition("=")[0].lstrip("+") in ("task", "train")]

    def base() -> DictConfig:  # the YAMLs as chosen, before the other overrides
        return _hydra_compose(selection, config_dir)

    # Composed a second time only where it is read: to check that an override of a task./train.
    # value keeps the YAML's kind, and for the nearest key name when an override names none.
    cfg = _hydra_compose(overrides, config_dir, base)
    try:
        res = resolved(cfg)
        if value_overrides(overrides):
            check_override_types(resolved(base()), res, overrides)
    except OmegaConfBaseException as e:
        raise UserError(f"bad override: {first_line(e)}") from e
    check(res)
    return cfg


def resolved(cfg: DictConfig) -> DictConfig:
    """A copy of ``cfg`` with every interpolation resolved."""
    register_resolvers()
    out = cfg.copy()
    OmegaConf.resolve(out)
    return out


def _hydra_compose(overrides: list[str], config_dir: str, base: Callable[[], DictConfig] | None = None) -> DictConfig:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
            cfg = hydra_compose(config_name="config", overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as e:
        raise UserError(_unknown_key(e, base) or f"bad override: {first_line(e)}") from e
    OmegaConf.set_struct(cfg, False)
    return cfg


def _unknown_key(e: Exception, base: Callable[[], DictConfig] | None) -> str | None:
    """For an override of a key that does not exist: the nearest valid name."""
    import re

    m = re.search(r"Could not override '([^']+)'", str(e))
    if not m or base is None:
        return None
    key = m.group(1)
    node, path = base(), []
    for part in key.split("."):
        if not isinstance(node, DictConfig) or part not in node:
            where = ".".join(path)
            prefix = f"{where}." if where else ""
            hint = did_you_mean(part, list(node.keys()) if isinstance(node, DictConfig) else [], prefix)
            if not hint:
                hint = f"; {where or 'the config'} has no such key (to add one that your code reads: +{key}=...)"
            return f"unknown key '{key}'{hint}"
        node, path = node[part], [*path, part]
    return None


def _check_task_override(overrides: list[str], config_dir: str) -> None:
    tasks = task_files(config_dir)
    for o in overrides:
        key, sep, value = o.partition("=")
        if sep and key.lstrip("+~") == "task" and value not in tasks:
            hint = did_you_mean(value, list(tasks)) or f"; registered tasks: {', '.join(sorted(tasks))}"
            raise UserError(f"unknown task '{value}'{hint} (--tasks lists them and where each comes from)")


def train_file(task_stem: str, learner: str) -> str:
    """The train config a learner reads for a task: ``<Task>PPO`` for rl-games (IsaacGymEnvs'
    name), ``<Task>PPO_<learner>`` for the others."""
    return f"{task_stem}PPO" if learner == "rl_games" else f"{task_stem}PPO_{learner}"


def _with_learner_train(overrides: list[str], config_dir: str) -> list[str]:
    """``overrides`` with ``train=<Task>PPO_<learner>`` added for ``learner=`` other than
    rl_games (Hydra's defaults list can follow ``task=`` but not a plain key); an explicit
    ``train=`` stays as given."""
    from mytasks.utils.schema import LEARNERS

    given = {o.partition("=")[0].lstrip("+~"): o.partition("=")[2] for o in overrides if "=" in o}
    learner = given.get("learner", "rl_games")
    if learner == "rl_games" or learner not in LEARNERS or "train" in given:
        return overrides  # an unknown learner is reported by the schema check
    stem = given.get("task") or _default_task(config_dir)
    name = train_file(stem, learner)
    if not os.path.isfile(os.path.join(config_dir, "train", f"{name}.yaml")):
        have = [n for n in LEARNERS if os.path.isfile(os.path.join(config_dir, "train", f"{train_file(stem, n)}.yaml"))]
        raise UserError(f"task {stem} has no train config for learner={learner} (cfg/train/{name}.yaml); "
                        f"its learners: {', '.join(have) or 'none'}")  # fmt: skip
    return [*overrides, f"train={name}"]


def _default_task(config_dir: str) -> str:
    defaults = OmegaConf.load(os.path.join(config_dir, "config.yaml")).get("defaults", [])
    return next((str(d["task"]) for d in defaults if isinstance(d, DictConfig) and "task" in d), "Cartpole")


def check(cfg: DictConfig) -> None:
    """Checks a resolved config: the schema of the top-level keys, the task's env count, the
    numeric train parameters, and that play has a checkpoint."""
    check_top_level(cfg)
    num_envs = OmegaConf.select(cfg, "task.env.numEnvs")
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or not 1 <= num_envs <= MAX_ENVS:
        raise UserError(f"task.env.numEnvs must be a whole number from 1 to {MAX_ENVS}, got '{num_envs}'")
    for key, whole in (("task.sim.dt", False), ("task.sim.substeps", True), ("task.env.controlFrequencyInv", True),
                       ("task.env.maxEpisodeLength", False), ("task.env.episodeLength", False)):  # fmt: skip
        value = OmegaConf.select(cfg, key, default=None)
        if value is None:
            continue
        number = not isinstance(value, bool) and isinstance(value, int if whole else int | float)
        if not number or not math.isfinite(value) or value <= 0:
            raise UserError(f"{key} must be {'a whole number of at least 1' if whole else 'a number above zero'}, "
                            f"got '{value}'")  # fmt: skip
    train_config = OmegaConf.select(cfg, "train.params.config")
    if train_config is not None:
        check_train_numbers(train_config)
        if "name" in train_config:  # it names the run's folder, as experiment= does
            check_run_name("train.params.config.name", train_config.name)
    if cfg.test and not cfg.checkpoint:
        shipped = os.path.join("assets", "checkpoints", f"{cfg.task.name}.pth")
        ships = os.path.isfile(os.path.join(DATA_DIR, shipped))
        hint = f" (a trained one ships: checkpoint={shipped})" if ships else ""
        raise UserError(f"test=True needs a checkpoint: add checkpoint=<file.pth, run directory or latest>{hint}")

"""Config composition: IsaacGymEnvs' OmegaConf resolvers, Hydra composition, checks of user input.

Light on purpose (omegaconf and hydra only), so that ``--help`` and config errors are instant.
"""

from __future__ import annotations

import glob
import os

from omegaconf import DictConfig, OmegaConf

from mytasks.utils.paths import CONFIG_DIR, PROJECT_DIR


class UserError(Exception):
    """Bad input from the user: reported as one line, with no traceback."""


def register_resolvers() -> None:
    """IsaacGymEnvs' four resolvers (safe to call again)."""
    OmegaConf.register_new_resolver("eq", lambda x, y: str(x).lower() == str(y).lower(), replace=True)
    OmegaConf.register_new_resolver("contains", lambda x, y: str(x).lower() in str(y).lower(), replace=True)
    OmegaConf.register_new_resolver("if", lambda pred, a, b: a if pred else b, replace=True)
    OmegaConf.register_new_resolver("resolve_default", lambda default, arg: default if arg == "" else arg, replace=True)


def task_files(config_dir: str = CONFIG_DIR) -> dict[str, str]:
    """Task config file stem -> the task ``name:`` it declares."""
    out = {}
    for path in sorted(glob.glob(os.path.join(config_dir, "task", "*.yaml"))):
        stem = os.path.splitext(os.path.basename(path))[0]
        out[stem] = str(OmegaConf.load(path).get("name", stem))
    return out


def compose(overrides: list[str], config_dir: str = CONFIG_DIR) -> DictConfig:
    """Composes cfg/config.yaml with command-line style overrides, as ``train.py`` does."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    register_resolvers()
    _check_task_override(overrides, config_dir)
    try:
        with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
            cfg = hydra_compose(config_name="config", overrides=list(overrides))
        OmegaConf.resolve(cfg)
        OmegaConf.set_struct(cfg, False)
    except (HydraException, OmegaConfBaseException) as e:
        raise UserError(f"bad override: {_first_line(e)}") from e
    check(cfg)
    return cfg


def _first_line(e: Exception) -> str:
    text = [t.strip() for t in str(e).strip().splitlines() if t.strip()]
    if not text:
        return type(e).__name__
    # Hydra puts its hint ("To append to your config use +foo=1") on the second line.
    hint = [t for t in text[1:2] if t.lower().startswith("to ")]
    return " ".join(text[:1] + hint)


def _check_task_override(overrides: list[str], config_dir: str) -> None:
    tasks = task_files(config_dir)
    for o in overrides:
        key, sep, value = o.partition("=")
        if sep and key.lstrip("+~") == "task" and value not in tasks:
            raise UserError(f"unknown task '{value}'; registered tasks: {', '.join(sorted(tasks))}")


def _as_int(cfg: DictConfig, key: str, allow_empty: bool, label: str | None = None) -> None:
    """Makes ``cfg[key]`` an int, or raises a UserError naming it as ``label`` (default: key)."""
    value = cfg[key]
    if allow_empty and value == "":
        return
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            cfg[key] = int(str(value))
        except ValueError:
            hint = "a whole number, or leave it out" if allow_empty else "a whole number"
            raise UserError(f"{label or key} must be {hint}, got '{value}'") from None


def check(cfg: DictConfig) -> None:
    """Checks the top-level values a user types, with one clear line per problem."""
    from mytasks.sim import BACKENDS

    _as_int(cfg, "num_envs", allow_empty=True)
    _as_int(cfg, "seed", allow_empty=False)
    _as_int(cfg, "max_iterations", allow_empty=True)
    _as_int(cfg.task.env, "numEnvs", allow_empty=False, label="task.env.numEnvs")
    if cfg.num_envs != "" and int(cfg.num_envs) < 1:
        raise UserError(f"num_envs must be at least 1, got {cfg.num_envs}")
    engine = str(cfg.physics_engine).lower()
    if engine not in BACKENDS:
        raise UserError(f"unknown physics_engine '{cfg.physics_engine}'; choose one of: {', '.join(BACKENDS)}")
    if str(cfg.pipeline).lower() not in ("gpu", "cpu"):
        raise UserError(f"pipeline must be gpu or cpu, got '{cfg.pipeline}'")
    if cfg.test and not cfg.checkpoint:
        shipped = os.path.join("assets", "checkpoints", f"{cfg.task.name}.pth")
        ships = os.path.isfile(os.path.join(PROJECT_DIR, shipped))
        hint = f" (a trained one ships: checkpoint={shipped})" if ships else ""
        raise UserError(f"test=True needs a checkpoint: add checkpoint=<file.pth or run directory>{hint}")

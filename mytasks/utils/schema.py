"""The schema of the run config: every top-level key of cfg/config.yaml, and the train
parameters that must be numbers in range. Checked when the config is composed, before
anything is built or written; each problem is one line that names the key and the fix.

Light on purpose (no torch): a config error is reported at once.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass

from omegaconf import DictConfig, ListConfig

from mytasks.utils.errors import UserError


@dataclass(frozen=True)
class Key:
    """One key: its kind (bool, int, float, bound, str, name, device, choice, list, group), the least
    and most values of a number, whether '' ("unset", IsaacGymEnvs' convention) is allowed, the choices."""

    kind: str
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    unset_ok: bool = False
    choices: tuple[str, ...] = ()
    fields: tuple[tuple[str, Key], ...] = ()


NAN_GUARD = (
    (
        "max_fraction",
        Key("float", "fraction of envs whose values turned NaN/Inf in an epoch that counts as a blow-up", minimum=0.0),
    ),  # fmt: skip
    ("epochs", Key("int", "blown-up epochs in a row that stop training", minimum=1)),
    ("max_observation", Key("bound", "largest observation magnitude that is not a blow-up", minimum=0.0)),
    ("max_body_speed", Key("bound", "largest body speed (m/s) that is not a blow-up", minimum=0.0)),
)

# Top-level keys that add tasks from code outside mytasks and installed packages (tasks/registry.py).
SOURCE_KEYS = ("task_path", "ige_root")
VIEWERS = ("auto", "native", "web", "none")
MAX_ENVS = 1 << 20  # far beyond what one GPU holds of any task; checked before envs are built one by one
MAX_NAME_BYTES = 200  # a run's folder name adds _<DD-HH-MM-SS>[_k] to it, within a file system's 255
LEARNERS = ("rl_games", "rsl_rl", "skrl", "sb3")

TOP_LEVEL: dict[str, Key] = {
    "task_name": Key("str", "the task's name (from task.name)"),
    "experiment": Key("name", "run name (runs/<experiment>_<time>/); default: the train config's name", unset_ok=True),
    "num_envs": Key("int", "envs to simulate; '' keeps the task's numEnvs", minimum=1, maximum=MAX_ENVS,
                    unset_ok=True),
    "seed": Key("int", "random seed; -1 picks one", minimum=-1, maximum=2**32 - 1),
    "torch_deterministic": Key("bool", "deterministic torch kernels"),
    "max_iterations": Key("int", "training epochs; '' keeps the train config's max_epochs", minimum=1, unset_ok=True),
    "task_path": Key("str", "a task project folder not installed (its pyproject.toml declares its tasks)"),
    "ige_root": Key("str", "an IsaacGymEnvs checkout whose task file and YAMLs task= names"),
    "physics_engine": Key("choice", "the physics engine", choices=("newton", "physx")),
    "pipeline": Key("choice", "gpu keeps sim and buffers on the sim device; cpu on the host", choices=("gpu", "cpu")),
    "sim_device": Key("device", "cpu, cuda or cuda:N"),
    "rl_device": Key("device", "cpu, cuda or cuda:N"),
    "graphics_device_id": Key("int", "GPU that renders", minimum=-1),
    "num_threads": Key("int", "physx only", minimum=0),
    "solver_type": Key("int", "physx only", minimum=0),
    "num_subscenes": Key("int", "physx only", minimum=0),
    "learner": Key("choice", "the RL library: rl_games (train=<Task>PPO), or rsl_rl, skrl, sb3 "
                   "(train=<Task>PPO_<learner>)", choices=LEARNERS),
    "test": Key("bool", "play a checkpoint instead of training"),
    "checkpoint": Key("str", "a .pth file, a run directory, or latest"),
    "trust_checkpoint": Key("bool", "load a checkpoint that holds more than tensors and numbers (runs its code)"),
    "sigma": Key("float", "fixed exploration std to play or train with", minimum=0.0, unset_ok=True),
    "play_episodes": Key("int", "episodes to play with test=True ('' keeps games_num, 0 plays none)", minimum=0,
                         unset_ok=True),
    "export": Key("bool", "with test=True: write the policy as ONNX and TorchScript with a deploy manifest"),
    "export_dir": Key("str", "where export=True writes; '' is <run>/exported or runs/exported/<task>_<checkpoint>"),
    "multi_gpu": Key("bool", "one process per GPU under torchrun"),
    "verbose": Key("bool", "rl-games' own console lines as well as mytasks' epoch line"),
    "warm_cache": Key("bool", "build and step the task, then exit: compiles its kernels into the cache"),
    "nan_guard": Key("group", "blown-up physics", fields=NAN_GUARD),
    "wandb_activate": Key("bool", "log to Weights & Biases"),
    "wandb_group": Key("str", "wandb group"),
    "wandb_name": Key("str", "wandb run name"),
    "wandb_entity": Key("str", "wandb entity"),
    "wandb_project": Key("str", "wandb project"),
    "wandb_tags": Key("list", "wandb tags"),
    "wandb_logcode_dir": Key("str", "folder whose code wandb saves"),
    "capture_video": Key("bool", "record videos"),
    "capture_video_freq": Key("int", "steps between clips", minimum=1),
    "capture_video_len": Key("int", "steps per clip", minimum=1),
    "force_render": Key("bool", "render every step when a viewer is open"),
    "headless": Key("bool", "no viewer (viewer=none)"),
    "viewer": Key("choice", "auto: a window with a display, else a web viewer in play", choices=VIEWERS),
    "viewer_port": Key("int", "port of the web viewer (the next free one if taken)", minimum=1, maximum=65535),
    "pbt": Key("mapping", "an IsaacGymEnvs checkout's population-based training group (read by its YAMLs)"),
}

# rl-games parameters under train.params.config that must be numbers: (whole?, least, most,
# least excluded?). Only the keys a config has are checked.
TRAIN_NUMBERS: dict[str, tuple[bool, float, float, bool]] = {
    "learning_rate": (False, 0.0, math.inf, True),
    "gamma": (False, 0.0, 1.0, True),
    "tau": (False, 0.0, 1.0, False),
    "e_clip": (False, 0.0, math.inf, True),
    "kl_threshold": (False, 0.0, math.inf, True),
    "grad_norm": (False, 0.0, math.inf, True),
    "entropy_coef": (False, 0.0, math.inf, False),
    "critic_coef": (False, 0.0, math.inf, False),
    "bounds_loss_coef": (False, 0.0, math.inf, False),
    "horizon_length": (True, 1, math.inf, False),
    "minibatch_size": (True, 1, math.inf, False),
    "mini_epochs": (True, 1, math.inf, False),
    "num_actors": (True, 1, math.inf, False),
    "max_epochs": (True, 1, math.inf, False),
    "save_frequency": (True, 0, math.inf, False),
    "save_best_after": (True, 0, math.inf, False),
    "seq_length": (True, 1, math.inf, False),
}

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")
_NAME = re.compile(r"^[\w][\w.+-]*$")


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _shown(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def _check_key(name: str, key: Key, v) -> None:
    if key.unset_ok and v == "":
        return
    unset = " (or '' to leave it unset)" if key.unset_ok else ""
    if key.kind == "bool" and not isinstance(v, bool):
        raise UserError(f"{name} must be True or False, got '{v}'")
    if key.kind in ("int", "float", "bound"):  # a bound: a float, or inf for none
        whole, bound = key.kind == "int", key.kind == "bound"
        if not _is_number(v) or (whole and not isinstance(v, int)) or not (math.isfinite(v) or (bound and v > 0)):
            none = " (inf for none)" if bound else ""
            raise UserError(f"{name} must be {'a whole number' if whole else 'a number'}{unset}{none}, got '{v}'")
        if key.minimum is not None and v < key.minimum:
            raise UserError(f"{name} must be at least {_shown(key.minimum)}{unset}, got {v}")
        if key.maximum is not None and v > key.maximum:
            raise UserError(f"{name} must be at most {_shown(key.maximum)}{unset}, got {v}")
    if key.kind == "device" and not (isinstance(v, str) and _DEVICE.match(v)):
        raise UserError(f"{name} must be cpu, cuda or cuda:N (N a GPU index), got '{v}'")
    if key.kind == "choice" and str(v).lower() not in key.choices:
        raise UserError(f"{name} must be one of {', '.join(key.choices)}, got '{v}'")
    if key.kind == "name":
        check_run_name(name, v)
    if key.kind == "list" and not isinstance(v, list | tuple | ListConfig):
        raise UserError(f"{name} must be a list such as [a,b], got '{v}'")
    if key.kind == "mapping" and not isinstance(v, dict | DictConfig):
        raise UserError(f"{name} must be a group of keys, got '{v}'")
    if key.kind == "group":
        if not isinstance(v, dict | DictConfig):
            raise UserError(f"{name} must be a group of keys ({', '.join(k for k, _ in key.fields)}), got '{v}'")
        fields = dict(key.fields)
        for sub in v:
            if sub not in fields:
                raise UserError(f"{name}.{sub} is not a key of {name}{did_you_mean(str(sub), fields, name + '.')}")
        for sub, subkey in key.fields:
            if sub not in v:
                raise UserError(f"{name}.{sub} is missing; cfg/config.yaml sets it")
            _check_key(f"{name}.{sub}", subkey, v[sub])


def check_run_name(label: str, v) -> None:
    """A name that becomes a folder: letters, digits, . _ + -, no separator, no '..', not too long."""
    text = str(v)
    if not _NAME.match(text) or ".." in text:
        raise UserError(f"{label} must be a plain name (letters, digits, . _ + -, no path separator or '..'), "
                        f"got '{text}'; runs always land in runs/<name>_<time>/")  # fmt: skip
    if len(text.encode()) > MAX_NAME_BYTES:
        raise UserError(f"{label} is {len(text.encode())} bytes long; a run's name may have at most "
                        f"{MAX_NAME_BYTES} (its folder's name adds the time)")  # fmt: skip


def sources_in(overrides: list[str]) -> dict[str, str]:
    """The task sources (``task_path=``, ``ige_root=``) that command-line overrides give ('' where none)."""
    given = {o.partition("=")[0].lstrip("+~"): o.partition("=")[2] for o in overrides if "=" in o}
    return {key: given.get(key, "") for key in SOURCE_KEYS}


def did_you_mean(word: str, choices, prefix: str = "") -> str:
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {prefix}{close[0]}?" if close else ""


def check_top_level(cfg: DictConfig) -> None:
    """Every top-level key is known and of its kind (``cfg`` resolved)."""
    for k in cfg:
        if k not in TOP_LEVEL and k not in ("task", "train"):
            raise UserError(
                f"unknown key '{k}'{did_you_mean(str(k), TOP_LEVEL)} (--help lists the keys)"
            )
    for name, key in TOP_LEVEL.items():
        if name in cfg:
            _check_key(name, key, cfg[name])


def check_train_numbers(train_config: DictConfig) -> None:
    """The rl-games parameters that must be numbers in range (``train.params.config``)."""
    for k, (whole, lo, hi, open_lo) in TRAIN_NUMBERS.items():
        if k not in train_config:
            continue
        v, label = train_config[k], f"train.params.config.{k}"
        if not _is_number(v) or (whole and not isinstance(v, int)) or not math.isfinite(v):
            raise UserError(f"{label} must be {'a whole number' if whole else 'a number'}, got '{v}'")
        if (v <= lo if open_lo else v < lo) or v > hi:
            bound = f"above {lo:g}" if open_lo else f"at least {lo:g}"
            bound += f" and at most {hi:g}" if hi != math.inf else ""
            raise UserError(f"{label} must be {bound}, got {v}")


def kind_problem(old, new) -> str | None:
    """What ``new`` must be to keep the kind of ``old`` (a number stays a number, a whole number
    whole, a flag True/False, a list a list), or None when it does or ``old`` has no such kind."""
    if isinstance(old, bool):
        ok, want = isinstance(new, bool), "True or False"
    elif isinstance(old, int):
        ok, want = isinstance(new, int) and not isinstance(new, bool), "a whole number"
    elif isinstance(old, float):
        ok, want = _is_number(new), "a number"
    elif isinstance(old, ListConfig | list):
        ok, want = isinstance(new, ListConfig | list), "a list such as [1,2]"
    else:
        return None
    return None if ok else want


def value_overrides(overrides: list[str]) -> list[str]:
    """The overrides that set an existing task./train. value (``key=value``, not ``+``/``~``)."""
    return [o for o in overrides if "=" in o and o.startswith(("task.", "train."))]


def check_override_types(base: DictConfig, composed: DictConfig, overrides: list[str]) -> None:
    """An override of an existing task./train. value keeps its kind (``kind_problem``; ``base``
    and ``composed`` resolved)."""
    from omegaconf import OmegaConf

    for o in value_overrides(overrides):
        key = o.partition("=")[0]
        old, new = OmegaConf.select(base, key, default=None), OmegaConf.select(composed, key, default=None)
        if old is None or new is None:
            continue
        want = kind_problem(old, new)
        if want:
            raise UserError(f"{key} must be {want} (it is {old!r} in the YAML), got '{new}'")


def check_same_kinds(reference: DictConfig, other: DictConfig, where: str, prefix: str = "") -> None:
    """Every value of ``other`` (a run's saved config, resolved) whose key ``reference`` (the
    same task composed now) also has keeps that value's kind; ``where`` names ``other`` in the
    one line that refuses it."""
    for k, ref in reference.items():
        if not isinstance(other, DictConfig) or k not in other:
            continue
        key, new = f"{prefix}{k}", other[k]
        if isinstance(ref, DictConfig):
            if not isinstance(new, DictConfig):
                raise UserError(f"{where}: {key} must be a group of keys, as in the task's YAML, got '{new}'")
            check_same_kinds(ref, new, where, f"{key}.")
            continue
        want = kind_problem(ref, new)
        if want:
            raise UserError(f"{where}: {key} must be {want} (it is {ref!r} in the YAML), got '{new}'; "
                            "restore the value or pass it on the command line")  # fmt: skip

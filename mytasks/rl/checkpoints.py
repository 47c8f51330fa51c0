"""Finding, loading and writing rl-games checkpoints.

Loading never runs code from the file: ``torch.load(weights_only=True)`` with only the numpy
scalar types that rl-games' own checkpoints hold (its best reward is a numpy float). A file
that needs anything else is refused with one line; ``trust_checkpoint=True`` loads it fully.
Writing is atomic (``mytasks.utils.files``): a kill mid-save leaves the previous file loadable.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re

from mytasks.utils.errors import UserError, first_line
from mytasks.utils.files import atomic_write
from mytasks.utils.paths import locate_checkpoint


def _epoch_of(path: str) -> int:
    m = re.search(r"_ep_(\d+)", os.path.basename(path))
    return int(m.group(1)) if m else -1


def resolve(path: str, name: str | None = None, last: bool = False) -> str:
    """A .pth file from ``path``: the file itself, or for a run directory its best checkpoint
    (``nn/<name>.pth``) or, with ``last`` (resuming) or when no best was saved, the one of the
    highest epoch. Relative paths are tried from the working directory, then from the project
    (for the checkpoints under assets/checkpoints). Only regular files count: a folder or a
    pipe named ``*.pth`` is no checkpoint."""
    path = locate_checkpoint(path)
    if not os.path.exists(path):
        raise UserError(f"checkpoint not found: {path}; pass a .pth file, a run directory under runs/, or latest")
    if os.path.isfile(path):
        return path
    if not os.path.isdir(path):
        raise UserError(f"checkpoint {path} is not a regular file (a pipe or a device); pass a .pth file or a run "
                        "directory")  # fmt: skip
    nn = os.path.join(path, "nn") if os.path.isdir(os.path.join(path, "nn")) else path
    best = os.path.join(nn, f"{name}.pth") if name else None
    if not last and best and os.path.isfile(best):
        return best
    found = [p for p in glob.glob(os.path.join(nn, "*.pth")) if os.path.isfile(p)]
    if not found:
        raise UserError(f"no checkpoint (*.pth) in {path}; pass a .pth file or a run directory")
    return max(found, key=lambda p: (_epoch_of(p), os.path.getmtime(p)))


def _allowed_globals() -> list:
    """What rl-games checkpoints hold besides tensors and builtins: numpy scalars and dtypes."""
    import numpy as np

    core = getattr(np, "_core", None) or np.core
    dtypes = [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    return [core.multiarray.scalar, np.dtype, *dtypes]


def load(path: str, trust: bool = False, key: str = "model") -> dict:
    """The checkpoint at ``path`` as a dict, on the CPU, loaded without running code from it
    unless ``trust``; one with no entry ``key`` (rl-games' ``model``) is refused."""
    import pickle

    import torch

    try:
        if trust:
            state = torch.load(path, map_location="cpu", weights_only=False)
        else:
            with torch.serialization.safe_globals(_allowed_globals()):
                state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:  # torch words a refused global two ways, by whether its module is blocked
        needs = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+)", str(e))
        if not needs:  # not a pickle at all, or one that weights_only cannot parse
            raise UserError(f"{path} is not a checkpoint that torch can read ({type(e).__name__})") from None
        raise UserError(
            f"{path} holds objects other than tensors and numbers ({needs.group(1)}), which could run code "
            "when loaded; mytasks loads only plain checkpoints. If you trust the file, add trust_checkpoint=True"
        ) from None
    except Exception as e:  # torch raises many types for a file that is not a checkpoint
        raise UserError(f"{path} is not a checkpoint that torch can read ({type(e).__name__})") from None
    if not isinstance(state, dict) or key not in state:
        wrote = writer(state) if isinstance(state, dict) else None
        hint = f"; learner={wrote} wrote it: play or resume it with learner={wrote}" if wrote else ""
        raise UserError(f"{path} is not a checkpoint of this learner: it has no '{key}' entry{hint}")
    check_stamp(state, path)
    return state


def stamp(state: dict, learner: str, epoch: int, task) -> dict:
    """``state`` with the entries that say who wrote it, as every learner's checkpoint carries
    them: the learner, the task, the epoch and the observation and action counts."""
    cfg = getattr(task, "cfg", None)
    name = cfg.get("name") if isinstance(cfg, dict) else None
    state.update(learner=learner, task=str(name or type(task).__name__), epoch=int(epoch),
                 spaces={"obs": int(task.num_obs), "actions": int(task.num_actions)})  # fmt: skip
    return state


def writer(state: dict) -> str | None:
    """The learner that wrote a checkpoint: its stamp, or rl_games for rl-games' own (unstamped) files."""
    stamped = state.get("learner")
    if isinstance(stamped, str):
        return stamped
    return "rl_games" if "model" in state else None


def check_stamp(state: dict, path: str) -> None:
    """The entries that say who wrote a checkpoint, where it has them: a learner's name, an
    epoch >= 0, and the observation and action counts as whole numbers >= 1."""
    bad = None
    if "learner" in state and not isinstance(state["learner"], str):
        bad = f"learner {state['learner']!r}"
    for key in ("epoch", "iter", "frame"):  # rsl_rl counts its iterations in "iter", rl-games its frames
        value = state.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            bad = f"{key} {value!r}"
    spaces = state.get("spaces", {})
    if not isinstance(spaces, dict) or any(
        isinstance(spaces.get(k), bool) or not isinstance(spaces.get(k, 1), int) or spaces.get(k, 1) < 1
        for k in ("obs", "actions")
    ):
        bad = f"spaces {spaces!r}"
    if bad is not None:
        raise UserError(f"{path} is damaged: its {bad} is not what mytasks writes; use another checkpoint of the run")


@contextlib.contextmanager
def restoring(path: str):
    """Around putting a checkpoint's entries into a learner's networks: a file whose entries
    do not fit them (damaged, or of other network settings) is one line, not the library's."""
    try:
        yield
    except UserError:
        raise
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError, AttributeError) as e:
        raise UserError(f"{path} does not fit this run's networks ({type(e).__name__}: {first_line(e)[:200]}); "
                        "it is damaged or was trained with other network settings: pick another checkpoint, "
                        "or play it with its own run directory") from None  # fmt: skip


def save(state: dict, path: str) -> None:
    """Writes ``state`` to ``path`` atomically (the previous file stays loadable until the end)."""
    import torch

    atomic_write(path, lambda f: torch.save(state, f))


def sizes(state: dict) -> tuple[int | None, int | None]:
    """(observations, actions) a checkpoint's policy was trained with."""
    model = state["model"]
    obs = None
    if "running_mean_std.running_mean" in model:
        obs = int(model["running_mean_std.running_mean"].shape[0])
    else:
        first = [k for k in model if k.startswith("a2c_network.actor_mlp.") and k.endswith(".weight")]
        if first:
            obs = int(model[sorted(first)[0]].shape[1])
    actions = int(model["a2c_network.mu.weight"].shape[0]) if "a2c_network.mu.weight" in model else None
    return obs, actions


def check_matches(state: dict, path: str, task_name: str, num_obs: int, num_actions: int) -> None:
    obs, actions = sizes(state)
    if (obs is not None and obs != num_obs) or (actions is not None and actions != num_actions):
        raise UserError(
            f"checkpoint {path} has {obs} observations and {actions} actions, but task {task_name} has "
            f"{num_obs} and {num_actions}; pick a checkpoint trained on {task_name}"
        )

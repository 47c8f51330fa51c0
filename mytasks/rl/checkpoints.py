"""Finding and checking rl-games checkpoints before anything is built from them."""

from __future__ import annotations

import glob
import os

from mytasks.utils.config import UserError
from mytasks.utils.paths import PROJECT_DIR


def run_dir_of(path: str) -> str | None:
    """The run directory (runs/<name>_<time>/) that holds checkpoint ``path``, if any."""
    d = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    for candidate in (d, os.path.dirname(d)):
        if os.path.isfile(os.path.join(candidate, "config.yaml")):
            return candidate
    return None


def resolve(path: str, name: str | None = None) -> str:
    """A .pth file from ``path``: the file itself, or for a run directory its best checkpoint
    (``nn/<name>.pth``), else its newest one. Relative paths are tried from the working
    directory, then from the project (for the checkpoints under assets/checkpoints)."""
    path = os.path.expanduser(str(path))
    in_project = os.path.join(PROJECT_DIR, path)
    if not os.path.exists(path) and not os.path.isabs(path) and os.path.exists(in_project):
        path = in_project  # a checkpoint shipped with the project, named from elsewhere
    if not os.path.exists(path):
        raise UserError(f"checkpoint not found: {path}; pass a .pth file or a run directory under runs/")
    if os.path.isfile(path):
        return path
    nn = os.path.join(path, "nn") if os.path.isdir(os.path.join(path, "nn")) else path
    if name and os.path.isfile(os.path.join(nn, f"{name}.pth")):
        return os.path.join(nn, f"{name}.pth")
    found = sorted(glob.glob(os.path.join(nn, "*.pth")), key=os.path.getmtime)
    if not found:
        raise UserError(f"no checkpoint (*.pth) in {path}; pass a .pth file or a run directory")
    return found[-1]


def load(path: str) -> dict:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises many types for a file that is not a checkpoint
        raise UserError(f"{path} is not a checkpoint that torch can read ({type(e).__name__})") from None
    if not isinstance(state, dict) or "model" not in state:
        raise UserError(f"{path} is not an rl-games checkpoint (it has no 'model' entry)")
    return state


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

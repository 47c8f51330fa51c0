"""A task's whole state, saved with checkpoints so that resumed training continues exactly.

The snapshot holds the simulation's state (``gym.get_sim_state``) and every tensor and number
the task object holds (its buffers, counters and per-env randomisation), keyed by attribute
name. It is restored only into a task built from the same task config (same env count,
same numbers): otherwise a config-derived tensor would silently undo a changed setting, so
the envs start new episodes instead.
"""

from __future__ import annotations

import hashlib
import json

import torch


def config_digest(task_cfg: dict) -> str:
    return hashlib.sha256(json.dumps(task_cfg, sort_keys=True, default=str).encode()).hexdigest()


def _numbers(task) -> dict:
    out = {}
    for name, value in vars(task).items():
        if isinstance(value, torch.Tensor):
            out[name] = value.detach().clone().cpu()
        elif type(value) in (bool, int, float):  # plain numbers only: no enums or numpy scalars
            out[name] = value
        elif isinstance(value, dict) and value and all(isinstance(v, torch.Tensor) for v in value.values()):
            out[name] = {k: v.detach().clone().cpu() for k, v in value.items()}  # e.g. per-term reward sums
    return out


def _copy_into(current: torch.Tensor, value: torch.Tensor) -> None:
    if current.shape == value.shape and current.dtype == value.dtype:
        current.copy_(value.to(current.device))


def take(task) -> dict:
    """The state of ``task`` (a VecTask), on the CPU."""
    sim = {k: v.detach().clone().cpu() for k, v in task.gym.get_sim_state(task.sim).items()}
    return {"config": config_digest(task.cfg), "sim": sim, "task": _numbers(task)}


def restore(task, snap: dict) -> str | None:
    """Puts ``snap`` back into ``task``; returns why it could not (or None when it did)."""
    if snap.get("config") != config_digest(task.cfg):
        return "the task config differs from the checkpoint's run"
    task.gym.set_sim_state(task.sim, snap["sim"])
    for name, value in snap["task"].items():
        current = getattr(task, name, None)
        if isinstance(current, torch.Tensor) and isinstance(value, torch.Tensor):
            _copy_into(current, value)
        elif isinstance(current, dict) and isinstance(value, dict):
            for k, v in value.items():
                if isinstance(current.get(k), torch.Tensor):
                    _copy_into(current[k], v)
        elif type(current) in (bool, int, float) and type(current) is type(value):
            setattr(task, name, value)
    return None

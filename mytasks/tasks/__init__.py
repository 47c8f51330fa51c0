"""The task registry: ``isaacgym_task_map[name]`` is the task class for the YAML ``name:``.

Task modules are imported on first access, so listing the tasks, composing configs and
reporting bad input stay instant, and the physics backend can be chosen before any task
module imports ``gymapi``. Register your own with ``isaacgym_task_map["MyTask"] = MyTask``
or ``register_task("MyTask", "my_package.my_module:MyTask")``.
"""

from __future__ import annotations

import importlib
from collections.abc import MutableMapping

_BUILTIN = {
    "Cartpole": "mytasks.tasks.cartpole:Cartpole",
    "Go2": "mytasks.tasks.go2:Go2",
    "G1": "mytasks.tasks.g1:G1",
    "H1": "mytasks.tasks.g1:H1",
}


class TaskMap(MutableMapping):
    """A dict of task classes whose entries may be "module:Class" strings until first use."""

    def __init__(self, entries: dict):
        self._entries = dict(entries)

    def __getitem__(self, name: str):
        entry = self._entries[name]
        if isinstance(entry, str):
            module, _, cls = entry.partition(":")
            entry = getattr(importlib.import_module(module), cls)
            self._entries[name] = entry
        return entry

    def __setitem__(self, name: str, task) -> None:
        self._entries[name] = task

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self):
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


isaacgym_task_map = TaskMap(_BUILTIN)


def register_task(name: str, task) -> None:
    """Adds a task class (or a "module:Class" path) under ``name``."""
    isaacgym_task_map[name] = task


def build_task(cfg, *, headless: bool | None = None):
    """The task a composed run config names, built as ``train.py`` builds it (also used by the
    tests and the benchmarks). ``cfg`` is the whole config (resolved or not); ``headless``
    overrides ``cfg.headless``."""
    from omegaconf import OmegaConf

    from mytasks.sim import gymapi, has_display

    name = cfg.task.name
    ige_root = str(cfg.get("ige_root", "") or "")
    if ige_root:  # the checkout's class serves this run only; the registry keeps its own entry
        from mytasks.compat import ige

        task_class = ige.task_class(ige_root, name)
    elif name not in isaacgym_task_map:
        from mytasks.utils.config import UserError

        raise UserError(f"task '{name}' is not registered; registered tasks: {', '.join(sorted(isaacgym_task_map))}")
    else:
        task_class = isaacgym_task_map[name]
    task_cfg = OmegaConf.to_container(cfg.task, resolve=True)
    headless = cfg.headless if headless is None else headless
    viewer = "none" if headless else str(cfg.get("viewer", "auto"))
    if viewer == "auto" and not cfg.test and not has_display():
        print("mytasks: no display, so no viewer; to watch training in a browser add viewer=web", flush=True)
        viewer = "none"
    gymapi.acquire_gym().set_viewer_options(kind=viewer, port=int(cfg.get("viewer_port", 8080)),
                                            realtime=bool(cfg.test))  # fmt: skip
    kwargs = dict(cfg=task_cfg, rl_device=cfg.rl_device, sim_device=cfg.sim_device,
                  graphics_device_id=cfg.graphics_device_id, headless=viewer == "none", virtual_screen_capture=False,
                  force_render=cfg.force_render)  # fmt: skip
    if not ige_root:
        return task_class(**kwargs)
    return ige.construct(task_class, kwargs, ige_root)

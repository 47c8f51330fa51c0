"""The ``isaacgym`` and ``isaacgymenvs`` module names, served by mytasks, for code written for
Isaac Gym. Importing this module installs them (and nothing is aliased until it is imported):

    import mytasks.compat  # noqa: F401
    from isaacgym import gymapi, gymtorch, gymutil
    from isaacgymenvs.utils.torch_jit_utils import *
    from isaacgymenvs.tasks.base.vec_task import VecTask

Served: ``isaacgym.gymapi`` and ``isaacgym.gymtorch`` (the engine chosen by
``mytasks.sim.select_backend``), ``isaacgym.gymutil``, ``isaacgym.terrain_utils``, ``isaacgym.torch_utils``,
``isaacgymenvs.tasks.base.vec_task`` and ``isaacgymenvs.utils.torch_jit_utils``. A real Isaac
Gym installed in this environment is never shadowed: importing this module then fails with
one line saying so (use Isaac Gym directly, or ``physics_engine=physx`` in ``train.py``).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types

from mytasks.utils.errors import UserError

_MARK = "__mytasks_compat__"


class RealIsaacGymInstalled(UserError, ImportError):
    """A real ``isaacgym`` is installed; mytasks will not hide it behind its own modules (``train.py``
    reports it as one line)."""


def _package(name: str, path: list[str] | None = None) -> types.ModuleType:
    module = types.ModuleType(name, f"{name}, served by mytasks.compat")
    module.__path__ = list(path or [])
    module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
    module.__spec__.submodule_search_locations = module.__path__
    setattr(module, _MARK, True)
    return module


def installed() -> bool:
    """Whether the names are installed in this process."""
    return getattr(sys.modules.get("isaacgym"), _MARK, False)


def enable(tasks_path: str | None = None) -> None:
    """Installs the module names (again a no-op); ``tasks_path`` is an IsaacGymEnvs checkout's
    ``isaacgymenvs/tasks`` folder, whose task modules then import as ``isaacgymenvs.tasks.<name>``."""
    if not installed():
        existing = sys.modules.get("isaacgym")
        spec = None if existing is not None else importlib.util.find_spec("isaacgym")
        if existing is not None or spec is not None:
            where = getattr(existing, "__file__", None) or (spec.origin if spec else None) or "this environment"
            raise RealIsaacGymInstalled(
                f"a real isaacgym is installed ({where}); mytasks.compat does not shadow it: use it directly, "
                "or physics_engine=physx with train.py"
            )
        _install()
    if tasks_path is not None:
        tasks = sys.modules["isaacgymenvs.tasks"]
        if tasks_path not in tasks.__path__:
            tasks.__path__.insert(0, tasks_path)


def _install() -> None:
    from mytasks import sim
    from mytasks.sim import gymutil, terrain_utils
    from mytasks.tasks.base import vec_task
    from mytasks.utils import torch_jit_utils

    gymapi, gymtorch = sim.gymapi, sim.gymtorch
    isaacgym = _package("isaacgym")
    served = {
        "isaacgym.gymapi": gymapi,
        "isaacgym.gymtorch": gymtorch,
        "isaacgym.gymutil": gymutil,
        "isaacgym.terrain_utils": terrain_utils,
        "isaacgym.torch_utils": torch_jit_utils,
    }
    for name, module in served.items():
        setattr(isaacgym, name.rsplit(".", 1)[1], module)
    packages = {n: _package(n) for n in ("isaacgymenvs", "isaacgymenvs.tasks", "isaacgymenvs.tasks.base",
                                          "isaacgymenvs.utils")}  # fmt: skip
    packages["isaacgymenvs"].tasks = packages["isaacgymenvs.tasks"]
    packages["isaacgymenvs"].utils = packages["isaacgymenvs.utils"]
    packages["isaacgymenvs.tasks"].base = packages["isaacgymenvs.tasks.base"]
    packages["isaacgymenvs.tasks.base"].vec_task = vec_task
    packages["isaacgymenvs.utils"].torch_jit_utils = torch_jit_utils
    sys.modules.update(served)
    sys.modules.update(packages)
    sys.modules["isaacgym"] = isaacgym
    sys.modules["isaacgymenvs.tasks.base.vec_task"] = vec_task
    sys.modules["isaacgymenvs.utils.torch_jit_utils"] = torch_jit_utils


enable()

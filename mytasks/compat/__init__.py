"""The ``isaacgym`` and ``isaacgymenvs`` module names, served by mytasks, for code written for
Isaac Gym. Nothing is aliased until ``enable()`` is called (importing a mytasks module never does):

    import mytasks.compat
    mytasks.compat.enable()
    from isaacgym import gymapi, gymtorch, gymutil
    from isaacgymenvs.utils.torch_jit_utils import *
    from isaacgymenvs.tasks.base.vec_task import VecTask

Served: ``isaacgym.gymapi`` and ``isaacgym.gymtorch`` (the engine chosen by
``mytasks.sim.select_backend``), ``isaacgym.gymutil``, ``isaacgym.terrain_utils``, ``isaacgym.torch_utils``,
``isaacgymenvs.tasks.base.vec_task``, ``isaacgymenvs.utils.torch_jit_utils`` and
``isaacgymenvs.make`` (IsaacGymEnvs' way to build a task in a script), and ``gym`` (its spaces)
as gymnasium where OpenAI gym is not installed. A real Isaac
Gym installed in this environment is never shadowed: importing this module then fails with
one line saying so (use Isaac Gym directly, or ``physics_engine=physx`` in ``train.py``).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
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


_checkout: list[str] = []  # the checkout enable(checkout=) named, for isaacgymenvs.make


def enable(checkout: str | None = None, *, tasks_path: str | None = None, utils_path: str | None = None,
           learning_path: str | None = None) -> None:
    """Installs the module names (again a no-op). ``checkout`` is an IsaacGymEnvs checkout or
    fork (as ``ige_root=`` takes it): its ``tasks`` modules then import as
    ``isaacgymenvs.tasks.<name>``, its ``utils`` modules as ``isaacgymenvs.utils.<name>``
    (``torch_jit_utils`` stays mytasks'), its ``learning`` modules (rl-games agents) as
    ``isaacgymenvs.learning.<name>``, and ``isaacgymenvs.make`` builds its tasks.
    ``tasks_path``, ``utils_path`` and ``learning_path`` name those folders one by one."""
    if checkout is not None:
        from mytasks.compat.ige import find_package

        pkg = find_package(checkout)
        tasks_path, utils_path = os.path.join(pkg, "tasks"), os.path.join(pkg, "utils")
        learning_path = os.path.join(pkg, "learning")
        _checkout[:] = [checkout]
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
    for package, path in (("isaacgymenvs.tasks", tasks_path), ("isaacgymenvs.utils", utils_path),
                          ("isaacgymenvs.learning", learning_path)):  # fmt: skip
        module = sys.modules[package]
        if path is not None and os.path.isdir(path) and path not in module.__path__:
            module.__path__.insert(0, path)


def make(seed: int, task: str, num_envs: int, sim_device: str, rl_device: str, graphics_device_id: int = -1,
         headless: bool = False, multi_gpu: bool = False, virtual_screen_capture: bool = False,
         force_render: bool = True, cfg=None):  # fmt: skip
    """``isaacgymenvs.make``: a task built from its YAML (``task``, a config name, composed as
    ``train.py`` composes it, from the checkout ``enable(checkout=)`` named, else mytasks' and
    installed packages' tasks) or from a composed ``cfg``, as IsaacGymEnvs builds it in a script."""
    from mytasks.tasks import compose_config, make_task
    from mytasks.utils.seed import set_seed

    if multi_gpu:
        raise UserError("isaacgymenvs.make(multi_gpu=True): run train.py under torchrun with multi_gpu=True instead")
    if cfg is None:
        where = [f"ige_root={_checkout[0]}"] if _checkout else []
        cfg = compose_config([f"task={task}", *where, f"num_envs={num_envs}", f"sim_device={sim_device}",
                              f"rl_device={rl_device}", f"graphics_device_id={graphics_device_id}"])  # fmt: skip
    else:
        cfg = cfg.copy()
        cfg.sim_device, cfg.rl_device, cfg.graphics_device_id = sim_device, rl_device, graphics_device_id
    cfg.force_render = force_render
    set_seed(seed, False)
    return make_task(cfg, headless=headless)


def _numpy_1_names() -> None:
    """NumPy 2 removed aliases IsaacGymEnvs' code uses (``np.Inf`` in its VecTask, HumanoidAMP and
    the DeXtreme tasks, ``np.float_``); they are given back, naming what NumPy 2 calls them."""
    import numpy as np

    for old, new in (("Inf", np.inf), ("NaN", np.nan), ("float_", np.float64), ("complex_", np.complex128)):
        if old not in vars(np):
            setattr(np, old, new)


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
                                          "isaacgymenvs.utils", "isaacgymenvs.learning")}  # fmt: skip
    packages["isaacgymenvs"].make = make
    packages["isaacgymenvs"].tasks = packages["isaacgymenvs.tasks"]
    packages["isaacgymenvs"].utils = packages["isaacgymenvs.utils"]
    packages["isaacgymenvs"].learning = packages["isaacgymenvs.learning"]
    packages["isaacgymenvs.tasks"].base = packages["isaacgymenvs.tasks.base"]
    packages["isaacgymenvs.tasks.base"].vec_task = vec_task
    packages["isaacgymenvs.utils"].torch_jit_utils = torch_jit_utils
    sys.modules.update(served)
    sys.modules.update(packages)
    sys.modules["isaacgym"] = isaacgym
    sys.modules["isaacgymenvs.tasks.base.vec_task"] = vec_task
    sys.modules["isaacgymenvs.utils.torch_jit_utils"] = torch_jit_utils
    _numpy_1_names()
    if "gym" not in sys.modules and importlib.util.find_spec("gym") is None:
        # OpenAI gym, whose spaces IsaacGymEnvs imports (HumanoidAMP, the DeXtreme tasks): its
        # successor gymnasium serves them, where gym itself is not installed.
        import gymnasium

        sys.modules["gym"] = gymnasium
        sys.modules["gym.spaces"] = gymnasium.spaces

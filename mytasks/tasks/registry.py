"""One registry of task specs, and ``make_task``, which builds every task.

A :class:`TaskSpec` says what a task name means: the class (a ``"module:Class"`` path, imported
on first use), the folder of its YAMLs (``task/<Name>.yaml``, ``train/<Name>PPO[_<learner>].yaml``)
and where it comes from. A :class:`Catalog` holds the specs of one run, from these sources,
later ones taking a name over from earlier ones:

1. mytasks' own tasks and those registered in this process (``register_task``,
   ``isaacgym_task_map[...] = ...``);
2. installed packages, through the ``mytasks.tasks`` entry point group
   (``Pendulum = "my_tasks.pendulum:Pendulum"``); the YAMLs are in the nearest ``cfg/`` folder
   from the class's module up to its top package;
3. ``task_path=<folder>``: a project folder not installed, whose ``pyproject.toml`` declares
   the same entry points;
4. ``ige_root=<checkout>``: an IsaacGymEnvs checkout's task map (``mytasks.compat.ige``).

Light on purpose (no torch, no engine): listing tasks and composing configs stay instant.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import math
import os
import sys
import tomllib
from collections.abc import MutableMapping
from dataclasses import dataclass, field

from mytasks.utils.errors import UserError
from mytasks.utils.paths import CONFIG_DIR
from mytasks.utils.schema import SOURCE_KEYS, sources_in

ENTRY_POINTS = "mytasks.tasks"
_BUILTIN = {
    "Cartpole": "mytasks.tasks.cartpole:Cartpole",
    "Go2": "mytasks.tasks.go2:Go2",
    "G1": "mytasks.tasks.g1:G1",
    "H1": "mytasks.tasks.h1:H1",
}


@dataclass
class TaskSpec:
    """What a task name means for a run."""

    name: str
    target: object  # "module:Class", or the class itself
    config_dir: str | None  # holds task/ and train/; None where none was found (said when used)
    origin: str  # for people: "mytasks", "package my-tasks", "task_path=<folder>", ...
    sys_path: list[str] = field(default_factory=list)  # folders the module imports from
    from_command_line: bool = False  # from task_path= or ige_root=

    def load(self) -> type:
        """The task class (imported on first use)."""
        if not isinstance(self.target, str):
            return self.target
        for folder in self.sys_path:
            if folder not in sys.path:
                sys.path.insert(0, folder)
        module, _, cls = self.target.partition(":")
        try:
            return getattr(importlib.import_module(module), cls)
        except ModuleNotFoundError as e:
            if e.name and module.startswith(e.name):  # the task's own module, not one it imports
                raise UserError(f"task {self.name} ({self.origin}) names {self.target}, but {e.name} cannot be "
                                "imported; fix the entry point or install the package") from e  # fmt: skip
            raise
        except AttributeError as e:
            raise UserError(f"task {self.name} ({self.origin}): {module} has no {cls}; fix the entry point") from e

    def build(self, kwargs: dict):
        """The task, built with VecTask's constructor arguments."""
        return self.load()(**kwargs)


class TaskMap(MutableMapping):
    """IsaacGymEnvs' ``isaacgym_task_map``: name -> task class, entries that are "module:Class"
    strings imported on first use."""

    def __init__(self, entries: dict):
        self._entries = dict(entries)
        self.config_dirs: dict[str, str] = {}  # register_task(..., config_dir=)

    def __getitem__(self, name: str):
        entry = self._entries[name]
        if isinstance(entry, str):
            entry = self._entries[name] = TaskSpec(name, entry, None, "").load()
        return entry

    def __setitem__(self, name: str, task) -> None:
        self._entries[name] = task

    def __delitem__(self, name: str) -> None:
        del self._entries[name]
        self.config_dirs.pop(name, None)

    def __iter__(self):
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def raw(self, name: str):
        return self._entries[name]


isaacgym_task_map = TaskMap(_BUILTIN)


def register_task(name: str, task, config_dir: str | None = None) -> None:
    """Adds a task class (or a "module:Class" path) under ``name`` for this process, with the
    folder of its YAMLs (default: the nearest ``cfg/`` above the class's module, else mytasks' own)."""
    isaacgym_task_map[name] = task
    if config_dir is not None:
        isaacgym_task_map.config_dirs[name] = os.path.abspath(os.path.expanduser(config_dir))


# ---------------------------------------------------------------------------- sources
def _module_folder(module: str, roots: list[str]) -> str | None:
    """The folder of ``module`` (a dotted name) without importing it: its top package's folder,
    found in ``roots`` or on sys.path, then the dotted path under it."""
    top, *rest = module.split(".")
    for root in roots:
        if os.path.isdir(os.path.join(root, top)) or os.path.isfile(os.path.join(root, f"{top}.py")):
            base = root
            break
    else:
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            return None
        if spec is None or spec.origin is None and not spec.submodule_search_locations:
            return None
        base = os.path.dirname(list(spec.submodule_search_locations or [])[0] if spec.submodule_search_locations
                               else spec.origin)  # fmt: skip
    return os.path.join(base, top, *rest[:-1]) if rest else base


def config_dir_for(name: str, module: str, roots: list[str] = ()) -> str | None:
    """The nearest ``cfg/`` holding ``task/<name>.yaml``, from ``module``'s folder up to the
    folder that holds its top package."""
    folder = _module_folder(module, list(roots))
    depth = module.count(".") + 1
    for _ in range(depth + 1):
        if folder is None:
            return None
        if os.path.isfile(os.path.join(folder, "cfg", "task", f"{name}.yaml")):
            return os.path.join(folder, "cfg")
        folder = os.path.dirname(folder)
    return None


def _entry_point_specs() -> list[TaskSpec]:
    specs = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINTS):
        dist = getattr(ep, "dist", None)
        origin = f"package {dist.name}" if dist is not None else "an installed package"
        module = ep.value.partition(":")[0]
        specs.append(TaskSpec(ep.name, ep.value, config_dir_for(ep.name, module), origin))
    return specs


def folder_specs(folder: str) -> list[TaskSpec]:
    """The tasks a project folder declares in its ``pyproject.toml`` (``task_path=``), importable
    from the folder (or its ``src/``) without installing it."""
    folder = os.path.abspath(os.path.expanduser(str(folder)))
    pyproject = os.path.join(folder, "pyproject.toml")
    fix = (f'declare its tasks in {pyproject}: [project.entry-points."{ENTRY_POINTS}"] '
           'MyTask = "my_package.my_task:MyTask"')  # fmt: skip
    if not os.path.isdir(folder):
        raise UserError(f"task_path={folder} is not a folder; pass the folder of your task project")
    try:
        with open(pyproject, "rb") as f:
            declared = tomllib.load(f).get("project", {}).get("entry-points", {}).get(ENTRY_POINTS, {})
    except FileNotFoundError:
        raise UserError(f"task_path={folder} has no pyproject.toml; {fix}") from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{pyproject} is not valid TOML ({e}); fix it") from None
    if not declared:
        raise UserError(f"task_path={folder} declares no tasks; {fix}")
    roots = [p for p in (os.path.join(folder, "src"), folder) if os.path.isdir(p)]
    origin = f"task_path={folder}"
    return [TaskSpec(name, value, config_dir_for(name, value.partition(":")[0], roots), origin, roots)
            for name, value in declared.items()]  # fmt: skip


# The specs of each source key of the run config (schema.SOURCE_KEYS): "module:function(value) -> specs".
# The IsaacGymEnvs wing sits above the task layer, so it is named here, not imported.
_SOURCES = {"task_path": "mytasks.tasks.registry:folder_specs", "ige_root": "mytasks.compat.ige:task_specs"}
assert tuple(_SOURCES) == SOURCE_KEYS


class Catalog:
    """The task specs one run sees, by name."""

    def __init__(self, specs: list[TaskSpec]):
        self.specs: dict[str, TaskSpec] = {}
        for spec in specs:
            self.specs[spec.name] = spec

    def get(self, name: str) -> TaskSpec:
        if name not in self.specs:
            from mytasks.utils.schema import did_you_mean

            hint = did_you_mean(name, list(self.specs)) or f"; registered tasks: {', '.join(sorted(self.specs))}"
            raise UserError(f"task '{name}' is not registered{hint}")
        return self.specs[name]

    def config_dirs(self) -> list[str]:
        """The YAML folders of its tasks, a later one winning a file name both have: installed
        packages', then mytasks' own, then those the command line names (``task_path=``,
        ``ige_root=``: a checkout's Cartpole.yaml is the one its Cartpole reads)."""
        named = [s.config_dir for s in self.specs.values() if s.config_dir and s.from_command_line]
        others = [s.config_dir for s in self.specs.values() if s.config_dir and not s.from_command_line]
        return list(dict.fromkeys([d for d in others if d != CONFIG_DIR] + [CONFIG_DIR] + named))


def catalog(**sources: str) -> Catalog:
    """The catalog of a run: mytasks' tasks, those registered here, installed packages' and the
    ``sources`` given (``task_path=``, ``ige_root=``; empty values are skipped)."""
    specs = []
    for name in isaacgym_task_map:
        raw = isaacgym_task_map.raw(name)
        module = raw.partition(":")[0] if isinstance(raw, str) else raw.__module__
        config_dir = isaacgym_task_map.config_dirs.get(name)
        if config_dir is None:
            config_dir = CONFIG_DIR if name in _BUILTIN and raw == _BUILTIN[name] else config_dir_for(name, module)
        specs.append(TaskSpec(name, raw, config_dir or CONFIG_DIR, "mytasks" if name in _BUILTIN else "registered"))
    builtin = {s.name for s in specs}
    specs += [s for s in _entry_point_specs() if s.name not in builtin]
    for key, value in sources.items():
        if value:
            module, _, function = _SOURCES[key].partition(":")
            for spec in getattr(importlib.import_module(module), function)(value):
                spec.from_command_line = True
                specs.append(spec)
    return Catalog(specs)


def compose_config(overrides: list[str]):
    """``utils.config.compose`` over the YAML folders of every task the overrides can name
    (mytasks', installed packages', and those ``task_path=`` or ``ige_root=`` add)."""
    from mytasks.utils.config import compose

    return compose(overrides, catalog(**sources_in(overrides)).config_dirs())


def catalog_of(cfg) -> Catalog:
    """The catalog of a composed run config (its ``task_path`` and ``ige_root``)."""
    return catalog(**{key: str(cfg.get(key, "") or "") for key in SOURCE_KEYS})


def make_task(cfg, *, headless: bool | None = None, catalog: Catalog | None = None):
    """The task a composed run config names, built as ``train.py`` builds it: for the CLI, the
    learners, the tests and the benchmarks. ``cfg`` is the whole config (resolved or not);
    ``headless`` overrides ``cfg.headless``."""
    from omegaconf import OmegaConf

    from mytasks.sim import has_display

    spec = (catalog or catalog_of(cfg)).get(str(cfg.task.name))
    task_cfg = OmegaConf.to_container(cfg.task, resolve=True)
    headless = cfg.headless if headless is None else headless
    viewer = "none" if headless else str(cfg.get("viewer", "auto"))
    if viewer == "auto" and not cfg.test and not has_display():
        print("mytasks: no display, so no viewer; to watch training in a browser add viewer=web", flush=True)
        viewer = "none"
    # How VecTask opens its viewer (tasks/base/viewing.py); a key no IsaacGymEnvs task reads.
    task_cfg["viewer"] = {"kind": viewer, "port": int(cfg.get("viewer_port", 8080)), "realtime": bool(cfg.test)}
    task = spec.build(dict(cfg=task_cfg, rl_device=cfg.rl_device, sim_device=cfg.sim_device,
                           graphics_device_id=cfg.graphics_device_id, headless=viewer == "none",
                           virtual_screen_capture=False, force_render=cfg.force_render))  # fmt: skip
    guard, bounds = getattr(task, "nonfinite", None), cfg.get("nan_guard") or {}
    if guard is not None:  # the blow-up guard's bounds (tasks/base/nonfinite.py)
        guard.max_observation = float(bounds.get("max_observation", math.inf))
        guard.max_body_speed = float(bounds.get("max_body_speed", math.inf))
    return task

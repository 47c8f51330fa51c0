"""Tasks and YAMLs from an IsaacGymEnvs checkout or fork (``ige_root=<checkout>``), run unmodified.

``find_package(root)`` accepts the checkout (holding ``isaacgymenvs/``) or its package folder
(holding ``tasks/`` and ``cfg/``). ``task_specs(root)`` gives the registry its tasks: the names
of the checkout's own ``isaacgym_task_map`` (read from ``tasks/__init__.py`` without running it),
or, where it has none, every ``class Name(`` of its tasks package; the YAMLs are its
``cfg/``. A task imports as ``isaacgymenvs.tasks.<module>`` with the ``isaacgym`` names served by
``mytasks.compat``, and the checkout's ``isaacgymenvs/utils`` modules import as they do there.
What the task calls and mytasks lacks is reported by ``explain(error, root)`` as one line naming
the isaacgym name and the file's line.
"""

from __future__ import annotations

import ast
import glob
import importlib
import os
import re
import traceback

from mytasks.compat.vec_task_diff import vec_task_changes
from mytasks.tasks.registry import TaskSpec
from mytasks.utils.errors import UserError


def find_package(root: str) -> str:
    """The checkout's ``isaacgymenvs`` package folder."""
    root = os.path.abspath(os.path.expanduser(str(root)))
    for pkg in (os.path.join(root, "isaacgymenvs"), root):
        if os.path.isdir(os.path.join(pkg, "tasks")) and os.path.isdir(os.path.join(pkg, "cfg", "task")):
            return pkg
    raise UserError(
        f"ige_root={root} is not an IsaacGymEnvs checkout: expected isaacgymenvs/tasks and isaacgymenvs/cfg/task "
        "under it; pass the folder you cloned IsaacGymEnvs into"
    )


class CheckoutTask(TaskSpec):
    """A task of a checkout: imported with the isaacgym names served, errors said in one line."""

    def load(self):
        pkg = self.sys_path[0]
        from mytasks import compat

        compat.enable(tasks_path=os.path.join(pkg, "tasks"), utils_path=os.path.join(pkg, "utils"),
                      learning_path=os.path.join(pkg, "learning"))
        vec_task_changes(pkg)
        module, _, name = self.target.partition(":")
        try:
            if module == "isaacgymenvs.tasks":  # a function of the task map itself (AllegroKuka's)
                return _task_map_function(pkg, name)
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError, NameError) as e:
            raise UserError(explain(e, pkg) or f"{self.name}: importing {module} failed: {e}") from e

    def build(self, kwargs: dict):
        from mytasks.sim import asset_paths_from

        task_class = self.load()
        if kwargs.get("sim_device") == "cpu":
            # with its index, as "cuda:0" comes: AllegroKuka reads int(sim_device.split(":")[1])
            kwargs = {**kwargs, "sim_device": "cpu:0"}
        cfg = dict(kwargs["cfg"])
        if str(cfg.get("physics_engine", "newton")).lower() == "newton":
            # Code written for Isaac Gym takes its PhysX branches (the engine it was tuned on), and
            # DeXtreme's vec-task accepts no other name: Newton serves the task as Isaac Gym's PhysX.
            cfg["physics_engine"] = "physx"
        # DeXtreme's tasks take their rl device from the config (cuda:0 where it is not there)
        cfg.setdefault("rl_device", kwargs["rl_device"])
        kwargs = {**kwargs, "cfg": cfg}
        try:
            with asset_paths_from(self.sys_path[0]):  # relative paths, as from upstream's train.py folder
                return task_class(**kwargs)
        except (AttributeError, ImportError, NotImplementedError) as e:
            line = explain(e, self.sys_path[0])
            if line is None:
                raise
            raise UserError(line) from e


def task_specs(root: str) -> list[TaskSpec]:
    """The checkout's tasks, for the registry (``registry._SOURCES``)."""
    pkg = find_package(root)
    origin = f"ige_root={os.path.dirname(pkg) if os.path.basename(pkg) == 'isaacgymenvs' else pkg}"
    found = _task_map(pkg) or _task_classes(pkg)
    return [CheckoutTask(name, target, os.path.join(pkg, "cfg"), origin, [pkg]) for name, target in found.items()]


def _task_map(pkg: str) -> dict[str, str]:
    """``isaacgym_task_map`` of the checkout's ``tasks/__init__.py``, read, not run: name ->
    "isaacgymenvs.tasks.<module>:<Class>" (or "isaacgymenvs.tasks:<function>" for a function
    defined there)."""
    path = os.path.join(pkg, "tasks", "__init__.py")
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
    except (OSError, SyntaxError, ValueError):
        return {}
    imported, defined, table = {}, set(), None
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            module = ("isaacgymenvs.tasks." + (node.module or "")) if node.level == 1 else (node.module or "")
            for alias in node.names:
                imported[alias.asname or alias.name] = f"{module.rstrip('.')}:{alias.name}"
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "isaacgym_task_map" for t in node.targets):
            table = node.value
    if not isinstance(table, ast.Dict):
        return {}
    out = {}
    for key, value in zip(table.keys, table.values, strict=True):
        if isinstance(key, ast.Constant) and isinstance(value, ast.Name):
            if value.id in imported:
                out[key.value] = imported[value.id]
            elif value.id in defined:
                out[key.value] = f"isaacgymenvs.tasks:{value.id}"
    return out


def _task_classes(pkg: str) -> dict[str, str]:
    """Every ``class Name(`` of the tasks package (for a checkout without a task map)."""
    tasks, out = os.path.join(pkg, "tasks"), {}
    pattern = re.compile(r"^class\s+(\w+)\s*\(", re.M)
    for path in sorted(glob.glob(os.path.join(tasks, "**", "*.py"), recursive=True)):
        rel = os.path.relpath(path, tasks)
        if rel.startswith("base" + os.sep) or rel == "__init__.py":
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for name in pattern.findall(f.read()):
                out.setdefault(name, f"isaacgymenvs.tasks.{rel[:-3].replace(os.sep, '.')}:{name}")
    return out


def _task_map_function(pkg: str, name: str):
    """A function that the checkout's ``tasks/__init__.py`` defines for its task map (AllegroKuka's
    subtask resolvers), with only the imports it uses: that file imports every task, and a task
    that needs a package not installed must not stop the others."""
    path = os.path.join(pkg, "tasks", "__init__.py")
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    (function,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    used = {n.id for n in ast.walk(function) if isinstance(n, ast.Name)}
    imports = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom | ast.Import):
            kept = [a for a in node.names if (a.asname or a.name).split(".")[0] in used]
            if kept:
                node.names = kept
                imports.append(node)
    module = ast.Module(body=[*imports, function], type_ignores=[])
    namespace = {"__name__": "isaacgymenvs.tasks", "__package__": "isaacgymenvs.tasks", "__file__": path}
    exec(compile(module, path, "exec"), namespace)
    return namespace[name]


_MISSING = (
    re.compile(r"'(?P<owner>Gym)' object has no attribute '(?P<name>\w+)'"),
    re.compile(r"module '(?P<owner>[\w.]+)' has no attribute '(?P<name>\w+)'"),
    re.compile(r"cannot import name '(?P<name>\w+)' from '(?P<owner>[\w.]+)'"),
    re.compile(r"No module named '(?P<name>[\w.]+)'"),
)


def explain(error: BaseException, pkg: str) -> str | None:
    """One line for an isaacgym name the checkout's code uses and mytasks does not serve, or a
    use of one that it serves only in part (``NotImplementedError``)."""
    text = str(error)
    frames = [f for f in traceback.extract_tb(error.__traceback__) if os.path.abspath(f.filename).startswith(pkg)]
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else pkg
    if isinstance(error, NotImplementedError):
        return f"{where}: {text.splitlines()[0] if text else type(error).__name__}"
    for pattern in _MISSING:
        m = pattern.search(text)
        if m:
            break
    else:
        return None
    top = m.group("name").split(".")[0]
    if pattern is _MISSING[-1] and top not in ("isaacgym", "isaacgymenvs"):
        # A Python package that is not installed, imported by the task file or by an importer
        # beneath a gym call (mesh assets need trimesh and pycollada): not an isaacgym gap.
        return (f"{where} needs the Python package {top}, which is not installed here: pip install it "
                "(mytasks' own dependencies come with the README's install command)")  # fmt: skip
    owner = m.groupdict().get("owner", "")
    what = {"Gym": "gym."}.get(owner, f"{owner}." if owner else "")
    if what.startswith("mytasks.sim.newton_backend."):
        what = "isaacgym." + what.split(".")[-2] + "."
    name = f"{what}{m.group('name')}"
    return (f"{where} uses {name}, which mytasks does not provide on this engine "
            "(docs/conventions.md lists the isaacgym API it serves)")  # fmt: skip

"""Tasks and YAMLs from an IsaacGymEnvs checkout (``ige_root=<checkout>``), run unmodified.

``find_package(root)`` accepts the checkout (holding ``isaacgymenvs/``) or its package folder
(holding ``tasks/`` and ``cfg/``). ``config_dir(root)`` is a config folder for Hydra: mytasks'
``config.yaml`` with the checkout's ``cfg/task`` and ``cfg/train`` over mytasks' own (the
checkout's win where both have a file). ``task_class(root, name)`` finds ``class <name>(`` in
the checkout's tasks package and imports that module as ``isaacgymenvs.tasks.<module>`` with
the ``isaacgym`` names served by ``mytasks.compat``; ``construct`` builds it. What the task calls
and mytasks lacks is reported by ``explain(error, root)`` as one line naming the isaacgym name
and the file's line.
"""

from __future__ import annotations

import contextlib
import glob
import importlib
import os
import re
import shutil
import tempfile
import traceback

from mytasks.utils.errors import UserError
from mytasks.utils.paths import CONFIG_DIR


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


@contextlib.contextmanager
def config_dir(root: str):
    """A temporary Hydra config folder: mytasks' config.yaml, the checkout's task and train YAMLs."""
    pkg = find_package(root)
    tmp = tempfile.mkdtemp(prefix="mytasks-ige-cfg-")
    try:
        shutil.copy(os.path.join(CONFIG_DIR, "config.yaml"), tmp)
        for group in ("task", "train"):
            os.makedirs(os.path.join(tmp, group))
            for source in (os.path.join(CONFIG_DIR, group), os.path.join(pkg, "cfg", group)):
                for path in glob.glob(os.path.join(source, "*.yaml")):
                    link = os.path.join(tmp, group, os.path.basename(path))
                    if os.path.lexists(link):
                        os.remove(link)
                    os.symlink(os.path.abspath(path), link)
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _module_of(pkg: str, name: str) -> str | None:
    tasks = os.path.join(pkg, "tasks")
    pattern = re.compile(rf"^class\s+{re.escape(name)}\s*\(", re.M)
    for path in sorted(glob.glob(os.path.join(tasks, "**", "*.py"), recursive=True)):
        rel = os.path.relpath(path, tasks)
        if rel.startswith("base" + os.sep):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            if pattern.search(f.read()):
                return rel[:-3].replace(os.sep, ".")
    return None


def task_class(root: str, name: str):
    """The class ``name`` from the checkout's tasks package, imported unmodified."""
    pkg = find_package(root)
    module = _module_of(pkg, name)
    if module is None:
        raise UserError(f"no 'class {name}(' in {pkg}/tasks; task= must name a task class of that checkout")
    from mytasks import compat

    compat.enable(tasks_path=os.path.join(pkg, "tasks"))
    try:
        mod = importlib.import_module(f"isaacgymenvs.tasks.{module}")
    except (ImportError, AttributeError) as e:
        raise UserError(explain(e, pkg) or f"{name}: importing isaacgymenvs.tasks.{module} failed: {e}") from e
    return getattr(mod, name)


def construct(task_class, kwargs: dict, root: str):
    """``task_class(**kwargs)``, with a missing isaacgym name reported as ``explain`` does."""
    try:
        return task_class(**kwargs)
    except (AttributeError, ImportError, NotImplementedError) as e:
        line = explain(e, find_package(root))
        if line is None:
            raise
        raise UserError(line) from e


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

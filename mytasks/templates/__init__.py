"""``--new-task NAME [FOLDER]``: a task project from the template in ``templates/task/``.

The template is a small package that trains out of the box on the CPU: a task class (an
inverted pendulum), its two YAMLs, a URDF, a test that runs ``mytasks.testing.check_task``,
and a ``pyproject.toml`` whose ``mytasks.tasks`` entry point registers it. ``TASKNAME`` and
``TASKPKG`` in file names and contents become the task's name and its package's.
"""

from __future__ import annotations

import keyword
import os
import re
import shutil

from mytasks.utils.errors import UserError
from mytasks.utils.invocation import program

TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "task")


def package_name(name: str) -> str:
    """``MyTask`` -> ``my_task``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def new_task(name: str, folder: str | None = None) -> str:
    """Writes the project for task ``name`` into ``folder`` (default ``./<package>``), which
    must not exist or be empty; returns the folder."""
    if not name.isidentifier() or keyword.iskeyword(name) or not name[0].isupper():
        raise UserError(f"--new-task {name}: a task name is a class name (letters, digits, _), "
                        "starting with a capital: --new-task Pendulum")  # fmt: skip
    package = package_name(name)
    folder = os.path.abspath(os.path.expanduser(folder or package))
    if os.path.exists(folder) and (not os.path.isdir(folder) or os.listdir(folder)):
        raise UserError(f"--new-task: {folder} exists and is not an empty folder; name a new one: "
                        f"--new-task {name} <folder>")  # fmt: skip
    staging = f"{folder}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for root, dirs, files in os.walk(TEMPLATE):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            rel = os.path.relpath(root, TEMPLATE)
            out_dir = os.path.join(staging, _named(rel, name, package))
            os.makedirs(out_dir, exist_ok=True)
            for file in files:
                with open(os.path.join(root, file), encoding="utf-8") as f:
                    text = _named(f.read(), name, package)
                with open(os.path.join(out_dir, _named(file, name, package)), "w", encoding="utf-8") as f:
                    f.write(text)
        if os.path.isdir(folder):
            os.rmdir(folder)  # empty, checked above
        os.rename(staging, folder)  # whole or not at all
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    rel = os.path.relpath(folder)
    print(f"created task {name} in {folder}")
    print(f"train it:   {program()} task={name} task_path={rel}")
    print(f"or install: pip install -e {rel}   (then {program()} task={name} runs from anywhere)")
    print(f"test it:    python -m pytest {os.path.join(rel, 'tests')}")
    return folder


def _named(text: str, name: str, package: str) -> str:
    return text.replace("TASKNAME", name).replace("TASKPKG", package)

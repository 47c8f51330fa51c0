"""Where the project's files are, wherever it is run from and however it is installed.

In the repository, ``cfg/`` and ``assets/`` sit beside the ``mytasks`` package; a wheel (or
``pip install .``) carries them inside it, as ``mytasks/cfg`` and ``mytasks/assets``.
"""

from __future__ import annotations

import os

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The folder that holds cfg/ and assets/: the installed package, else the repository.
DATA_DIR = PACKAGE_DIR if os.path.isdir(os.path.join(PACKAGE_DIR, "cfg")) else os.path.dirname(PACKAGE_DIR)
ASSETS_DIR = os.path.join(DATA_DIR, "assets")
CONFIG_DIR = os.path.join(DATA_DIR, "cfg")


def task_root(task) -> str:
    """The folder that holds the ``cfg/`` of a task class (or task) — its package's, found from
    its module's folder upwards — else mytasks' data folder."""
    import inspect

    cls = task if isinstance(task, type) else type(task)
    try:
        folder = os.path.dirname(os.path.abspath(inspect.getfile(cls)))
    except (TypeError, OSError):
        return DATA_DIR
    while True:
        if os.path.isdir(os.path.join(folder, "cfg", "task")):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return DATA_DIR
        folder = parent


def asset_root(configured: str | None, task=None) -> str:
    """The asset root a task YAML names: absolute as given, else relative to the folder that
    holds the task's ``cfg/`` (``task_root``: mytasks' own, or a task package's); that folder's
    ``assets/`` when none is given."""
    base = DATA_DIR if task is None else task_root(task)
    if not configured:
        return os.path.join(base, "assets")
    configured = os.path.expanduser(str(configured))
    if os.path.isabs(configured):
        return configured
    return os.path.normpath(os.path.join(base, configured))


def locate_checkpoint(path: str) -> str:
    """``checkpoint=`` as a path: from the working directory, else from mytasks' data folder (for
    the shipped ``assets/checkpoints/*.pth``); ``~`` expanded. Unchanged when found nowhere."""
    path = os.path.expanduser(str(path))
    shipped = os.path.join(DATA_DIR, path)
    if not os.path.lexists(path) and not os.path.isabs(path) and os.path.lexists(shipped):
        return shipped
    return path


def urdf_joint_order(path: str) -> list[str]:
    """The moving joints of a URDF file in the order it lists them."""
    import xml.etree.ElementTree as ET

    return [j.get("name") for j in ET.parse(path).getroot().iter("joint") if j.get("type") != "fixed"]

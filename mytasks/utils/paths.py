"""Where the project's files are, wherever it is run from."""

from __future__ import annotations

import os

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT_DIR = os.path.dirname(PACKAGE_DIR)
ASSETS_DIR = os.path.join(PROJECT_DIR, "assets")
CONFIG_DIR = os.path.join(PROJECT_DIR, "cfg")


def asset_root(configured: str | None) -> str:
    """The asset root a task YAML names: absolute as given, relative to the project, or the
    project's own assets/ when none is given."""
    if not configured:
        return ASSETS_DIR
    if os.path.isabs(configured):
        return configured
    return os.path.normpath(os.path.join(PROJECT_DIR, configured))


def locate_checkpoint(path: str) -> str:
    """``checkpoint=`` as a path: from the working directory, else from the project (for the
    checkpoints under assets/checkpoints); ``~`` expanded. Unchanged when found nowhere."""
    path = os.path.expanduser(str(path))
    in_project = os.path.join(PROJECT_DIR, path)
    if not os.path.lexists(path) and not os.path.isabs(path) and os.path.lexists(in_project):
        return in_project
    return path


def urdf_joint_order(path: str) -> list[str]:
    """The moving joints of a URDF file in the order it lists them."""
    import xml.etree.ElementTree as ET

    return [j.get("name") for j in ET.parse(path).getroot().iter("joint") if j.get("type") != "fixed"]

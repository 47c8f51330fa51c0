"""TASKNAME keeps the VecTask contract (mytasks' own check, run on this project's task)."""

import os

from mytasks.testing import check_task

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_TASKPKG_keeps_the_vectask_contract():
    check_task("TASKNAME", task_path=PROJECT)  # installed, check_task("TASKNAME") finds it too

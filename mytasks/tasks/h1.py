"""Unitree H1 (10 leg DOFs): G1's task (tasks/g1.py: the gait clock, swing height and stance
contacts) with H1's numbers in cfg/task/H1.yaml."""

from __future__ import annotations

from mytasks.tasks.g1 import G1


class H1(G1):
    """Observations 41, states 44 (G1: 47 and 50)."""

    num_dof_expected = 10

"""Go2: follow base velocity commands on flat ground (legged_gym's flat, blind locomotion task).

Every number lives in cfg/task/Go2.yaml; the formulas are the legged base's
(tasks/base/legged.py, legged_rewards.py).

Observations (48), noise added after scaling, in observation units:
  base linear velocity, body frame x linVel (3) | base angular velocity, body frame x angVel (3) |
  gravity direction in the body frame (3) | commands vx, vy, yaw rate x (linVel, linVel, angVel) (3) |
  joint angles - defaults x dofPos (12) | joint velocities x dofVel (12) | previous actions (12)

Rewards: legged_gym's terms of ``rewards.scales``, with the feet's air time.
"""

from __future__ import annotations

from mytasks.tasks.base.legged import LeggedRobot


class Go2(LeggedRobot):
    num_dof_expected = 12
    num_feet = 4
    obs_terms = ("base_lin_vel", "base_ang_vel", "projected_gravity", "commands", "dof_pos", "dof_vel", "actions")

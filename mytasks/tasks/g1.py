"""Unitree G1 (12 leg DOFs): follow base velocity commands on flat ground, as unitree_rl_gym's
``g1`` task (legged_gym's humanoid variant: a gait clock, swing height and stance contacts).

Every number lives in cfg/task/G1.yaml; the shared formulas are the legged base's
(tasks/base/legged.py, legged_rewards.py).

Observations (47), noise added after scaling:
  base angular velocity x angVel (3) | gravity in the body frame (3) | commands x (linVel,
  linVel, angVel) (3) | joint angles - defaults (12) | joint velocities x dofVel (12) |
  previous actions (12) | sin, cos of 2 pi gait phase (2)
The critic's states (50) are the base linear velocity x linVel and the same terms, no noise.

Gait clock: phase = (episode time / ``gait.period``) mod 1; the left leg's phase is it, the
right leg's is offset by ``gait.offset``; a leg should stand while its phase is below
``rewards.stancePhase``.
"""

from __future__ import annotations

import math

import torch

from mytasks.sim import gymtorch
from mytasks.tasks.base.legged import LeggedRobot

_ACTOR = ("base_ang_vel", "projected_gravity", "commands", "dof_pos", "dof_vel", "actions", "gait_phase")


class G1(LeggedRobot):
    num_dof_expected = 12
    num_feet = 2
    obs_terms = _ACTOR
    state_terms = ("base_lin_vel", *_ACTOR)

    def _init_buffers(self):
        super()._init_buffers()
        n, f32 = self.num_envs, dict(device=self.device, dtype=torch.float)
        self.rigid_body_states = gymtorch.wrap_tensor(self.gym.acquire_rigid_body_state_tensor(self.sim)).view(
            n, self.num_bodies, 13
        )
        gait = self.cfg["env"]["gait"]
        self.gait_period = float(gait["period"])
        self.leg_offsets = torch.tensor([0.0, float(gait["offset"])], **f32)  # left, right
        self.phase = torch.zeros(n, **f32)
        self.leg_phase = torch.zeros(n, self.num_feet, **f32)
        self.gait_phase = torch.zeros(n, 2, **f32)
        names = self.rewards_cfg["hipPosJoints"]
        hips = [i for i, d in enumerate(self.dof_names) if any(k in d for k in names)]
        self.hip_pos_ids = torch.tensor(hips, device=self.device, dtype=torch.long)

    def _update_robot(self):
        self.gym.refresh_rigid_body_state_tensor(self.sim)
        t = self.progress_buf.float() * self.dt
        self.phase[:] = torch.remainder(t / self.gait_period, 1.0)
        self.leg_phase[:] = torch.remainder(self.phase.unsqueeze(1) + self.leg_offsets, 1.0)
        self.gait_phase[:, 0] = torch.sin(2 * math.pi * self.phase)
        self.gait_phase[:, 1] = torch.cos(2 * math.pi * self.phase)

    def deploy_info(self) -> dict:
        info = super().deploy_info()
        info["gait"] = {"period": self.gait_period, "offsets": self.leg_offsets.tolist(), "legs": ["left", "right"]}
        return info

    # ------------------------------------------------------------------ G1's own reward terms
    def _feet_force(self) -> torch.Tensor:
        return torch.norm(self.contact_forces[:, self.feet_ids, :], dim=-1)

    def _reward_hipPos(self):
        return torch.sum(torch.square(self.dof_pos[:, self.hip_pos_ids]), dim=1)

    def _reward_contactNoVel(self):
        on = self._feet_force() > float(self.rewards_cfg["footContactForce"])
        speed2 = torch.sum(torch.square(self.rigid_body_states[:, self.feet_ids, 7:10]), dim=-1)
        return torch.sum(speed2 * on, dim=1)

    def _reward_feetSwingHeight(self):
        swing = self._feet_force() <= float(self.rewards_cfg["footContactForce"])
        err = self.rigid_body_states[:, self.feet_ids, 2] - float(self.rewards_cfg["swingHeightTarget"])
        return torch.sum(torch.square(err) * swing, dim=1)

    def _reward_contact(self):
        on = self.contact_forces[:, self.feet_ids, 2] > float(self.rewards_cfg["footContactForce"])
        stance = self.leg_phase < float(self.rewards_cfg["stancePhase"])
        return torch.sum((on == stance).float(), dim=1)


"""The legged robots' rewards: legged_gym's terms, their total and their per-episode logs.

Each term of ``rewards.scales`` in the robot's task YAML (x policy dt when
``multiplyScalesByDt``) times the ``_reward_<term>`` below or of the robot's class; the total is
clipped at zero from below when ``onlyPositiveRewards``. Each term's episode sum, per second of
episode, is logged as ``Episode/rew_<term>``. A mixin of ``LeggedRobot``: it reads the task's
state tensors.
"""

from __future__ import annotations

import torch


class LeggedRewards:
    def _init_rewards(self):
        r = self.rewards_cfg
        factor = self.dt if r["multiplyScalesByDt"] else 1.0
        self.reward_scales = {k: float(v) * factor for k, v in r["scales"].items() if float(v) != 0.0}
        for name in self.reward_scales:
            if not hasattr(self, f"_reward_{name}"):
                raise ValueError(f"unknown {type(self).__name__} reward term '{name}' in rewards.scales")
        self.reward_fns = [(name, getattr(self, f"_reward_{name}"), s) for name, s in self.reward_scales.items()]
        self.episode_sums = {name: torch.zeros(self.num_envs, device=self.device) for name in self.reward_scales}
        # Sums of the episodes that ended since the last log, and their count (kept on the device).
        self.ended_sums = {name: torch.zeros((), device=self.device) for name in self.reward_scales}
        self.ended_count = torch.zeros((), device=self.device)
        self.log_every = max(1, int(self.cfg["env"]["logInterval"]))

    def _compute_reward(self):
        self.rew_buf.zero_()
        for name, fn, scale in self.reward_fns:
            term = fn() * scale
            self.rew_buf += term
            self.episode_sums[name] += term
        if self.rewards_cfg["onlyPositiveRewards"]:
            self.rew_buf.clamp_(min=0.0)

    def _log_episodes(self, mask: torch.Tensor):
        """Adds the reward sums of the episodes ending now to those ended since the last log."""
        maskf = mask.float()
        self.ended_count += maskf.sum()
        for name, sums in self.episode_sums.items():
            self.ended_sums[name] += (sums * maskf).sum()
            sums.mul_(1.0 - maskf)

    def _publish_episode_log(self):
        """IsaacGymEnvs' ``extras["episode"]``: each term's episode sum per second of episode,
        averaged over the episodes that ended since the last log."""
        count = self.ended_count.clamp(min=1.0) * self.max_episode_length_s
        self.extras["episode"] = {f"rew_{k}": v / count for k, v in self.ended_sums.items()}
        for v in self.ended_sums.values():
            v.zero_()
        self.ended_count.zero_()

    # ------------------------------------------------------------------ terms
    def _reward_trackingLinVel(self):
        err = torch.sum(torch.square(self.commands[:, :2] - self.base_lin_vel[:, :2]), dim=1)
        return torch.exp(-err / float(self.rewards_cfg["trackingSigma"]))

    def _reward_trackingAngVel(self):
        err = torch.square(self.commands[:, 2] - self.base_ang_vel[:, 2])
        return torch.exp(-err / float(self.rewards_cfg["trackingSigma"]))

    def _reward_linVelZ(self):
        return torch.square(self.base_lin_vel[:, 2])

    def _reward_angVelXY(self):
        return torch.sum(torch.square(self.base_ang_vel[:, :2]), dim=1)

    def _reward_torques(self):
        return torch.sum(torch.square(self.torques), dim=1)

    def _reward_dofAcc(self):
        return torch.sum(torch.square((self.last_dof_vel - self.dof_vel) / self.dt), dim=1)

    def _reward_actionRate(self):
        return torch.sum(torch.square(self.last_actions - self.actions), dim=1)

    def _reward_collision(self):
        force = torch.norm(self.contact_forces[:, self.penalised_ids, :], dim=-1)
        return torch.sum((force > float(self.rewards_cfg["collisionForce"])).float(), dim=1)

    def _reward_feetAirTime(self):
        contact = self.contact_forces[:, self.feet_ids, 2] > float(self.rewards_cfg["footContactForce"])
        contact_filt = contact | self.last_contacts  # one missed contact reading is not a lift-off
        self.last_contacts[:] = contact
        first_contact = (self.feet_air_time > 0.0) & contact_filt
        self.feet_air_time += self.dt
        rew = torch.sum((self.feet_air_time - float(self.rewards_cfg["feetAirTimeTarget"])) * first_contact, dim=1)
        rew *= torch.norm(self.commands[:, :2], dim=1) > float(self.rewards_cfg["feetAirTimeMinCommand"])
        self.feet_air_time *= ~contact_filt
        return rew

    def _reward_dofPosLimits(self):
        below = (self.soft_dof_lower - self.dof_pos).clamp(min=0.0)
        above = (self.dof_pos - self.soft_dof_upper).clamp(min=0.0)
        return torch.sum(below + above, dim=1)

    def _reward_alive(self):
        return torch.ones(self.num_envs, device=self.device)

    def _reward_orientation(self):
        return torch.sum(torch.square(self.projected_gravity[:, :2]), dim=1)

    def _reward_baseHeight(self):
        return torch.square(self.root_states[:, 2] - float(self.rewards_cfg["baseHeightTarget"]))

    def _reward_dofVel(self):
        return torch.sum(torch.square(self.dof_vel), dim=1)

"""A legged robot's part of the deploy manifest (``deploy/export.py``), mixed into the task class."""

from __future__ import annotations

from mytasks.utils.paths import urdf_joint_order

# What each observation term is, beyond its name, size and scale (legged_obs.py's OBS_TERMS).
_OBS_MEANING = {
    "base_lin_vel": {"frame": "base"},
    "base_ang_vel": {"frame": "base"},
    "projected_gravity": {"frame": "base"},
    "commands": {"of": ["vx", "vy", "yaw_rate"]},
    "dof_pos": {"minus": "default_angles"},
    "dof_vel": {},
    "actions": {"of": "the previous policy output"},
    "gait_phase": {"of": ["sin(2 pi phase)", "cos(2 pi phase)"],
                   "phase": "episode time / gait period, modulo 1 (0 at the episode's first step)"},
}  # fmt: skip


class LeggedDeploy:
    def deploy_info(self) -> dict:
        """The deploy manifest's robot part (``deploy/export.py``): what turns a robot's state
        into the observation and an action into joint torques, in the policy's joint order."""
        c, names, asset = self.control, self.dof_names, self.cfg["env"]["asset"]
        t = self.term_cfg
        angles = {n: self._default_angle(n) for n in names}
        ranges = self.commands_cfg["ranges"]
        return {
            "robot": {
                "urdf": self.urdf_path, "base_init_pos": list(self.init_state["pos"]),
                "base_init_rot_xyzw": list(self.init_state["rot"]),
                "self_collisions": bool(asset["selfCollisions"]),
                "ground_friction": float(self.cfg["env"]["ground"]["friction"]),
            },
            "joints": {
                "policy_order": list(names), "urdf_order": urdf_joint_order(self.urdf_path),
                "default_angles": angles,
                "kp": {n: self._by_joint(c["stiffness"], n) for n in names},
                "kd": {n: self._by_joint(c["damping"], n) for n in names},
                "effort_limit": dict(zip(names, self.dof_effort, strict=True)),
                "armature": {n: self._joint_armature(n) for n in names},
            },
            "action": {"type": "joint position target", "scale": float(c["actionScale"]),
                       "target": "default_angles + scale * action, held by PD: kp (target - q) - kd qd, "
                                 "clipped to effort_limit, every sim step"},
            "observations": [{"name": t, "size": size, "scale": self._term_scale(t), **_OBS_MEANING[t]}
                             for t, size in self._term_sizes(self.obs_terms)],
            "commands": {"vx": list(ranges["linVelX"]), "vy": list(ranges["linVelY"]),
                         "yaw_rate": list(ranges["angVelYaw"])},
            "terminations": {"max_roll": float(t["maxRoll"]), "max_pitch": float(t["maxPitch"])},
        }  # fmt: skip

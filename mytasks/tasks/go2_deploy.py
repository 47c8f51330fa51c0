"""Go2's part of the deploy manifest (``deploy/export.py``), mixed into the task class."""

from __future__ import annotations

from mytasks.utils.paths import urdf_joint_order


class Go2Deploy:
    def deploy_info(self) -> dict:
        """The deploy manifest's Go2 part (``deploy/export.py``): what turns a robot's state into
        the observation and an action into joint torques, in the policy's joint order."""
        s, c, names, asset = self.obs_scales, self.control, self.dof_names, self.cfg["env"]["asset"]
        t = self.term_cfg
        angles = {n: self._default_angle(n) for n in names}
        ranges = self.commands_cfg["ranges"]
        return {
            "robot": {
                "urdf": self.urdf_path, "base_init_pos": list(self.init_state["pos"]),
                "base_init_rot_xyzw": list(self.init_state["rot"]), "armature": float(asset["armature"]),
                "self_collisions": bool(asset["selfCollisions"]),
                "ground_friction": float(self.cfg["env"]["ground"]["friction"]),
            },
            "joints": {
                "policy_order": list(names), "urdf_order": urdf_joint_order(self.urdf_path),
                "default_angles": angles,
                "kp": {n: self._by_joint(c["stiffness"], n) for n in names},
                "kd": {n: self._by_joint(c["damping"], n) for n in names},
                "effort_limit": dict(zip(names, self.dof_effort, strict=True)),
            },
            "action": {"type": "joint position target", "scale": float(c["actionScale"]),
                       "target": "default_angles + scale * action, held by PD: kp (target - q) - kd qd, "
                                 "clipped to effort_limit, every sim step"},
            "observations": [
                {"name": "base_lin_vel", "size": 3, "scale": float(s["linVel"]), "frame": "base"},
                {"name": "base_ang_vel", "size": 3, "scale": float(s["angVel"]), "frame": "base"},
                {"name": "projected_gravity", "size": 3, "scale": 1.0, "frame": "base"},
                {"name": "commands", "size": 3, "scale": [float(s["linVel"]), float(s["linVel"]), float(s["angVel"])],
                 "of": ["vx", "vy", "yaw_rate"]},
                {"name": "dof_pos", "size": self.num_dof, "scale": float(s["dofPos"]), "minus": "default_angles"},
                {"name": "dof_vel", "size": self.num_dof, "scale": float(s["dofVel"])},
                {"name": "actions", "size": self.num_dof, "scale": 1.0, "of": "the previous policy output"},
            ],
            "commands": {"vx": list(ranges["linVelX"]), "vy": list(ranges["linVelY"]),
                         "yaw_rate": list(ranges["angVelYaw"])},
            "terminations": {"max_roll": float(t["maxRoll"]), "max_pitch": float(t["maxPitch"])},
        }  # fmt: skip

"""A legged robot following base velocity commands on flat ground (legged_gym's blind
locomotion task), shared by Go2, G1 and H1: each robot adds its numbers (its YAML), its
observation terms and its own reward terms.

Every number lives in the robot's cfg/task YAML; this file holds the formulas.

Control (50 Hz): joint position targets = ``actionScale`` x action + default angle, held by
the joints' PD drives (``stiffness``, ``damping``) inside every physics step and clipped to
the motors' effort limits.

Observations: the terms of the class's ``obs_terms``, in order (legged_obs.py); with
``state_terms``, the critic's states (``numStates``) are those terms without noise.

Commands: vx, vy and a heading drawn from the YAML ranges every ``resamplingTime`` s; planar
commands slower than ``zeroBelow`` are set to zero; with ``headingCommand`` the yaw-rate command
is ``clip(headingStiffness x heading error, ±yawRateLimit)``.

Rewards: the terms of ``rewards.scales`` (legged_rewards.py and the robot's class).

Episodes end on contact of a ``terminateAfterContactsOn`` body, on |roll| or |pitch| beyond the
limits, or after ``maxEpisodeLength`` policy steps. Envs reset as IsaacGymEnvs tasks do (one
step late), here through masks over all envs so that no step waits on the GPU.
"""

from __future__ import annotations

import math
import os

import torch

from mytasks.sim import gymapi, gymtorch
from mytasks.tasks.base.legged_deploy import LeggedDeploy
from mytasks.tasks.base.legged_obs import LeggedObservations
from mytasks.tasks.base.legged_rewards import LeggedRewards
from mytasks.tasks.base.teleop import VelocityTeleop
from mytasks.tasks.base.vec_task import VecTask
from mytasks.utils.paths import asset_root
from mytasks.utils.torch_jit_utils import get_euler_xyz, quat_apply, quat_rotate_inverse, torch_rand_float, wrap_to_pi


class LeggedRobot(LeggedObservations, LeggedRewards, LeggedDeploy, VecTask):
    num_dof_expected = 12  # the joints the policy drives
    num_feet = 4
    play_metric_labels = {
        "lin_vel_error": "mean planar velocity tracking error [m/s]",
        "yaw_rate_error": "mean yaw-rate tracking error [rad/s]",
        "fall": "fraction of episodes ending in a fall",
    }

    def __init__(self, cfg, rl_device, sim_device, graphics_device_id, headless,
                 virtual_screen_capture=False, force_render=False):  # fmt: skip
        self.cfg = cfg
        env = cfg["env"]
        self.max_episode_length = int(env["maxEpisodeLength"])
        self.init_state = env["baseInitState"]
        self.control = env["control"]
        self.commands_cfg = env["commands"]
        self.obs_scales = env["obsScales"]
        self.noise_cfg = env["noise"]
        self.rewards_cfg = env["rewards"]
        self.term_cfg = env["terminations"]
        self.reset_cfg = env["reset"]
        self.rand_cfg = env["randomization"]
        env["numObservations"] = self._terms_size(self.obs_terms)
        env["numStates"] = self._terms_size(self.state_terms)
        env["numActions"] = self.num_dof_expected
        super().__init__(cfg, rl_device, sim_device, graphics_device_id, headless,
                         virtual_screen_capture, force_render)  # fmt: skip

        self.dt = self.control_freq_inv * self.sim_params.dt  # policy step [s]
        self.max_episode_length_s = self.max_episode_length * self.dt
        self._init_buffers()
        self._init_rewards()
        self.teleop = None  # the viewer's keys and sliders set every env's command (play)
        if self.viewer is not None and self.commands_cfg.get("fromViewer", False):
            r = self.commands_cfg["ranges"]
            self.teleop = VelocityTeleop(self, {"vx": r["linVelX"], "vy": r["linVelY"], "yaw": r["angVelYaw"]})

    # ------------------------------------------------------------------ scene
    def create_sim(self):
        self.sim = super().create_sim(self.device_id, self.graphics_device_id, self.physics_engine, self.sim_params)
        ground = self.cfg["env"]["ground"]
        plane = gymapi.PlaneParams()
        plane.normal = gymapi.Vec3(0.0, 0.0, 1.0)
        plane.static_friction = plane.dynamic_friction = float(ground["friction"])
        plane.restitution = float(ground["restitution"])
        self.gym.add_ground(self.sim, plane)
        self._create_envs()

    def _create_envs(self):
        a = self.cfg["env"]["asset"]
        opts = gymapi.AssetOptions()
        opts.default_dof_drive_mode = gymapi.DOF_MODE_POS
        opts.collapse_fixed_joints = False  # the feet stay bodies: their contacts are read
        opts.replace_cylinder_with_capsule = True
        opts.fix_base_link = False
        asset = self.gym.load_asset(self.sim, asset_root(a.get("assetRoot"), self), a["assetFileName"], opts)
        self.num_dof = self.gym.get_asset_dof_count(asset)
        self.num_bodies = self.gym.get_asset_rigid_body_count(asset)
        if self.num_dof != self.num_dof_expected:
            raise ValueError(f"{a['assetFileName']} has {self.num_dof} DOFs; the {type(self).__name__} task drives "
                             f"{self.num_dof_expected}")  # fmt: skip
        self.dof_names = self.gym.get_asset_dof_names(asset)
        self.body_names = self.gym.get_asset_rigid_body_names(asset)

        def bodies(keys):
            return [i for i, b in enumerate(self.body_names) if any(k in b for k in keys)]

        feet, base = bodies([a["footName"]]), bodies(a["terminateAfterContactsOn"])
        if len(feet) != self.num_feet or not base:
            raise ValueError(f"{a['assetFileName']}: expected {self.num_feet} '{a['footName']}' bodies and a base body")
        ids = dict(device=self.device, dtype=torch.long)
        self.feet_ids = torch.tensor(feet, **ids)
        self.penalised_ids = torch.tensor(bodies(a["penalizeContactsOn"]), **ids)
        self.termination_ids = torch.tensor(base, **ids)

        props = self.gym.get_asset_dof_properties(asset)
        for i, name in enumerate(self.dof_names):
            props["driveMode"][i] = gymapi.DOF_MODE_POS
            props["stiffness"][i] = self._by_joint(self.control["stiffness"], name)
            props["damping"][i] = self._by_joint(self.control["damping"], name)
            props["armature"][i] = self._joint_armature(name)
        self.dof_effort = [float(str(e)) for e in props["effort"]]  # the URDF's numbers (shortest float32 repr)
        self.urdf_path = os.path.join(asset_root(a.get("assetRoot"), self), a["assetFileName"])
        self.dof_lower = torch.tensor(props["lower"].astype("float32"), device=self.device)
        self.dof_upper = torch.tensor(props["upper"].astype("float32"), device=self.device)
        shape_props = self.gym.get_asset_rigid_shape_properties(asset)
        r = self.rand_cfg
        lo, hi = r["frictionRange"] if r["randomizeFriction"] else (None, None)
        self.friction = torch.empty(self.num_envs)
        self.added_mass = torch.zeros(self.num_envs)

        pose = gymapi.Transform()
        pose.p = gymapi.Vec3(*self.init_state["pos"])
        pose.r = gymapi.Quat(*self.init_state["rot"])
        spacing = float(self.cfg["env"]["envSpacing"])
        lower, upper = gymapi.Vec3(-spacing, -spacing, 0.0), gymapi.Vec3(spacing, spacing, spacing)
        per_row = int(math.sqrt(self.num_envs))
        self_collisions = 0 if a["selfCollisions"] else 1  # Isaac Gym: a set filter bit disables them
        self.envs, self.actor_handles = [], []
        for i in range(self.num_envs):
            env_ptr = self.gym.create_env(self.sim, lower, upper, per_row)
            if lo is not None:
                mu = float(torch.empty(1).uniform_(float(lo), float(hi)))
                for sp in shape_props:
                    sp.friction = mu
                self.gym.set_asset_rigid_shape_properties(asset, shape_props)
            self.friction[i] = shape_props[0].friction if shape_props else 0.0
            handle = self.gym.create_actor(env_ptr, asset, pose, type(self).__name__.lower(), i, self_collisions, 0)
            self.gym.set_actor_dof_properties(env_ptr, handle, props)
            if r.get("randomizeBaseMass", False):
                body_props = self.gym.get_actor_rigid_body_properties(env_ptr, handle)
                self.added_mass[i] = float(torch.empty(1).uniform_(*map(float, r["addedMassRange"])))
                body_props[0].mass += float(self.added_mass[i])
                self.gym.set_actor_rigid_body_properties(env_ptr, handle, body_props, recomputeInertia=False)
            self.envs.append(env_ptr)
            self.actor_handles.append(handle)

    @staticmethod
    def _by_joint(table: dict, joint: str) -> float:
        """legged_gym's gain lookup: the first key that is part of the joint name."""
        for key, value in table.items():
            if key in joint:
                return float(value)
        raise ValueError(f"no gain for joint '{joint}' in {sorted(table)}")

    def _joint_armature(self, joint: str) -> float:
        """``asset.armature``: one rotor inertia for every joint, or a table by joint name."""
        armature = self.cfg["env"]["asset"]["armature"]
        return self._by_joint(armature, joint) if isinstance(armature, dict) else float(armature)

    # ------------------------------------------------------------------ buffers
    def _init_buffers(self):
        n, dev = self.num_envs, self.device
        self.root_states = gymtorch.wrap_tensor(self.gym.acquire_actor_root_state_tensor(self.sim))
        self.dof_state = gymtorch.wrap_tensor(self.gym.acquire_dof_state_tensor(self.sim))
        self.contact_forces = gymtorch.wrap_tensor(self.gym.acquire_net_contact_force_tensor(self.sim)).view(
            n, self.num_bodies, 3
        )
        self.torques = gymtorch.wrap_tensor(self.gym.acquire_dof_force_tensor(self.sim)).view(n, self.num_dof)
        self.dof_pos = self.dof_state.view(n, self.num_dof, 2)[..., 0]
        self.dof_vel = self.dof_state.view(n, self.num_dof, 2)[..., 1]
        self.base_quat = self.root_states[:, 3:7]

        f32 = dict(device=dev, dtype=torch.float)
        self.default_dof_pos = torch.tensor([self._default_angle(name) for name in self.dof_names], **f32).unsqueeze(0)
        mid, half = (self.dof_lower + self.dof_upper) / 2, (self.dof_upper - self.dof_lower) / 2
        soft = float(self.rewards_cfg["softDofPosLimit"])
        self.soft_dof_lower, self.soft_dof_upper = mid - soft * half, mid + soft * half
        init = self.init_state
        self.base_init_state = torch.tensor([*init["pos"], *init["rot"], *init["linVel"], *init["angVel"]], **f32)

        self.gravity_vec = torch.tensor([[0.0, 0.0, -1.0]], **f32).repeat(n, 1)
        self.forward_vec = torch.tensor([[1.0, 0.0, 0.0]], **f32).repeat(n, 1)
        self.actions = torch.zeros(n, self.num_actions, **f32)
        self.last_actions = torch.zeros_like(self.actions)
        self.last_dof_vel = torch.zeros_like(self.dof_vel)
        self.targets = torch.zeros(n * self.num_dof, **f32)
        self.commands = torch.zeros(n, 4, **f32)  # vx, vy, yaw rate, heading
        self.feet_air_time = torch.zeros(n, self.num_feet, **f32)
        self.last_contacts = torch.zeros(n, self.num_feet, device=dev, dtype=torch.bool)
        self.base_lin_vel = torch.zeros(n, 3, **f32)
        self.base_ang_vel = torch.zeros(n, 3, **f32)
        self.projected_gravity = torch.zeros(n, 3, **f32)
        self.common_step_counter = 0

        self.obs_scale_vec = self._scale_vector(self.obs_terms)
        self.noise_scale_vec = self._noise_vector()
        self.state_scale_vec = self._scale_vector(self.state_terms)
        c = self.commands_cfg
        self.resample_steps = max(1, round(float(c["resamplingTime"]) / self.dt))
        r = self.rand_cfg
        self.push_steps = max(1, round(float(r["pushInterval_s"]) / self.dt))
        # Play-back metrics, per env over the current episode.
        self.lin_err_sum = torch.zeros(n, **f32)
        self.yaw_err_sum = torch.zeros(n, **f32)
        self.fell = torch.zeros(n, device=dev, dtype=torch.bool)
        self.ended_steps = torch.zeros(n, **f32)
        self.friction = self.friction.to(dev)
        self.added_mass = self.added_mass.to(dev)

    def _default_angle(self, joint: str) -> float:
        angles = self.init_state["defaultJointAngles"]
        if joint not in angles:
            raise ValueError(f"baseInitState.defaultJointAngles has no angle for '{joint}'")
        return float(angles[joint])

    # ------------------------------------------------------------------ stepping
    def pre_physics_step(self, actions: torch.Tensor):
        self.actions.copy_(actions)
        targets = self.actions * float(self.control["actionScale"]) + self.default_dof_pos
        self.targets.copy_(targets.view(-1))
        self.gym.set_dof_position_target_tensor(self.sim, gymtorch.unwrap_tensor(self.targets))

    def post_physics_step(self):
        self.common_step_counter += 1
        self.run_step_graph(self._post_physics_device)
        if self.rand_cfg["pushRobots"] and self.common_step_counter % self.push_steps == 0:
            self._push()
        if self.common_step_counter % self.log_every == 0:
            self._publish_episode_log()
        else:
            self.extras.pop("episode", None)

    def _post_physics_device(self):
        """The tensor work of a step; it never waits on the device, so it can run as one graph."""
        self.progress_buf += 1
        self.gym.refresh_actor_root_state_tensor(self.sim)
        self.gym.refresh_dof_state_tensor(self.sim)
        self.gym.refresh_net_contact_force_tensor(self.sim)
        self.gym.refresh_dof_force_tensor(self.sim)

        self._reset_envs(self.reset_buf.bool())  # the envs that ended on the previous step
        self._update_base()
        self._update_robot()
        self._update_commands()
        self._check_termination()
        self._compute_reward()
        self._track_play_metrics()
        self.compute_observations()
        self.last_actions.copy_(self.actions)
        self.last_dof_vel.copy_(self.dof_vel)

    def _update_base(self):
        self.base_lin_vel[:] = quat_rotate_inverse(self.base_quat, self.root_states[:, 7:10])
        self.base_ang_vel[:] = quat_rotate_inverse(self.base_quat, self.root_states[:, 10:13])
        self.projected_gravity[:] = quat_rotate_inverse(self.base_quat, self.gravity_vec)

    def _update_robot(self):
        """A robot's own state of a step (a gait clock, foot states), after the base's."""

    def _update_commands(self):
        if self.teleop is not None:
            for i, value in enumerate(self.teleop.values()):
                self.commands[:, i] = value
            return
        self._resample_commands(self.progress_buf % self.resample_steps == 0)
        c = self.commands_cfg
        if c["headingCommand"]:
            forward = quat_apply(self.base_quat, self.forward_vec)
            heading = torch.atan2(forward[:, 1], forward[:, 0])
            limit = float(c["yawRateLimit"])
            yaw_rate = float(c["headingStiffness"]) * wrap_to_pi(self.commands[:, 3] - heading)
            self.commands[:, 2] = torch.clamp(yaw_rate, -limit, limit)

    def _resample_commands(self, mask: torch.Tensor):
        c = self.commands_cfg
        rng = c["ranges"]
        n, dev = self.num_envs, self.device
        new = torch.stack(
            [
                torch_rand_float(*rng["linVelX"], (n,), dev),
                torch_rand_float(*rng["linVelY"], (n,), dev),
                torch_rand_float(*rng["angVelYaw"], (n,), dev),
                torch_rand_float(*rng["heading"], (n,), dev),
            ],
            dim=1,
        )
        moving = torch.norm(new[:, :2], dim=1, keepdim=True) > float(c["zeroBelow"])
        new[:, :2] *= moving
        self.commands[:] = torch.where(mask.unsqueeze(1), new, self.commands)

    def _push(self):
        v = float(self.rand_cfg["maxPushVelXY"])
        self.root_states[:, 7:9] = torch_rand_float(-v, v, (self.num_envs, 2), self.device)
        self.gym.set_actor_root_state_tensor(self.sim, gymtorch.unwrap_tensor(self.root_states))

    def _check_termination(self):
        t = self.term_cfg
        base_force = torch.norm(self.contact_forces[:, self.termination_ids, :], dim=-1)
        base_contact = base_force > float(t["baseContactForce"])
        roll, pitch, _ = get_euler_xyz(self.base_quat)
        tilted = (wrap_to_pi(roll).abs() > float(t["maxRoll"])) | (wrap_to_pi(pitch).abs() > float(t["maxPitch"]))
        self.terminated = base_contact.any(dim=1) | tilted
        timed_out = self.progress_buf >= self.max_episode_length - 1
        self.reset_buf[:] = (self.terminated | timed_out).long()

    # ------------------------------------------------------------------ resets
    def reset_idx(self, env_ids: torch.Tensor):
        mask = torch.zeros(self.num_envs, device=self.device, dtype=torch.bool)
        mask[env_ids.to(self.device, torch.long)] = True
        self._reset_envs(mask)

    def _reset_envs(self, mask: torch.Tensor):
        """Starts new episodes in the envs of ``mask`` (bool, (num_envs,)); the others keep their state."""
        n, dev = self.num_envs, self.device
        m = mask.unsqueeze(1)
        lo, hi = self.reset_cfg["dofPosScale"]
        dof_pos = self.default_dof_pos * torch_rand_float(float(lo), float(hi), (n, self.num_dof), dev)
        self.dof_pos[:] = torch.where(m, dof_pos, self.dof_pos)
        self.dof_vel[:] = torch.where(m, torch.zeros_like(self.dof_vel), self.dof_vel)
        v = float(self.reset_cfg["rootVelocity"])
        root = self.base_init_state.expand(n, 13).clone()
        root[:, 7:13] = torch_rand_float(-v, v, (n, 6), dev)
        self.root_states[:] = torch.where(m, root, self.root_states)
        self.gym.set_dof_state_tensor(self.sim, gymtorch.unwrap_tensor(self.dof_state))
        self.gym.set_actor_root_state_tensor(self.sim, gymtorch.unwrap_tensor(self.root_states))
        # A robot placed in the air touches nothing; its last forces belong to the old episode.
        self.contact_forces.mul_(~m.unsqueeze(2))

        self._resample_commands(mask)
        keep = (~m).float()
        self.last_actions.mul_(keep)
        self.last_dof_vel.mul_(keep)
        self.feet_air_time.mul_(keep)
        self.last_contacts.logical_and_(~m)
        self._reset_robot(mask)
        self._log_episodes(mask)
        self.progress_buf.masked_fill_(mask, 0)
        self.reset_buf.masked_fill_(mask, 0)

    def _reset_robot(self, mask: torch.Tensor):
        """A robot's own state at the start of the episodes of ``mask``."""

    # ------------------------------------------------------------------ play-back metrics
    def _track_play_metrics(self):
        # The sums start at an episode's first simulated step (progress 1); its reset step
        # (progress 0) shows the spawn state, before any physics.
        started = (self.progress_buf == 1).float()
        self.lin_err_sum.mul_(1.0 - started)
        self.yaw_err_sum.mul_(1.0 - started)
        self.ended_steps.mul_(1.0 - started)
        self.lin_err_sum += torch.norm(self.commands[:, :2] - self.base_lin_vel[:, :2], dim=1)
        self.yaw_err_sum += (self.commands[:, 2] - self.base_ang_vel[:, 2]).abs()
        self.ended_steps += 1.0
        self.fell[:] = self.terminated

    def play_metrics(self, env_ids: torch.Tensor) -> dict:
        """Per ended episode: mean planar velocity tracking error [m/s], mean yaw-rate error
        [rad/s], and whether it ended in a fall (1) rather than a time-out (0)."""
        ids = env_ids.to(self.device)
        steps = self.ended_steps[ids].clamp(min=1.0)
        return {
            "lin_vel_error": (self.lin_err_sum[ids] / steps).tolist(),
            "yaw_rate_error": (self.yaw_err_sum[ids] / steps).tolist(),
            "fall": self.fell[ids].float().tolist(),
        }

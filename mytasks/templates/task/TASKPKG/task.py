"""TASKNAME: hold a pendulum upright with a torque-limited motor at its hinge.

Observations (3): cos and sin of the pole angle (0 = upright) and its angular velocity [rad/s].
Action (1): motor torque as a fraction of ``maxTorque`` [N m]. Reward per step: 1 - angle² -
``velocityWeight`` ω² - ``torqueWeight`` a²; an episode ends when the pole falls past
``fallAngle`` or after ``maxEpisodeLength`` steps. Every number is in cfg/task/TASKNAME.yaml.
"""

from __future__ import annotations

import math

import torch

from mytasks.sim import gymapi, gymtorch
from mytasks.tasks.base.vec_task import VecTask
from mytasks.utils.paths import asset_root


class TASKNAME(VecTask):
    def __init__(self, cfg, rl_device, sim_device, graphics_device_id, headless,
                 virtual_screen_capture=False, force_render=False):  # fmt: skip
        self.cfg = cfg
        env = cfg["env"]
        self.max_torque = float(env["maxTorque"])
        self.max_episode_length = int(env["maxEpisodeLength"])
        self.fall_angle = float(env["fallAngle"])
        self.start_angle = float(env["startAngle"])
        self.velocity_weight = float(env["reward"]["velocityWeight"])
        self.torque_weight = float(env["reward"]["torqueWeight"])
        # The base class reads the sizes from the config, as in IsaacGymEnvs.
        cfg["env"]["numObservations"], cfg["env"]["numActions"] = 3, 1
        super().__init__(cfg, rl_device, sim_device, graphics_device_id, headless,
                         virtual_screen_capture, force_render)  # fmt: skip
        self.dof_state = gymtorch.wrap_tensor(self.gym.acquire_dof_state_tensor(self.sim))
        self.angle = self.dof_state.view(self.num_envs, 2)[:, 0]
        self.velocity = self.dof_state.view(self.num_envs, 2)[:, 1]
        self.torques = torch.zeros(self.num_envs, device=self.device)

    def create_sim(self):
        self.sim = super().create_sim(self.device_id, self.graphics_device_id, self.physics_engine, self.sim_params)
        self.gym.add_ground(self.sim, gymapi.PlaneParams())
        asset_cfg = self.cfg["env"]["asset"]
        options = gymapi.AssetOptions()
        options.fix_base_link = True
        # A relative assetRoot is found beside this package's cfg/ folder.
        asset = self.gym.load_asset(self.sim, asset_root(asset_cfg["assetRoot"], self), asset_cfg["assetFileName"],
                                    options)  # fmt: skip
        spacing = float(self.cfg["env"]["envSpacing"])
        lower, upper = gymapi.Vec3(-spacing, -spacing, 0.0), gymapi.Vec3(spacing, spacing, spacing)
        pose = gymapi.Transform(gymapi.Vec3(0.0, 0.0, 0.5))
        self.envs = []
        for i in range(self.num_envs):
            env = self.gym.create_env(self.sim, lower, upper, int(math.sqrt(self.num_envs)))
            actor = self.gym.create_actor(env, asset, pose, "pendulum", i, 1, 0)
            props = self.gym.get_actor_dof_properties(env, actor)
            props["driveMode"][:] = gymapi.DOF_MODE_EFFORT
            props["stiffness"][:] = props["damping"][:] = 0.0
            self.gym.set_actor_dof_properties(env, actor, props)
            self.envs.append(env)

    def pre_physics_step(self, actions: torch.Tensor):
        self.actions = actions.to(self.device).clamp(-1.0, 1.0)
        self.torques[:] = self.actions[:, 0] * self.max_torque
        self.gym.set_dof_actuation_force_tensor(self.sim, gymtorch.unwrap_tensor(self.torques))

    def post_physics_step(self):
        # VecTask's contract: reset the envs flagged on the previous step, then observe and score.
        self.progress_buf += 1
        env_ids = self.reset_buf.nonzero(as_tuple=False).squeeze(-1)
        if len(env_ids) > 0:
            self.reset_idx(env_ids)
        self.compute_observations()
        angle, velocity = self.angle, self.velocity
        self.rew_buf[:] = (1.0 - angle * angle - self.velocity_weight * velocity * velocity
                           - self.torque_weight * self.actions[:, 0] ** 2)  # fmt: skip
        fell = angle.abs() > self.fall_angle
        timed_out = self.progress_buf >= self.max_episode_length - 1
        self.reset_buf[:] = (fell | timed_out).long()

    def compute_observations(self):
        self.gym.refresh_dof_state_tensor(self.sim)
        self.obs_buf[:, 0] = torch.cos(self.angle)
        self.obs_buf[:, 1] = torch.sin(self.angle)
        self.obs_buf[:, 2] = self.velocity
        return self.obs_buf

    def reset_idx(self, env_ids: torch.Tensor):
        n = len(env_ids)
        self.angle[env_ids] = self.start_angle * (2.0 * torch.rand(n, device=self.device) - 1.0)
        self.velocity[env_ids] = 0.0
        ids = env_ids.to(dtype=torch.int32)
        self.gym.set_dof_state_tensor_indexed(self.sim, gymtorch.unwrap_tensor(self.dof_state),
                                              gymtorch.unwrap_tensor(ids), n)  # fmt: skip
        self.progress_buf[env_ids] = 0
        self.reset_buf[env_ids] = 0

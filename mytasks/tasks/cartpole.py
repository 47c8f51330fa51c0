"""Cartpole: push a cart along a rail to keep a hinged pole upright.

Observations (4): cart position [m], cart velocity [m/s], pole angle [rad] (0 = upright),
pole angular velocity [rad/s]. Action (1): cart force as a fraction of ``maxEffort`` [N].
Reward: 1 - angle² - w_cv |cart vel| - w_pv |pole vel|, replaced by ``failurePenalty`` when
the cart leaves ±``resetDist`` or the pole passes ±π/2. All numbers are in Cartpole.yaml.
"""

from __future__ import annotations

import math

import torch

from mytasks.sim import gymapi, gymtorch
from mytasks.tasks.base.vec_task import VecTask
from mytasks.utils.paths import asset_root


class Cartpole(VecTask):
    def __init__(self, cfg, rl_device, sim_device, graphics_device_id, headless,
                 virtual_screen_capture=False, force_render=False):  # fmt: skip
        self.cfg = cfg
        env = cfg["env"]
        self.reset_dist = float(env["resetDist"])
        self.max_push_effort = float(env["maxEffort"])
        self.max_episode_length = int(env["maxEpisodeLength"])
        self.reward_cfg = env["reward"]
        self.reset_cfg = env["reset"]
        # Derived sizes, written into the config as IsaacGymEnvs tasks do (the base reads them).
        self.cfg["env"]["numObservations"] = 4
        self.cfg["env"]["numActions"] = 1
        super().__init__(cfg, rl_device, sim_device, graphics_device_id, headless,
                         virtual_screen_capture, force_render)  # fmt: skip

        self.dof_state = gymtorch.wrap_tensor(self.gym.acquire_dof_state_tensor(self.sim))
        self.dof_pos = self.dof_state.view(self.num_envs, self.num_dof, 2)[..., 0]
        self.dof_vel = self.dof_state.view(self.num_envs, self.num_dof, 2)[..., 1]
        self.actions_tensor = torch.zeros(self.num_envs * self.num_dof, device=self.device)

    def create_sim(self):
        self.sim = super().create_sim(self.device_id, self.graphics_device_id, self.physics_engine, self.sim_params)
        plane = gymapi.PlaneParams()
        plane.normal = gymapi.Vec3(0.0, 0.0, 1.0)
        self.gym.add_ground(self.sim, plane)
        self._create_envs(self.cfg["env"]["envSpacing"], int(math.sqrt(self.num_envs)))

    def _create_envs(self, spacing: float, num_per_row: int):
        asset_cfg = self.cfg["env"]["asset"]
        root = asset_root(asset_cfg.get("assetRoot"), self)
        options = gymapi.AssetOptions()
        options.fix_base_link = True
        asset = self.gym.load_asset(self.sim, root, asset_cfg["assetFileName"], options)
        self.num_dof = self.gym.get_asset_dof_count(asset)
        names = self.gym.get_asset_dof_names(asset)
        self.cart_dof = names.index(asset_cfg["cartJoint"])
        self.pole_dof = names.index(asset_cfg["poleJoint"])

        pose = gymapi.Transform()
        pose.p = gymapi.Vec3(0.0, 0.0, 2.0)
        lower, upper = gymapi.Vec3(-spacing, -spacing, 0.0), gymapi.Vec3(spacing, spacing, spacing)
        self.envs, self.cartpole_handles = [], []
        for i in range(self.num_envs):
            env_ptr = self.gym.create_env(self.sim, lower, upper, num_per_row)
            handle = self.gym.create_actor(env_ptr, asset, pose, "cartpole", i, 1, 0)
            props = self.gym.get_actor_dof_properties(env_ptr, handle)
            props["driveMode"][self.cart_dof] = gymapi.DOF_MODE_EFFORT
            props["driveMode"][self.pole_dof] = gymapi.DOF_MODE_NONE
            props["stiffness"][:] = 0.0
            props["damping"][:] = 0.0
            self.gym.set_actor_dof_properties(env_ptr, handle, props)
            self.envs.append(env_ptr)
            self.cartpole_handles.append(handle)

    def compute_reward(self):
        w = self.reward_cfg
        self.rew_buf[:], self.reset_buf[:] = compute_cartpole_reward(
            self.obs_buf[:, 2], self.obs_buf[:, 3], self.obs_buf[:, 1], self.obs_buf[:, 0],
            self.reset_dist, self.reset_buf, self.progress_buf, self.max_episode_length,
            float(w["cartVelocity"]), float(w["poleVelocity"]), float(w["failurePenalty"]),
        )  # fmt: skip

    def compute_observations(self):
        self.gym.refresh_dof_state_tensor(self.sim)
        self.obs_buf[:, 0] = self.dof_pos[:, self.cart_dof]
        self.obs_buf[:, 1] = self.dof_vel[:, self.cart_dof]
        self.obs_buf[:, 2] = self.dof_pos[:, self.pole_dof]
        self.obs_buf[:, 3] = self.dof_vel[:, self.pole_dof]
        return self.obs_buf

    def reset_idx(self, env_ids: torch.Tensor):
        n = (len(env_ids), self.num_dof)
        pos_range, vel_range = float(self.reset_cfg["positionRange"]), float(self.reset_cfg["velocityRange"])
        self.dof_pos[env_ids] = pos_range * (2.0 * torch.rand(n, device=self.device) - 1.0)
        self.dof_vel[env_ids] = vel_range * (2.0 * torch.rand(n, device=self.device) - 1.0)
        env_ids_int32 = env_ids.to(dtype=torch.int32)
        self.gym.set_dof_state_tensor_indexed(
            self.sim, gymtorch.unwrap_tensor(self.dof_state), gymtorch.unwrap_tensor(env_ids_int32), len(env_ids_int32)
        )
        self.reset_buf[env_ids] = 0
        self.progress_buf[env_ids] = 0

    def pre_physics_step(self, actions: torch.Tensor):
        self.actions_tensor.view(self.num_envs, self.num_dof)[:, self.cart_dof] = (
            actions[:, 0].to(self.device) * self.max_push_effort
        )
        self.gym.set_dof_actuation_force_tensor(self.sim, gymtorch.unwrap_tensor(self.actions_tensor))

    def post_physics_step(self):
        self.progress_buf += 1
        env_ids = self.reset_buf.nonzero(as_tuple=False).squeeze(-1)
        if len(env_ids) > 0:
            self.reset_idx(env_ids)
        self.compute_observations()
        self.compute_reward()


def compute_cartpole_reward(pole_angle: torch.Tensor, pole_vel: torch.Tensor, cart_vel: torch.Tensor,
                            cart_pos: torch.Tensor, reset_dist: float, reset_buf: torch.Tensor,
                            progress_buf: torch.Tensor, max_episode_length: int, w_cart_vel: float,
                            w_pole_vel: float, failure_penalty: float):  # fmt: skip
    reward = 1.0 - pole_angle * pole_angle - w_cart_vel * torch.abs(cart_vel) - w_pole_vel * torch.abs(pole_vel)
    failed = (torch.abs(cart_pos) > reset_dist) | (torch.abs(pole_angle) > math.pi / 2)
    reward = torch.where(failed, torch.full_like(reward, failure_penalty), reward)
    reset = torch.where(failed, torch.ones_like(reset_buf), reset_buf)
    reset = torch.where(progress_buf >= max_episode_length - 1, torch.ones_like(reset_buf), reset)
    return reward, reset

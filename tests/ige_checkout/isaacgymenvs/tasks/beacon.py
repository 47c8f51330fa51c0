"""Beacon: slide a box across the floor to under a beacon hanging at a random spot.

Each env holds a 1 kg box on a slippery floor and a beacon, a sphere held in the air by a
translation attractor whose target moves to a new random spot at every reset. The action is
a horizontal force on the box (up to ``maxForce`` N, applied with
``apply_rigid_body_force_tensors``); a force sensor on the box reports what the floor and the
push exert on it. Observations (6): the beacon's offset from the box in the plane, the box's
planar velocity, and the sensor's planar force over ``maxForce``. Reward: minus the planar
distance, plus a bonus within 0.1 m.
"""

import numpy as np
import torch
from isaacgym import gymapi, gymtorch
from isaacgymenvs.tasks.base.vec_task import VecTask
from isaacgymenvs.utils.torch_jit_utils import torch_rand_float


class Beacon(VecTask):
    def __init__(self, cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture, force_render):
        self.cfg = cfg
        self.max_episode_length = self.cfg["env"]["maxEpisodeLength"]
        self.max_force = self.cfg["env"]["maxForce"]
        self.arena = self.cfg["env"]["arenaHalfSize"]
        self.beacon_height = self.cfg["env"]["beaconHeight"]
        self.cfg["env"]["numObservations"] = 6
        self.cfg["env"]["numActions"] = 2
        super().__init__(config=self.cfg, rl_device=rl_device, sim_device=sim_device,
                         graphics_device_id=graphics_device_id, headless=headless,
                         virtual_screen_capture=virtual_screen_capture, force_render=force_render)

        root = gymtorch.wrap_tensor(self.gym.acquire_actor_root_state_tensor(self.sim))
        self.root_states = root.view(self.num_envs, 2, 13)
        self.box_states = self.root_states[:, 0]
        self.beacon_states = self.root_states[:, 1]
        self.sensor = gymtorch.wrap_tensor(self.gym.acquire_force_sensor_tensor(self.sim)).view(self.num_envs, 6)
        self.gym.refresh_actor_root_state_tensor(self.sim)
        self.initial_root_states = self.root_states.clone()
        self.targets = torch.zeros(self.num_envs, 3, device=self.device)
        self.forces = torch.zeros(self.num_envs, 2, 3, device=self.device)  # per body: box, beacon
        self.all_actor_indices = torch.arange(self.num_envs * 2, dtype=torch.int32, device=self.device).view(-1, 2)
        self.reset_idx(torch.arange(self.num_envs, device=self.device))

    def create_sim(self):
        self.sim = super().create_sim(self.device_id, self.graphics_device_id, self.physics_engine, self.sim_params)
        plane = gymapi.PlaneParams()
        plane.normal = gymapi.Vec3(0.0, 0.0, 1.0)
        plane.static_friction = plane.dynamic_friction = self.cfg["env"]["friction"]
        self.gym.add_ground(self.sim, plane)
        self._create_envs(self.cfg["env"]["envSpacing"], int(np.sqrt(self.num_envs)))

    def _create_envs(self, spacing, num_per_row):
        options = gymapi.AssetOptions()
        options.density = 1000.0
        box_asset = self.gym.create_box(self.sim, 0.1, 0.1, 0.1, options)
        self.gym.create_asset_force_sensor(box_asset, 0, gymapi.Transform())
        beacon_asset = self.gym.create_sphere(self.sim, 0.05, options)
        shape_props = self.gym.get_asset_rigid_shape_properties(box_asset)
        for p in shape_props:
            p.friction = self.cfg["env"]["friction"]
        self.gym.set_asset_rigid_shape_properties(box_asset, shape_props)

        lower, upper = gymapi.Vec3(-spacing, -spacing, 0.0), gymapi.Vec3(spacing, spacing, spacing)
        box_pose = gymapi.Transform(gymapi.Vec3(0.0, 0.0, 0.05))
        beacon_pose = gymapi.Transform(gymapi.Vec3(0.0, 0.0, self.beacon_height))
        self.envs, self.attractors = [], []
        for i in range(self.num_envs):
            env = self.gym.create_env(self.sim, lower, upper, num_per_row)
            box = self.gym.create_actor(env, box_asset, box_pose, "box", i, 0, 0)
            beacon = self.gym.create_actor(env, beacon_asset, beacon_pose, "beacon", i, 0, 0)
            props = gymapi.AttractorProperties()
            props.rigid_handle = self.gym.get_actor_rigid_body_handle(env, beacon, 0)
            props.axes = gymapi.AXIS_TRANSLATION
            props.stiffness, props.damping = 1e5, 1e3
            props.target = beacon_pose
            self.attractors.append(self.gym.create_rigid_body_attractor(env, props))
            self.envs.append(env)
        self.box_mass = self.gym.get_actor_rigid_body_properties(self.envs[0], box)[0].mass

    def reset_idx(self, env_ids):
        n = len(env_ids)
        self.targets[env_ids, 0:2] = torch_rand_float(-self.arena, self.arena, (n, 2), device=self.device)
        self.targets[env_ids, 2] = self.beacon_height
        for i in env_ids.tolist():
            x, y, z = self.targets[i].tolist()
            self.gym.set_attractor_target(self.envs[i], self.attractors[i], gymapi.Transform(gymapi.Vec3(x, y, z)))
        self.root_states[env_ids] = self.initial_root_states[env_ids]
        self.beacon_states[env_ids, 0:3] = self.targets[env_ids]
        indices = self.all_actor_indices[env_ids].flatten()
        self.gym.set_actor_root_state_tensor_indexed(self.sim, gymtorch.unwrap_tensor(self.root_states),
                                                     gymtorch.unwrap_tensor(indices), len(indices))
        self.reset_buf[env_ids] = 0
        self.progress_buf[env_ids] = 0

    def pre_physics_step(self, actions):
        reset = self.reset_buf.nonzero(as_tuple=False).squeeze(-1)
        if len(reset) > 0:
            self.reset_idx(reset)
        self.forces[:, 0, 0:2] = actions.to(self.device).clamp(-1.0, 1.0) * self.max_force
        self.gym.apply_rigid_body_force_tensors(self.sim, gymtorch.unwrap_tensor(self.forces), None,
                                                gymapi.ENV_SPACE)

    def post_physics_step(self):
        self.progress_buf += 1
        self.gym.refresh_actor_root_state_tensor(self.sim)
        self.gym.refresh_force_sensor_tensor(self.sim)
        offset = self.targets[:, 0:2] - self.box_states[:, 0:2]
        self.obs_buf[:, 0:2] = offset
        self.obs_buf[:, 2:4] = self.box_states[:, 7:9]
        self.obs_buf[:, 4:6] = self.sensor[:, 0:2] / self.max_force
        self.rew_buf[:], self.reset_buf[:] = compute_beacon_reward(offset, self.progress_buf, self.max_episode_length)


@torch.jit.script
def compute_beacon_reward(offset, progress_buf, max_episode_length):
    # type: (Tensor, Tensor, float) -> Tuple[Tensor, Tensor]
    distance = torch.norm(offset, dim=-1)
    reward = -distance + torch.where(distance < 0.1, torch.ones_like(distance), torch.zeros_like(distance))
    reset = torch.where(progress_buf >= max_episode_length - 1, torch.ones_like(progress_buf),
                        torch.zeros_like(progress_buf))
    return reward, reset

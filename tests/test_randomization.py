"""Domain randomisation as IsaacGymEnvs has it (``task.randomize``, ``randomization_params``,
``VecTask.apply_randomizations``), measured in the simulation: each drawn value is read back
and checked against what the bodies then do (closed forms on the CPU)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from mytasks.sim import gymapi, gymtorch
from mytasks.tasks.base import randomization
from mytasks.tasks.base.vec_task import VecTask
from mytasks.utils.errors import UserError
from mytasks.utils.paths import ASSETS_DIR

SIDE, MASS, G, DT = 0.2, 8.0, 9.81, 0.01
CART_FORCE = 20.0  # N on the cart
PUSH = 16.0  # N on each box, times its action


class Probe(VecTask):
    """A box per env (``box``), and with ``cartpole`` the cart-pole (``cartpole``) beside it: the
    cart in a velocity drive towards 0, pushed along its rail by ``CART_FORCE``. The box is pushed along x by
    ``PUSH`` times the action, 1 cm above its base; the observation is its position and velocity."""

    def __init__(self, params: dict, num_envs: int = 32, *, ground: bool = False, cartpole: bool = False,
                 height: float = 1.0, gravity=(0.0, 0.0, 0.0), substeps: int = 1):  # fmt: skip
        self.ground, self.with_cartpole, self.height = ground, cartpole, height
        self.cfg = {
            "env": {"numEnvs": num_envs, "numObservations": 6, "numActions": 1},
            "sim": {"dt": DT, "substeps": substeps, "up_axis": "z", "use_gpu_pipeline": False,
                    "gravity": list(gravity)},
            "task": {"randomize": True, "randomization_params": params},
        }
        self.max_episode_length = 10_000
        super().__init__(self.cfg, "cpu", "cpu", -1, True)
        self.root = gymtorch.wrap_tensor(self.gym.acquire_actor_root_state_tensor(self.sim))
        self.box_root = self.root.view(num_envs, -1, 13)[:, 0]
        self.dof_state = gymtorch.wrap_tensor(self.gym.acquire_dof_state_tensor(self.sim))
        self.bodies_per_env = self.gym.get_sim_rigid_body_count(self.sim) // num_envs
        self.body_states = gymtorch.wrap_tensor(self.gym.acquire_rigid_body_state_tensor(self.sim))
        self.actions = torch.zeros(num_envs, 1)

    def create_sim(self):
        self.sim = super().create_sim(0, -1, self.physics_engine, self.sim_params)
        if self.ground:
            plane = gymapi.PlaneParams()
            plane.static_friction = plane.dynamic_friction = 1e-4  # MuJoCo takes the larger: the box's rules
            self.gym.add_ground(self.sim, plane)
        opts = gymapi.AssetOptions()
        opts.density = MASS / SIDE**3
        box = self.gym.create_box(self.sim, SIDE, SIDE, SIDE, opts)
        if self.with_cartpole:
            fixed = gymapi.AssetOptions()
            fixed.fix_base_link = True
            cartpole = self.gym.load_asset(self.sim, os.path.join(ASSETS_DIR, "urdf"), "cartpole.urdf", fixed)
        self.envs = []
        for i in range(self.num_envs):
            env = self.gym.create_env(self.sim, gymapi.Vec3(-1, -1, 0), gymapi.Vec3(1, 1, 1), 8)
            self.gym.create_actor(env, box, gymapi.Transform(gymapi.Vec3(0, 0, self.height)), "box", i, 0, 0)
            if self.with_cartpole:
                at = gymapi.Transform(gymapi.Vec3(0, 3, 2))
                handle = self.gym.create_actor(env, cartpole, at, "cartpole", i, 1, 0)
                props = self.gym.get_actor_dof_properties(env, handle)
                props["driveMode"][0], props["driveMode"][1] = gymapi.DOF_MODE_VEL, gymapi.DOF_MODE_NONE
                props["stiffness"][:], props["damping"][0], props["damping"][1] = 0.0, 100.0, 0.0
                self.gym.set_actor_dof_properties(env, handle, props)
                self.cart_body = self.gym.find_actor_rigid_body_index(env, handle, "cart", gymapi.DOMAIN_ENV)
            self.envs.append(env)
        if self.randomize:
            self.apply_randomizations(self.randomization_params)

    def pre_physics_step(self, actions):
        if self.randomize:
            self.apply_randomizations(self.randomization_params)
        self.actions = actions.clone()
        forces = torch.zeros(self.num_envs, self.bodies_per_env, 3)
        forces[:, 0, 0] = PUSH * actions[:, 0]
        if self.with_cartpole:
            forces[:, self.cart_body, 0] = CART_FORCE
        at = self.body_states[:, :3].clone()  # each body's origin; the box is pushed at its base, so it does not tip
        at.view(self.num_envs, -1, 3)[:, 0, 2] -= SIDE / 2 - 0.01
        self.gym.apply_rigid_body_force_at_pos_tensors(self.sim, gymtorch.unwrap_tensor(forces.view(-1, 3)),
                                                       gymtorch.unwrap_tensor(at), gymapi.ENV_SPACE)  # fmt: skip

    def post_physics_step(self):
        self.gym.refresh_actor_root_state_tensor(self.sim)
        self.gym.refresh_dof_state_tensor(self.sim)
        self.gym.refresh_rigid_body_state_tensor(self.sim)
        self.progress_buf += 1
        self.randomize_buf += 1
        self.reset_buf[:] = 0
        self.obs_buf[:] = torch.cat([self.box_root[:, :3], self.box_root[:, 7:10]], dim=1)

    def run(self, steps: int, action: float = 0.0):
        for _ in range(steps):
            self.step(torch.full((self.num_envs, 1), action))

    def body(self, env: int, actor: str = "box") -> list:
        handle = self.gym.find_actor_handle(self.envs[env], actor)
        return self.gym.get_actor_rigid_body_properties(self.envs[env], handle)

    def shapes(self, env: int) -> list:
        return self.gym.get_actor_rigid_shape_properties(self.envs[env], 0)


def _uniform(low: float, high: float, operation: str = "scaling", **more) -> dict:
    return {"range": [low, high], "operation": operation, "distribution": "uniform", **more}


def test_masses_drawn_at_set_up_give_each_box_the_acceleration_of_its_own_mass():
    """rigid_body_properties.mass, scaling, uniform [0.5, 1.5], setup_only: a push of 16 N for
    0.5 s without gravity moves each box at 16 x 0.5 / m of its own drawn mass."""
    np.random.seed(0)
    task = Probe({"actor_params": {"box": {"rigid_body_properties": {"mass": _uniform(0.5, 1.5, setup_only=True)}}}})
    masses = np.array([task.body(i)[0].mass for i in range(task.num_envs)])
    assert 0.5 * MASS <= masses.min() and masses.max() <= 1.5 * MASS and masses.std() > 1.0
    task.run(50, action=1.0)
    torch.testing.assert_close(task.box_root[:, 7], torch.tensor(PUSH * 0.5 / masses, dtype=torch.float32), rtol=0.01,
                               atol=1e-3)  # fmt: skip
    before = masses.copy()
    task.reset_buf[:] = 1
    task.randomize_buf[:] = 10
    task.apply_randomizations(task.randomization_params)  # setup_only: never drawn again
    assert np.array_equal([task.body(i)[0].mass for i in range(task.num_envs)], before)


def test_gravity_drawn_per_axis_is_the_fall_every_box_makes():
    """sim_params.gravity, additive gaussian (0, 1) per axis on (0, 0, -9.81), drawn again every
    1000 frames: after 0.5 s every free box falls at the drawn gravity, the same for all; the
    next draw, at frame 1000 of the running sim, changes the fall from then on."""
    np.random.seed(1)
    gravity = {"range": [0.0, 1.0], "operation": "additive", "distribution": "gaussian"}
    params = {"frequency": 1000, "sim_params": {"gravity": gravity}}
    task = Probe(params, num_envs=4, gravity=(0.0, 0.0, -G))
    g = task.gym.get_sim_params(task.sim).gravity
    drawn = torch.tensor([g.x, g.y, g.z])
    assert abs(drawn[0]) > 0.01 and abs(drawn[2] + G) > 0.01 and abs(drawn[2] + G) < 4
    task.run(50)
    torch.testing.assert_close(task.box_root[:, 7:10], (drawn * 0.5).expand(4, 3), rtol=0.01, atol=1e-3)
    task.run(950)
    v = task.box_root[:, 7:10].clone()
    task.run(50)
    g = task.gym.get_sim_params(task.sim).gravity
    again = torch.tensor([g.x, g.y, g.z])
    assert (again - drawn).abs().max() > 0.01
    torch.testing.assert_close(task.box_root[:, 7:10] - v, (again * 0.5).expand(4, 3), rtol=0.01, atol=2e-3)


def test_friction_drawn_per_env_is_the_drag_on_a_pushed_box():
    """rigid_shape_properties.friction, scaling uniform [0.2, 0.6] of 1, on a frictionless floor:
    each 8 kg box pushed by 48 N for 0.5 s reaches (48 / 8 - mu g) x 0.5 m/s, by its own mu.
    (Four substeps of 2.5 ms: with one of 10 ms a box sliding on MuJoCo's soft contacts rocks
    and hops, and its speed strays by up to 0.3 m/s from the closed form.)"""
    np.random.seed(2)
    task = Probe({"actor_params": {"box": {"rigid_shape_properties": {"friction": _uniform(0.2, 0.6)}}}},
                 ground=True, height=SIDE / 2, gravity=(0.0, 0.0, -G), substeps=4)  # fmt: skip
    mu = torch.tensor([task.shapes(i)[0].friction for i in range(task.num_envs)])
    assert 0.2 <= mu.min() and mu.max() <= 0.6 and mu.std() > 0.05
    task.run(20)  # settles on the floor
    task.run(50, action=3.0)
    torch.testing.assert_close(task.box_root[:, 7], (3 * PUSH / MASS - mu * G) * 0.5, rtol=0, atol=0.05)


def test_drive_damping_drawn_per_env_sets_the_speed_a_force_holds():
    """dof_properties.damping, scaling loguniform [0.5, 2] of 100 N s/m: a velocity drive towards 0
    holds the cart pushed by 20 N at 20 / kd m/s, each cart at its own drawn kd."""
    np.random.seed(3)
    params = {"actor_params": {"cartpole": {"dof_properties": {"damping": {"range": [0.5, 2.0],
              "operation": "scaling", "distribution": "loguniform"}}}}}  # fmt: skip
    task = Probe(params, num_envs=16, cartpole=True)
    kd = np.array([task.gym.get_actor_dof_properties(e, 1)["damping"][0] for e in task.envs])
    assert 50 <= kd.min() and kd.max() <= 200 and kd.std() > 10
    task.run(100)
    cart_speed = task.dof_state.view(task.num_envs, 2, 2)[:, 0, 1]
    torch.testing.assert_close(cart_speed, torch.tensor(CART_FORCE / kd, dtype=torch.float32), rtol=0.02, atol=1e-3)


def test_observation_and_action_noise_have_the_spread_asked_for():
    """observations: additive gaussian, std 0.1 per element plus a correlated part (std 0.05)
    drawn every 100 frames; actions: additive uniform [-0.5, 0.5]. The task sees the noisy actions, the learner
    the noisy observations."""
    torch.manual_seed(0)
    params = {"frequency": 100,  # the correlated part is drawn again this often
              "observations": {"range": [0.0, 0.1], "range_correlated": [0.0, 0.05], "operation": "additive",
                               "distribution": "gaussian"},
              "actions": _uniform(-0.5, 0.5, operation="additive")}  # fmt: skip
    task = Probe(params, num_envs=512)
    seen, noise = [], []
    for _ in range(4):
        obs = task.step(torch.zeros(512, 1))[0]["obs"]
        noise.append(obs - torch.cat([task.box_root[:, :3], task.box_root[:, 7:10]], dim=1))
        seen.append(task.actions)
    noise, seen = torch.stack(noise), torch.cat(seen)
    correlated = noise.mean(0)  # the part that stays over steps
    assert abs(float((noise - correlated).std() * (4 / 3) ** 0.5) - 0.1) < 0.01
    assert abs(float(correlated.std()) - (0.05**2 + 0.1**2 / 4) ** 0.5) < 0.01
    assert -0.5 <= float(seen.min()) < -0.45 and 0.45 < float(seen.max()) <= 0.5 and abs(float(seen.mean())) < 0.03


def test_envs_being_reset_after_frequency_steps_draw_again_and_the_others_keep_theirs():
    np.random.seed(4)
    params = {"frequency": 5, "actor_params": {"box": {"rigid_body_properties": {"mass": _uniform(0.5, 1.5)}}}}
    task = Probe(params, num_envs=8)
    first = [task.body(i)[0].mass for i in range(8)]
    task.run(3)
    task.reset_buf[:4] = 1
    task.apply_randomizations(params)  # 3 steps: not yet due
    assert [task.body(i)[0].mass for i in range(8)] == first
    task.run(3)
    task.reset_buf[:4] = 1
    task.apply_randomizations(params)
    now = [task.body(i)[0].mass for i in range(8)]
    assert all(a != b for a, b in zip(now[:4], first[:4], strict=True)) and now[4:] == first[4:]
    assert all(0.5 * MASS <= m <= 1.5 * MASS for m in now)  # from the first draw's value, not the last


def test_a_scaled_box_rests_at_its_scaled_height_with_its_scaled_mass():
    np.random.seed(5)
    task = Probe({"actor_params": {"box": {"scale": _uniform(0.5, 2.0, setup_only=True)}}}, num_envs=8,
                 ground=True, height=SIDE, gravity=(0.0, 0.0, -G))  # fmt: skip
    scales = torch.tensor([task.gym.get_actor_scale(e, 0) for e in task.envs])
    assert scales.min() < 0.9 and scales.max() > 1.3
    masses = torch.tensor([task.body(i)[0].mass for i in range(8)])
    torch.testing.assert_close(masses, MASS * scales**3, rtol=1e-5, atol=0)
    task.run(100)
    torch.testing.assert_close(task.box_root[:, 2], SIDE * scales / 2, rtol=0, atol=2e-3)


def test_schedules_buckets_and_distributions():
    np.random.seed(6)
    linear = _uniform(0.0, 1.0, operation="additive", schedule="linear", schedule_steps=100)
    assert randomization.samples(linear, 1000, step=25).max() <= 0.25
    assert randomization.samples(linear, 1000, step=400).max() > 0.9
    constant = {**linear, "schedule": "constant"}
    assert randomization.samples(constant, 100, step=99).max() == 0
    assert randomization.samples(constant, 100, step=100).max() > 0
    scaled = _uniform(0.5, 1.5, schedule="linear", schedule_steps=10)
    assert np.allclose(randomization.samples(scaled, 100, step=0), 1.0)  # no change yet: a factor of 1
    loguniform = {"range": [0.1, 10.0], "operation": "scaling", "distribution": "loguniform"}
    draws = randomization.samples(loguniform, 10000, step=0)
    assert 0.1 <= draws.min() and draws.max() <= 10 and abs(np.median(np.log10(draws))) < 0.05
    buckets = _uniform(0.0, 1.0, num_buckets=4)
    assert list(randomization.bucketed(np.array([0.1, 0.3, 0.55, 0.99]), buckets)) == [0.0, 0.25, 0.5, 0.75]
    with pytest.raises(UserError, match="distribution 'normal'"):
        randomization.samples({"range": [0, 1], "operation": "additive", "distribution": "normal"}, 1, 0)


def test_a_misspelt_actor_or_field_is_one_line_naming_what_there_is():
    with pytest.raises(UserError, match=r"actor_params\.bx: env 0 has no actor named 'bx' \(its actors: box\)"):
        Probe({"actor_params": {"bx": {"rigid_body_properties": {"mass": _uniform(0.5, 1.5)}}}}, num_envs=2)
    with pytest.raises(UserError, match=r"actor_params\.box\.rigid_shape_properties: no 'frictoin'; its fields: "):
        Probe({"actor_params": {"box": {"rigid_shape_properties": {"frictoin": _uniform(0.5, 1.5)}}}}, num_envs=2)

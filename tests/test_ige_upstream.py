"""Upstream IsaacGymEnvs 1.5.1 task files, unmodified, on mytasks (``ige_root=``).

They live in ../shared/ige-upstream (test material); any checkout with the upstream layout
works through ``MYTASKS_IGE_ROOT``. Each task is built once with 16 envs on the CPU, stepped
with random actions, then held still to check what the engine does against what the robot
should do (zero-action physics).
"""

import os

import pytest
import torch
from conftest import IGE, needs_ige

pytestmark = needs_ige
# Trifinger and ShadowHandOpenAI_FF turn domain randomisation on (task.randomize) in their YAMLs;
# HumanoidAMP imports OpenAI gym's spaces and uses np.Inf, which NumPy 2 removed
TASKS = ["Cartpole", "Ant", "Humanoid", "Anymal", "BallBalance", "Quadcopter", "FrankaCabinet", "FrankaCubeStack",
         "ShadowHand", "AllegroHand", "Trifinger", "ShadowHandOpenAI_FF", "Ingenuity", "HumanoidAMP"]  # fmt: skip
_built = {}


def task(name, fresh=False):
    """The task built once per session (16 envs, CPU), in a scratch folder (some write files);
    ``fresh``: a second instance, untouched by the random-action test."""
    key = (name, fresh)
    if key not in _built:
        _built[key] = _build(f"task={name}", "num_envs=16")
    return _built[key]


def _build(*overrides, device="cpu"):
    """A checkout task built with these overrides on ``device`` (the CPU or the GPU pipeline),
    in a scratch folder (some write files)."""
    from mytasks.tasks import compose_config as compose
    from mytasks.tasks import make_task
    from mytasks.utils.config import resolved

    pipeline = "cpu" if device == "cpu" else "gpu"
    cfg = compose([*overrides, f"ige_root={IGE}", f"sim_device={device}", f"rl_device={device}",
                   f"pipeline={pipeline}", "headless=True"])  # fmt: skip
    here = os.getcwd()
    os.chdir(_scratch())
    try:
        return make_task(resolved(cfg), headless=True)
    finally:
        os.chdir(here)


def _scratch():
    import tempfile

    path = os.path.join(tempfile.gettempdir(), "mytasks-ige-tests")
    os.makedirs(path, exist_ok=True)
    return path


def _zero(env):
    return torch.zeros(env.num_envs, env.num_actions)


def _reset_all(env):
    env.reset_idx(torch.arange(env.num_envs))
    env.reset_buf[:] = 0


# Trifinger's arena is 64 convex pieces (0.5 s a step for 16 envs on 2 cores); FrankaCabinet's
# stiff finger drives take 8 substeps
STEPS = {"Trifinger": 10, "FrankaCabinet": 20}


@pytest.mark.parametrize("name", TASKS)
def test_builds_and_steps_random_actions(name):
    env = task(name)
    env.reset()
    for _ in range(STEPS.get(name, 50)):
        obs, rew, done, _ = env.step(2 * torch.rand(env.num_envs, env.num_actions) - 1)
    assert obs["obs"].shape == (16, env.num_obs)
    assert torch.isfinite(obs["obs"]).all() and torch.isfinite(rew).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", [*TASKS, "AnymalTerrain"])
def test_builds_and_steps_random_actions_on_the_gpu(name):
    """The same on the GPU pipeline (upstream AnymalTerrain stopped while building there, where
    its start poses are made of CUDA tensors)."""
    env = _build(f"task={name}", "num_envs=16", device="cuda:0")
    env.reset()
    for _ in range(10):
        obs, rew, _, _ = env.step(2 * torch.rand(env.num_envs, env.num_actions, device="cuda:0") - 1)
    assert obs["obs"].device.type == "cuda" and torch.isfinite(obs["obs"]).all() and torch.isfinite(rew).all()


def test_ant_settles_at_a_steady_torso_height():
    """Passive ants (zero torques) from the reset's random joint angles come to rest on their
    legs. The angles come from torch's global generator, which the tests before this one draw
    from in whatever order they ran, so it is seeded here; a passive ant can still rock for a
    while (over ten seeds, at most one of 16 did past 5 s), so one is allowed to."""
    env = task("Ant")
    torch.manual_seed(0)
    _reset_all(env)
    z = []
    for _ in range(360):  # 6 s
        env.step(_zero(env))
        z.append(env.root_states[:, 2].clone())
    z = torch.stack(z)
    assert (env.progress_buf >= 359).all(), "an ant fell over (terminated) without actions"
    swing = z[-60:].max(0).values - z[-60:].min(0).values  # over the last second
    assert int((swing < 0.015).sum()) >= env.num_envs - 1 and swing.median() < 0.005, swing
    assert (z[-1] > 0.3).all()  # on its legs, torso off the ground


def test_humanoid_falls_within_about_a_second():
    env = task("Humanoid")
    _reset_all(env)
    fell = torch.zeros(env.num_envs, dtype=torch.bool)
    steps_to_fall = torch.full((env.num_envs,), -1)
    for step in range(90):  # 1.5 s
        env.step(_zero(env))
        new = (env.reset_buf != 0) & ~fell
        steps_to_fall[new] = step
        fell |= env.reset_buf != 0
    assert fell.all(), "a humanoid stood for 1.5 s without actions"
    assert (steps_to_fall >= 12).all()  # not at once: it topples (> 0.2 s)


def test_ball_stays_on_a_level_table_for_two_seconds():
    env = task("BallBalance", fresh=True)
    _reset_all(env)
    env.root_states[:, 1, 0:3] = torch.tensor([0.0, 0.0, env.tray_height + 0.02 + env.ball_radius])
    env.root_states[:, 1, 3:7] = torch.tensor([0.0, 0.0, 0.0, 1.0])
    env.root_states[:, 1, 7:13] = 0.0
    env.gym.set_actor_root_state_tensor(env.sim, env.root_tensor)
    for _ in range(200):  # 2 s
        env.step(_zero(env))
        assert (env.ball_positions[:, 0:2].norm(dim=-1) < 0.5).all()  # the tray's radius: still on it
        assert (env.ball_positions[:, 2] > env.tray_height).all()
    assert (env.root_states[:, 0, 2] - env.tray_height).abs().max() < 0.02  # the table held level


def test_the_tray_tilts_to_a_leg_command_and_holds_the_tilt():
    # Three drives on legs pinned by attractors: a closed chain, which rang with a growing tilt
    # at the substeps an open chain needs (stiffness.py); the ball is kept out of the way.
    env = task("BallBalance")
    _reset_all(env)
    env.dof_position_targets[:] = 0.0  # the random actions' targets stay until an episode ends
    env.root_states[:, 1, 0:3] = torch.tensor([0.0, 0.0, 20.0])
    env.root_states[:, 1, 7:13] = 0.0
    env.gym.set_actor_root_state_tensor(env.sim, env.root_tensor)
    leg0 = torch.zeros(env.num_envs, env.num_actions)
    leg0[:, 0] = 1.0  # 0.2 rad of target per step on the first leg
    tilt = []
    for step in range(42):
        env.step(leg0 if step < 2 else _zero(env))
        q = env.root_states[:, 0, 3:7]
        tilt.append(torch.rad2deg(torch.acos((1 - 2 * (q[:, 0] ** 2 + q[:, 1] ** 2)).clamp(-1, 1))))
    tilt = torch.stack(tilt[-20:])
    assert (tilt.mean(0) > 2.0).all()  # it answers the command (about 4.6 degrees for 0.4 rad)
    assert (tilt.max(0).values - tilt.min(0).values).max() < 1.5  # and holds it, not ringing


def test_quadcopter_holds_altitude_on_hover_thrust():
    env = task("Quadcopter", fresh=True)
    _reset_all(env)
    env.root_states[:, 3:7] = torch.tensor([0.0, 0.0, 0.0, 1.0])
    env.root_states[:, 7:13] = 0.0
    env.dof_states[:] = 0.0
    env.dof_position_targets[:] = 0.0
    env.gym.set_actor_root_state_tensor(env.sim, env.root_tensor)
    env.gym.set_dof_state_tensor(env.sim, env.dof_state_tensor)
    mass = sum(p.mass for p in env.gym.get_actor_rigid_body_properties(env.envs[0], 0))
    start = env.root_positions[:, 2].clone()
    env.thrusts[:] = mass * 9.81 / 4
    for _ in range(100):  # 1 s
        env.step(_zero(env))
    assert (env.root_positions[:, 2] - start).abs().max() < 0.05


def test_quadcopter_stays_finite_under_random_actions():
    """Its rotor arms' drives (1000 N m/rad, no damping, on 2e-5 kg m^2) ring without the
    damping of an implicit drive, and the quadcopter spun up to non-finite states in 17 steps."""
    env = task("Quadcopter", fresh=True)
    _reset_all(env)
    torch.manual_seed(0)
    for _ in range(150):
        env.step(2 * torch.rand(env.num_envs, env.num_actions) - 1)
        assert torch.isfinite(env.root_states).all() and torch.isfinite(env.dof_states).all()
    assert env.dof_states[..., 1].abs().max() < 20.0  # rad/s: the arms follow their targets


def test_franka_holds_its_pose_with_gravity_off():
    env = task("FrankaCabinet")  # reset below: what the random actions did is undone
    # collapse_fixed_joints keeps the fixed base as the root body (Isaac Gym's 10 bodies: link0-7
    # and the fingers, the hand merged into link7), so its first joint stands 0.333 m above it.
    assert env.num_franka_bodies == 10
    link1 = env.gym.find_actor_rigid_body_handle(env.envs[0], 0, "panda_link1")
    assert env.gym.get_rigid_transform(env.envs[0], link1).p.z == pytest.approx(0.333, abs=1e-3)
    props = env.gym.get_actor_rigid_body_properties(env.envs[0], 0)
    from mytasks.sim import gymapi

    assert all(p.flags & gymapi.RIGID_BODY_DISABLE_GRAVITY for p in props)
    _reset_all(env)
    env.step(_zero(env))
    start = env.franka_dof_pos.clone()
    for _ in range(60):  # 1 s
        env.step(_zero(env))
    # With gravity on, its 400 N m/rad drives would sag by ~0.02 rad; with it off, nothing moves.
    assert (env.franka_dof_pos[:, :7] - start[:, :7]).abs().max() < 2e-3


def test_anymal_holds_its_default_pose_height():
    env = task("Anymal")
    _reset_all(env)
    z = []
    for _ in range(250):  # 5 s at 50 Hz
        env.step(_zero(env))
        z.append(env.root_states[:, 2].clone())
    z = torch.stack(z)
    settled = z[50:]  # after the first second
    assert (settled.max(0).values - settled.min(0).values).max() < 0.02
    assert (settled > 0.4).all()


@pytest.mark.parametrize(
    ("name", "extra", "cone", "impratio"),
    [("Anymal", [], "elliptic", 10.0),  # written for PhysX: no sim.newton block
     ("Anymal", ["+task.sim.newton.max_substeps=1"], "elliptic", 10.0),  # another newton key keeps it
     ("Anymal", ["+task.sim.newton.cone=pyramidal"], "pyramidal", 1.0),  # a task that chooses
     ("Cartpole", [], "pyramidal", 1.0)],  # mytasks' own (no ige_root), whose YAML chooses
)  # fmt: skip
def test_friction_is_stiff_unless_the_task_chooses_its_cone(name, extra, cone, impratio):
    from omegaconf import OmegaConf

    from mytasks.tasks import compose_config as compose
    from mytasks.utils.config import resolved

    checkout = [f"ige_root={IGE}"] if name == "Anymal" else []
    cfg = resolved(compose([f"task={name}", *checkout, "sim_device=cpu", "rl_device=cpu", "pipeline=cpu", *extra]))
    sp = task("Anymal")._parse_sim_params(OmegaConf.to_container(cfg.task.sim, resolve=True))
    assert (sp.newton.cone, sp.newton.impratio) == (cone, impratio)
    assert sp.newton.max_substeps == (1 if "max_substeps" in " ".join(extra) else 8)


def test_a_checkout_task_leaves_the_registered_one_in_place():
    from mytasks.tasks import isaacgym_task_map
    from mytasks.tasks.cartpole import Cartpole

    upstream = type(task("Cartpole"))
    assert upstream.__module__ == "isaacgymenvs.tasks.cartpole"
    assert isaacgym_task_map["Cartpole"] is Cartpole  # task=Cartpole without ige_root is still mytasks'


_KUKA = [("AllegroKuka", env) for env in ("reorientation", "regrasping", "throw")] + [
    ("AllegroKukaTwoArmsLSTM", env) for env in ("reorientation", "regrasping")
]


@pytest.mark.skipif(not os.path.isdir(os.path.join(IGE, "assets", "asset_templates")),
                    reason=f"{IGE} has no assets/asset_templates (AllegroKuka writes its cuboids from them)")
@pytest.mark.parametrize(("name", "subtask"), _KUKA)
def test_allegro_kuka_builds_each_subtask_with_a_cuboid_of_its_own_per_env_and_steps(name, subtask):
    """AllegroKuka (one arm or two): each env holds a cuboid of another size (envs of different
    assets, as Isaac Gym allows)."""
    env = _build(f"task={name}", f"task/env={subtask}", "num_envs=4")
    sizes = {tuple(s.tolist()) for s in env.object_scales}
    env.reset()
    for _ in range(5):
        obs, rew, _, _ = env.step(2 * torch.rand(env.num_envs, env.num_actions) - 1)
    assert torch.isfinite(obs["obs"]).all() and torch.isfinite(rew).all()
    assert len(sizes) > 1, sizes


def test_dextreme_adr_scaling_its_mesh_hand_per_env_is_one_line_naming_the_call():
    """AllegroHandADR scales the hand (its collision shapes are meshes) differently in every env,
    which MuJoCo cannot: one line naming set_actor_scale and the line of upstream's code."""
    from mytasks.utils.errors import UserError

    with pytest.raises(UserError, match=r"adr_vec_task\.py:\d+: set_actor_scale\(.*'hand': it collides with a mesh"):
        _build("task=AllegroHandDextremeADR", "num_envs=2")


@pytest.mark.parametrize("name", ["AllegroHandDextremeManualDR"])
def test_dextreme_builds_on_upstreams_env_base_with_its_randomisation_and_flattens_its_dict_observations(name):
    """DeXtreme's vec-task derives from IsaacGymEnvs' ``Env``, parses the sim through VecTask's
    private ``__parse_sim_params``, accepts only a PhysX or Flex engine, draws its randomisation
    with one-element arrays (``apply_random_samples``) before ``prepare_sim``, and gives its
    observations as a dict of parts that its train file's networks name."""
    from omegaconf import OmegaConf

    from mytasks.rl.dict_obs import flat_view
    from mytasks.sim import gymapi
    from mytasks.tasks import compose_config

    env = _build(f"task={name}", "num_envs=4")
    assert env.physics_engine == gymapi.SIM_PHYSX and env.cfg["physics_engine"] == "physx"
    train = OmegaConf.to_container(compose_config([f"task={name}", f"ige_root={IGE}"]).train, resolve=True)
    flat = flat_view(env, train)
    parts = env.observation_space.spaces
    actor = train["params"]["network"]["inputs"]
    critic = train["params"]["config"]["central_value_config"]["network"]["inputs"]
    assert flat.num_obs == sum(parts[k].shape[0] for k in actor) and flat.observation_space.shape == (flat.num_obs,)
    assert flat.num_states == sum(parts[k].shape[0] for k in critic) > flat.num_obs
    assert flat.num_envs == 4 and flat.task is env
    masses = {round(float(env.gym.get_actor_rigid_body_properties(e, 1)[0].mass), 6) for e in env.envs}
    assert len(masses) == 4  # the cube's mass drawn for each env (setup_only, before prepare_sim)
    assert env.gym.get_actor_rigid_shape_count(env.envs[0], 1) == 1  # the cube's box; its mesh is drawn only

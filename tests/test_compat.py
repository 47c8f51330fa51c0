"""The ``isaacgym`` names for code written for Isaac Gym, and IsaacGymEnvs checkouts on ``train.py``:
served only when asked for, never over a real Isaac Gym, trained and played from a checkout, and
what a checkout's task needs and mytasks lacks said in one line."""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import textwrap

import pytest
from conftest import IGE, ROOT, TRAIN, needs_ige, run_train

ISAACGYM_MODULES = "[m for m in sys.modules if m.split('.')[0] in ('isaacgym', 'isaacgymenvs')]"


def _python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, **env), timeout=120)  # fmt: skip


def test_the_isaacgym_names_exist_only_once_asked_for():
    p = _python(f"""
        import sys
        from mytasks import cli, sim
        from mytasks.tasks import isaacgym_task_map
        isaacgym_task_map["Cartpole"], isaacgym_task_map["Go2"]
        assert not {ISAACGYM_MODULES}, {ISAACGYM_MODULES}
        import importlib, pkgutil, mytasks
        for m in pkgutil.walk_packages(mytasks.__path__, "mytasks."):
            if not m.name.startswith("mytasks.templates.task"):  # the files --new-task writes
                importlib.import_module(m.name)
        assert not {ISAACGYM_MODULES}, {ISAACGYM_MODULES}
        mytasks.compat.enable()
        from isaacgym import gymapi, gymtorch, gymutil
        from isaacgym.torch_utils import quat_mul
        from isaacgymenvs.utils.torch_jit_utils import compute_heading_and_up
        from isaacgymenvs.tasks.base.vec_task import VecTask
        from mytasks.tasks.base import vec_task
        from mytasks.utils import torch_jit_utils
        assert gymapi is sim.gymapi and gymtorch is sim.gymtorch and VecTask is vec_task.VecTask
        assert quat_mul is torch_jit_utils.quat_mul
        args = gymutil.parse_arguments(custom_parameters=[{{"name": "--n", "type": int, "default": 3}}])
        print("served", args.n)
    """)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "served 3" in p.stdout


@pytest.fixture
def real_isaacgym(tmp_path):
    """A folder on PYTHONPATH holding a package named isaacgym, as an Isaac Gym install has."""
    (tmp_path / "isaacgym").mkdir()
    (tmp_path / "isaacgym" / "__init__.py").write_text("")
    return str(tmp_path)


def test_a_real_isaacgym_is_never_shadowed(real_isaacgym):
    p = _python("""
        import mytasks.compat
        mytasks.compat.enable()
    """, PYTHONPATH=real_isaacgym)  # fmt: skip
    assert p.returncode != 0
    assert "RealIsaacGymInstalled: a real isaacgym is installed" in p.stderr
    assert real_isaacgym in p.stderr


@needs_ige
@pytest.mark.slow
def test_train_py_says_in_one_line_that_a_real_isaacgym_is_there(real_isaacgym, tmp_path):
    env = dict(os.environ, PYTHONPATH=real_isaacgym)
    p = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), "task=Cartpole", f"ige_root={IGE}",
                        "headless=True", "max_iterations=1"], capture_output=True, text=True, cwd=str(tmp_path),
                       env=env, timeout=300)  # fmt: skip
    assert p.returncode == 2, p.stderr[-2000:]
    assert p.stderr.startswith("error: a real isaacgym is installed") and len(p.stderr.splitlines()) == 1
    assert not os.path.exists(tmp_path / "runs")


TASK_FILE = '''\
from isaacgym import gymapi
from isaacgymenvs.tasks.base.vec_task import VecTask


class Probe(VecTask):
    def __init__(self, cfg, rl_device, sim_device, graphics_device_id, headless, virtual_screen_capture, force_render):
        self.cfg = cfg
        self.cfg["env"]["numObservations"] = 1
        self.cfg["env"]["numActions"] = 1
        super().__init__(config=self.cfg, rl_device=rl_device, sim_device=sim_device,
                         graphics_device_id=graphics_device_id, headless=headless,
                         virtual_screen_capture=virtual_screen_capture, force_render=force_render)

    def create_sim(self):
        self.sim = super().create_sim(self.device_id, self.graphics_device_id, self.physics_engine, self.sim_params)
        self.gym.add_ground(self.sim, gymapi.PlaneParams())
        CALL
'''
TASK_YAML = """\
name: Probe
physics_engine: ${..physics_engine}
env:
  numEnvs: ${resolve_default:4,${...num_envs}}
sim:
  dt: 0.01
  substeps: 1
  up_axis: "z"
  use_gpu_pipeline: ${eq:${...pipeline},"gpu"}
  gravity: [0.0, 0.0, -9.81]
"""


@needs_ige
@pytest.mark.slow
@pytest.mark.parametrize("call, says", [
    ("self.gym.create_soft_body_cloth(self.sim)", "uses gym.create_soft_body_cloth, which mytasks does not provide on "
     "this engine (docs/conventions.md lists the isaacgym API it serves)"),
    ("self.gym.add_triangle_mesh(self.sim, [0.0] * 9, [0, 1, 2], gymapi.TriangleMeshParams())",
     "gym.add_triangle_mesh takes the terrain meshes that isaacgym.terrain_utils makes"),
    ("import not_an_installed_package.sub", "needs the Python package not_an_installed_package, which is not "
     "installed here: pip install it"),
], ids=["missing", "in-part", "not-installed"])  # fmt: skip
def test_an_isaacgym_call_mytasks_lacks_is_one_line_naming_it_and_the_line(call, says, tmp_path):
    checkout = tmp_path / "fork"
    (checkout / "isaacgymenvs" / "tasks").mkdir(parents=True)
    (checkout / "isaacgymenvs" / "tasks" / "probe.py").write_text(TASK_FILE.replace("CALL", call))
    (checkout / "isaacgymenvs" / "cfg" / "task").mkdir(parents=True)
    (checkout / "isaacgymenvs" / "cfg" / "task" / "Probe.yaml").write_text(TASK_YAML)
    (checkout / "isaacgymenvs" / "cfg" / "train").mkdir()
    train = open(os.path.join(IGE, "isaacgymenvs", "cfg", "train", "CartpolePPO.yaml")).read()
    (checkout / "isaacgymenvs" / "cfg" / "train" / "ProbePPO.yaml").write_text(train.replace("Cartpole", "Probe"))
    p = run_train("task=Probe", f"ige_root={checkout}", "headless=True", "max_iterations=1", cwd=str(tmp_path))
    assert p.returncode == 2, p.stdout[-2000:] + p.stderr[-2000:]
    line = TASK_FILE.splitlines().index("        CALL") + 1
    assert p.stderr.startswith(f"error: {checkout}/isaacgymenvs/tasks/probe.py:{line}")
    assert says in p.stderr and len(p.stderr.splitlines()) == 1, p.stderr
    assert not os.path.exists(tmp_path / "runs")


EPOCH = re.compile(r"^epoch +(\d+)/\d+  reward +([-\d.]+)", re.M)


@pytest.fixture(scope="module")
def ant_run(tmp_path_factory):
    """Upstream's Ant from its checkout: 256 envs, 40 epochs of 100-step episodes (about 90 s)."""
    cwd = str(tmp_path_factory.mktemp("ant"))
    p = run_train("task=Ant", f"ige_root={IGE}", "headless=True", "num_envs=256", "max_iterations=40",
                  "train.params.config.minibatch_size=1024", "task.env.episodeLength=100", "experiment=ant",
                  cwd=cwd)  # fmt: skip
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    (run_dir,) = glob.glob(os.path.join(cwd, "runs", "ant_*"))
    return cwd, run_dir, [(int(e), float(r)) for e, r in EPOCH.findall(p.stdout)], p.stdout


@needs_ige
@pytest.mark.slow
def test_upstream_ant_trains_from_its_checkout_with_rising_reward(ant_run):
    _, _, epochs, out = ant_run
    assert [e for e, _ in epochs] == list(range(epochs[0][0], 41))  # "n/a" until the first episodes end
    first, last = epochs[0][1], sum(r for _, r in epochs[-5:]) / 5
    assert last > 50.0 and last > first + 40.0, epochs
    assert f"play it back: {TRAIN} task=Ant ige_root={IGE} test=True checkpoint=runs/ant_" in out


@needs_ige
@pytest.mark.slow
def test_a_checkout_run_plays_back_from_its_run_directory_with_the_checkout_named_again(ant_run):
    """The run's config remembers the checkout, but its code is imported only when the command
    names it: ``checkpoint=<run>`` alone is one line that gives the ``ige_root=`` to add."""
    cwd, run_dir, epochs, _ = ant_run
    p = run_train("test=True", f"checkpoint={run_dir}", "headless=True", "num_envs=16", "play_episodes=16", cwd=cwd)
    assert p.returncode == 2 and p.stderr.strip().endswith(f"add ige_root={IGE} if you trust that folder"), p.stderr
    p = run_train("test=True", f"checkpoint={run_dir}", f"ige_root={IGE}", "headless=True", "num_envs=16",
                  "play_episodes=16", cwd=cwd)  # fmt: skip
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    m = re.search(r"played 16 episodes .*average reward ([-\d.]+)", p.stdout)
    assert m, p.stdout[-2000:]
    assert float(m.group(1)) > 0.7 * epochs[-1][1]


@needs_ige
@pytest.mark.slow
def test_a_checkout_run_plays_back_on_video(ant_run):
    """capture_video=True with an upstream task: the clip shows env 0's ant, moving."""
    import av
    import numpy as np

    cwd, run_dir, _, _ = ant_run
    p = run_train("test=True", f"checkpoint={run_dir}", f"ige_root={IGE}", "headless=True", "num_envs=4",
                  "play_episodes=4", "capture_video=True", "capture_video_len=30", cwd=cwd)  # fmt: skip
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    (clip,) = glob.glob(os.path.join(run_dir, "videos", "play", "step-*.mp4"))
    with av.open(clip) as c:
        frames = [f.to_ndarray(format="rgb24").astype(int) for f in c.decode(video=0)]
    assert len(frames) == 30
    coloured = [int(((f.max(axis=2) - f.min(axis=2)) > 60).sum()) for f in frames]  # the orange ant on grey
    assert min(coloured) > 300, coloured
    assert np.abs(frames[-1] - frames[0]).mean() > 0.2  # drawn from the live state: it moves


@pytest.fixture
def fork(tmp_path):
    """tests/ige_checkout made into a fork: a task map that names Beacon twice (once as
    Lighthouse, a YAML of its own), a utils module of its own that the task imports, and, where
    the upstream checkout is at hand, upstream's vec_task.py with step() changed."""
    import shutil

    root = tmp_path / "fork"
    shutil.copytree(os.path.join(ROOT, "tests", "ige_checkout"), root)
    pkg = root / "isaacgymenvs"
    (pkg / "utils").mkdir()
    (pkg / "utils" / "beacon_numbers.py").write_text("FORCE_SCALE = 1.0\n")
    task = pkg / "tasks" / "beacon.py"
    task.write_text("from isaacgymenvs.utils.beacon_numbers import FORCE_SCALE  # noqa\n" + task.read_text())
    (pkg / "tasks" / "__init__.py").write_text(
        "from .beacon import Beacon\n\nisaacgym_task_map = {\"Beacon\": Beacon, \"Lighthouse\": Beacon}\n"
    )
    for group, suffix in (("task", ""), ("train", "PPO")):
        text = (pkg / "cfg" / group / f"Beacon{suffix}.yaml").read_text()
        (pkg / "cfg" / group / f"Lighthouse{suffix}.yaml").write_text(text.replace("name: Beacon", "name: Lighthouse"))
    upstream = os.path.join(IGE, "isaacgymenvs", "tasks", "base", "vec_task.py")
    if os.path.isfile(upstream):
        (pkg / "tasks" / "base").mkdir()
        clamp = '        self.obs_dict["obs"] = torch.clamp('
        text = open(upstream).read().replace(clamp, "        self.fork_steps = 1\n" + clamp, 1)  # in step()
        (pkg / "tasks" / "base" / "vec_task.py").write_text(text)
    return str(root)


@pytest.mark.slow
def test_a_fork_runs_its_task_map_and_its_utils_and_says_which_vec_task_changes_are_not_kept(fork, tmp_path):
    p = run_train("--tasks", f"ige_root={fork}", cwd=tmp_path)
    assert re.search(rf"^Lighthouse +ige_root={re.escape(fork)} +isaacgymenvs\.tasks\.beacon:Beacon", p.stdout, re.M)
    p = run_train("task=Lighthouse", f"ige_root={fork}", "num_envs=8", "max_iterations=2", "headless=True",
                  cwd=tmp_path)  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    assert re.search(r"^epoch +2/2", p.stdout, re.M), p.stdout[-2000:]
    if os.path.isdir(os.path.join(fork, "isaacgymenvs", "tasks", "base")):
        line = next(x for x in p.stdout.splitlines() if "vec_task.py" in x)
        assert re.search(r"vec_task\.py changes VecTask\.\w+ \(against IsaacGymEnvs 1\.5\.1\).*not kept", line), line


def test_isaacgymenvs_make_builds_a_task_as_upstream_scripts_do(fork, tmp_path):
    p = _python(f"""
        import mytasks.compat
        mytasks.compat.enable(checkout={fork!r})
        import isaacgymenvs
        env = isaacgymenvs.make(seed=0, task="Lighthouse", num_envs=4, sim_device="cpu", rl_device="cpu",
                                headless=True)
        import torch
        obs, rew, done, _ = env.step(torch.zeros(4, env.num_actions))
        print(type(env).__module__, env.num_envs, tuple(obs["obs"].shape))
    """)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "isaacgymenvs.tasks.beacon 4 (4, 6)" in p.stdout


def test_gymapi_structs_take_numbers_as_isaac_gyms_c_structs_do():
    import numpy as np
    import torch

    from mytasks.sim import gymapi

    p = gymapi.Vec3(*torch.tensor([1.0, 2.0, 3.0]))  # upstream AnymalTerrain's start poses, from tensors
    assert tuple(p) == (1.0, 2.0, 3.0) and all(type(v) is float for v in p)
    p.z = np.float32(0.5)
    r = gymapi.Quat(torch.tensor(0.0), 0, np.float64(0.0), 1)
    assert type(p.z) is float and type(r.y) is float and r.w == 1.0
    plane = gymapi.PlaneParams()
    plane.static_friction = torch.tensor([0.7])
    assert plane.static_friction == pytest.approx(0.7) and type(plane.static_friction) is float
    plane.restitution = np.array([0.25])  # a one-element array, as IsaacGymEnvs' randomisation draws (NumPy 1 took it)
    assert plane.restitution == 0.25 and type(plane.restitution) is float
    sim_params = gymapi.SimParams()
    sim_params.substeps = np.int64(2)  # an int field keeps an int
    assert type(sim_params.substeps) is int and sim_params.substeps == 2
    with pytest.raises(TypeError, match=r"Vec3.x takes a number, got str 'a'"):
        gymapi.Vec3("a", 0.0, 0.0)
    with pytest.raises(TypeError, match=r"SimParams.substeps takes a whole number, got 2.5"):
        sim_params.substeps = 2.5


@needs_ige
def test_an_upstream_config_that_reads_the_pbt_group_composes():
    from mytasks.tasks import compose_config
    from mytasks.utils.config import resolved

    cfg = resolved(compose_config(["task=AllegroKuka", f"ige_root={IGE}", "sim_device=cpu", "rl_device=cpu"]))
    assert cfg.pbt.enabled is False  # upstream's pbt/no_pbt.yaml
    assert cfg.task.env.subtask == "reorientation"


def test_an_mjcf_mesh_path_from_upstreams_train_folder_and_a_locked_joint_load(tmp_path):
    """Upstream Ingenuity writes its MJCF into the working folder with mesh paths relative to the
    folder upstream's train.py runs in, and locks joints with range="0 0" (MuJoCo refuses a
    one-point range): the mesh is found there, and the joint stays a DOF held at 0. Its root body
    has such a hinge to the world too, which Isaac Gym's importer drops (a root joins the world
    by a free joint or, with fix_base_link, none): one DOF, not two."""
    from mytasks.sim import asset_paths_from, gymapi

    (tmp_path / "assets").mkdir()
    corners = [(x, y, z) for x in (-0.1, 0.1) for y in (-0.1, 0.1) for z in (-0.1, 0.1)]
    faces = [(1, 2, 4, 3), (5, 7, 8, 6), (1, 5, 6, 2), (3, 4, 8, 7), (1, 3, 7, 5), (2, 6, 8, 4)]
    obj = "".join(f"v {x} {y} {z}\n" for x, y, z in corners) + "".join(f"f {a} {b} {c} {d}\n" for a, b, c, d in faces)
    (tmp_path / "assets" / "cube.obj").write_text(obj)
    runs_in = tmp_path / "isaacgymenvs"
    (runs_in / "written").mkdir(parents=True)
    mjcf = """<mujoco><asset><mesh name="cube" file="../assets/cube.obj"/></asset><worldbody>
      <body name="base" pos="0 0 1"><joint name="root_joint" type="hinge" limited="true" range="0 0"/>
        <geom type="mesh" mesh="cube" density="1000"/>
        <body name="arm" pos="0.3 0 0">
          <joint name="locked" type="hinge" axis="0 1 0" limited="true" range="0 0"/>
          <geom type="capsule" fromto="0 0 0 0.3 0 0" size="0.02" density="1000"/>
        </body></body></worldbody></mujoco>"""
    (runs_in / "written" / "robot.xml").write_text(mjcf)
    gym = gymapi.acquire_gym()
    params = gymapi.SimParams()
    params.use_gpu_pipeline, params.dt, params.substeps = False, 0.01, 2
    sim = gym.create_sim(-1, -1, gymapi.SIM_NEWTON, params)
    opts = gymapi.AssetOptions()
    opts.fix_base_link = True
    with asset_paths_from(str(runs_in)):  # "../assets" from isaacgymenvs/ is tmp_path/assets
        asset = gym.load_asset(sim, str(runs_in / "written"), "robot.xml", opts)
        floating = gym.load_asset(sim, str(runs_in / "written"), "robot.xml", gymapi.AssetOptions())
    assert gym.get_asset_dof_count(asset) == 1 and gym.get_asset_dof_count(floating) == 1
    env = gym.create_env(sim, gymapi.Vec3(-1, -1, 0), gymapi.Vec3(1, 1, 1), 1)
    gym.create_actor(env, asset, gymapi.Transform(), "robot", 0, 0)
    gym.prepare_sim(sim)
    for _ in range(50):  # gravity pulls the arm down about its hinge for 0.5 s
        gym.simulate(sim)
        gym.fetch_results(sim, True)
    gym.refresh_dof_state_tensor(sim)
    from mytasks.sim import gymtorch

    angle = float(gymtorch.wrap_tensor(gym.acquire_dof_state_tensor(sim))[0, 0])
    assert abs(angle) < 1e-3, angle  # held by its limit; free, it would have swung ~1 rad


def test_tensors_acquired_before_prepare_sim_become_the_live_buffers():
    """Isaac Gym hands out state, Jacobian and mass-matrix tensors while envs are still being
    created (upstream FrankaCubeStack does): they take their shape from the scene and are the
    buffers that the refresh calls fill once prepare_sim has built the simulation."""
    import torch
    from conftest import ASSETS

    from mytasks.sim import gymapi, gymtorch

    gym = gymapi.acquire_gym()
    params = gymapi.SimParams()
    params.use_gpu_pipeline, params.dt, params.substeps = False, 1 / 60, 2
    sim = gym.create_sim(-1, -1, gymapi.SIM_NEWTON, params)
    opts = gymapi.AssetOptions()
    opts.fix_base_link = True
    asset = gym.load_asset(sim, ASSETS, "urdf/cartpole.urdf", opts)
    for i in range(3):
        env = gym.create_env(sim, gymapi.Vec3(-2, -2, 0), gymapi.Vec3(2, 2, 2), 2)
        gym.create_actor(env, asset, gymapi.Transform(gymapi.Vec3(0, 0, 2)), "cartpole", i, 1, 0)
    dof_state = gymtorch.wrap_tensor(gym.acquire_dof_state_tensor(sim))
    bodies = gymtorch.wrap_tensor(gym.acquire_rigid_body_state_tensor(sim))
    mass = gymtorch.wrap_tensor(gym.acquire_mass_matrix_tensor(sim, "cartpole"))
    assert dof_state.shape == (6, 2) and bodies.shape == (9, 13) and mass.shape == (3, 2, 2)
    gym.prepare_sim(sim)
    dof_state[:, 0] = torch.tensor([0.5, 0.2] * 3)  # the cart 0.5 m along, the pole tilted
    gym.set_dof_state_tensor(sim, gymtorch.unwrap_tensor(dof_state))
    gym.simulate(sim)
    gym.fetch_results(sim, True)
    gym.refresh_dof_state_tensor(sim)
    gym.refresh_rigid_body_state_tensor(sim)
    gym.refresh_mass_matrix_tensors(sim)
    assert dof_state[0, 0] == pytest.approx(0.5, abs=0.01)
    assert torch.equal(dof_state, gymtorch.wrap_tensor(gym.acquire_dof_state_tensor(sim)))
    assert bodies[1, 0] == pytest.approx(0.5, abs=0.01)  # the cart's body, x [m]
    assert mass[0, 0, 0] == pytest.approx(1.1, rel=0.02)  # cart and pole move together along the rail [kg]


def test_an_mjcf_whose_bodies_are_in_an_included_file_loads_them(tmp_path):
    """The Shadow Hand's MJCF keeps its bodies in robot.xml, included inside <worldbody>; MuJoCo
    inlines includes (paths from the main file's folder), and so does the loader."""
    from mytasks.sim import gymapi

    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "arm.xml").write_text("""<mujoco>
      <body name="base" pos="0 0 1"><geom type="sphere" size="0.05"/>
      <body name="upper"><joint name="shoulder" type="hinge" axis="0 1 0"/>
        <geom type="capsule" fromto="0 0 0 0.3 0 0" size="0.02"/>
        <body name="lower" pos="0.3 0 0"><joint name="elbow" type="hinge" axis="0 1 0"/>
          <geom type="capsule" fromto="0 0 0 0.3 0 0" size="0.02"/></body></body></body></mujoco>""")
    (tmp_path / "robot.xml").write_text("""<mujoco><worldbody><include file="parts/arm.xml"/>
      <light pos="0 0 3"/></worldbody></mujoco>""")
    gym = gymapi.acquire_gym()
    params = gymapi.SimParams()
    params.use_gpu_pipeline = False
    sim = gym.create_sim(-1, -1, gymapi.SIM_NEWTON, params)
    opts = gymapi.AssetOptions()
    opts.fix_base_link = True
    asset = gym.load_asset(sim, str(tmp_path), "robot.xml", opts)
    assert gym.get_asset_rigid_body_names(asset) == ["base", "upper", "lower"]
    assert gym.get_asset_dof_names(asset) == ["shoulder", "elbow"]

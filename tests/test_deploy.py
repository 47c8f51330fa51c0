"""Export and sim2sim: the files a user takes out, checked against the player, the URDF and the
task config, and the shipped Go2 policy walking in plain MuJoCo."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import onnxruntime
import pytest
import torch
import yaml
from conftest import CPU, ROOT, run_train
from omegaconf import OmegaConf

from mytasks.utils.config import compose

SHIPPED = os.path.join(ROOT, "assets", "checkpoints", "Go2.pth")
GO2_URDF = os.path.join(ROOT, "assets", "urdf", "go2", "go2.urdf")


@pytest.fixture(scope="module")
def go2_export(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("export") / "go2")
    p = run_train("task=Go2", "test=True", f"checkpoint={SHIPPED}", "num_envs=2", *CPU, "export=True",
                  "play_episodes=0", f"export_dir={out}")  # fmt: skip
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"exported to {out}: policy.onnx, policy.pt (TorchScript), deploy.yaml" in p.stdout
    return out


def _player(args: list[str], checkpoint: str):
    from mytasks.rl import checkpoints, runner
    from mytasks.tasks import make_task

    cfg = compose([*args, *CPU, "test=True", f"checkpoint={checkpoint}", "viewer=none"])
    task = make_task(cfg)
    params = runner.train_params(OmegaConf.to_container(cfg.train, resolve=True), "cpu")
    return runner.load_player(task, params, checkpoints.load(checkpoint), checkpoint, cfg.task.name), task


def _rollout_matches(player, task, export_dir: str, count: int = 1000) -> None:
    """The exported files act as the player does on ``count`` observations of a real rollout."""
    onnx = onnxruntime.InferenceSession(os.path.join(export_dir, "policy.onnx"), providers=["CPUExecutionProvider"])
    script = torch.jit.load(os.path.join(export_dir, "policy.pt"))
    obs, seen, worst = task.reset()["obs"], 0, 0.0
    with torch.no_grad():
        while seen < count:
            action = player.get_action(obs, is_deterministic=True)
            worst = max(worst, float((torch.from_numpy(onnx.run(None, {"obs": obs.numpy()})[0]) - action).abs().max()))
            worst = max(worst, float((script(obs) - action).abs().max()))
            seen += obs.shape[0]
            obs = task.step(action)[0]["obs"]
    assert worst <= 1e-5


def test_go2_export_acts_as_the_player(go2_export):
    player, task = _player(["task=Go2", "num_envs=16"], SHIPPED)
    assert not player.clip_actions  # Go2's actions are clipped by the task at ±100, not to [-1, 1]
    _rollout_matches(player, task, go2_export)
    single = onnxruntime.InferenceSession(os.path.join(go2_export, "policy.onnx"))
    assert single.run(None, {"obs": np.zeros((1, 48), np.float32)})[0].shape == (1, 12)  # any batch size


def test_cartpole_exports_with_a_minimal_manifest_that_says_so(tmp_path):
    p = run_train("task=Cartpole", *CPU, "num_envs=64", "max_iterations=5", cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr
    run_dir = next(d for d in (tmp_path / "runs").iterdir() if d.name.startswith("Cartpole"))
    p = run_train("test=True", f"checkpoint={run_dir}", *CPU, "export=True", "play_episodes=0", cwd=str(tmp_path))
    assert p.returncode == 0, p.stdout + p.stderr
    out = run_dir / "exported"
    assert sorted(os.listdir(out)) == [".mytasks-export", "deploy.yaml", "policy.onnx", "policy.pt"]
    assert "gives no deploy information" in p.stdout and "the manifest is the minimal one" in p.stdout
    m = yaml.safe_load((out / "deploy.yaml").read_text())
    assert m["policy"]["num_obs"] == 4 and m["policy"]["num_actions"] == 1 and "joints" not in m
    from mytasks.rl.checkpoints import resolve

    player, task = _player(["task=Cartpole", "num_envs=16"], resolve(str(run_dir), "Cartpole", last=False))
    _rollout_matches(player, task, str(out))
    # Exporting again replaces the directory whole, and leaves nothing beside it.
    before = (out / "policy.onnx").stat().st_ino
    p = run_train("test=True", f"checkpoint={run_dir}", *CPU, "export=True", "play_episodes=0", cwd=str(tmp_path))
    assert p.returncode == 0 and (out / "policy.onnx").stat().st_ino != before
    assert sorted(os.listdir(run_dir)) == sorted(["config.yaml", "overrides.yaml", "nn", "summaries", "exported"])


def test_the_manifest_agrees_with_the_urdf_and_the_task_config(go2_export):
    m = yaml.safe_load(open(os.path.join(go2_export, "deploy.yaml")))
    env = OmegaConf.to_container(compose(["task=Go2"]).task.env, resolve=False)
    urdf = ET.parse(GO2_URDF).getroot()
    moving = [j for j in urdf.iter("joint") if j.get("type") != "fixed"]
    j = m["joints"]
    assert j["urdf_order"] == [x.get("name") for x in moving]
    assert sorted(j["policy_order"]) == sorted(j["urdf_order"])
    assert j["default_angles"] == env["baseInitState"]["defaultJointAngles"]
    assert set(j["kp"].values()) == {env["control"]["stiffness"]["joint"]}
    assert set(j["kd"].values()) == {env["control"]["damping"]["joint"]}
    assert j["effort_limit"] == {x.get("name"): float(x.find("limit").get("effort")) for x in moving}
    assert m["action"]["scale"] == env["control"]["actionScale"]
    assert m["control"]["dt"] == pytest.approx(0.005 * env["controlFrequencyInv"])
    assert [t["name"] for t in m["observations"]] == ["base_lin_vel", "base_ang_vel", "projected_gravity",
                                                       "commands", "dof_pos", "dof_vel", "actions"]  # fmt: skip
    assert sum(t["size"] for t in m["observations"]) == m["policy"]["num_obs"] == 48
    assert open(os.path.join(go2_export, m["robot"]["urdf"])).read() == open(GO2_URDF).read()
    import hashlib

    assert m["checkpoint_sha256"] == hashlib.sha256(open(SHIPPED, "rb").read()).hexdigest()


def _sim2sim(export_dir: str, *command: float, seconds: float = 10.0) -> dict:
    """``python -m mytasks.sim2sim`` as a user runs it; its last line, parsed."""
    p = subprocess.run([sys.executable, "-m", "mytasks.sim2sim", export_dir, "--command", *map(str, command),
                        "--seconds", str(seconds)], capture_output=True, text=True, cwd=ROOT, timeout=600)  # fmt: skip
    assert p.returncode == 0, p.stderr
    line = p.stdout.strip().splitlines()[-1]
    assert line.startswith("sim2sim: seconds=")
    return {k: float(v) for k, v in (kv.split("=") for kv in line.split()[1:])}


@pytest.mark.slow
def test_the_shipped_go2_policy_walks_in_plain_mujoco(go2_export):
    r = _sim2sim(go2_export, 0.5, 0.0, 0.0)
    assert r["fell"] == 0 and r["seconds"] == 10
    assert r["mean_vx"] == pytest.approx(0.5, abs=0.15) and abs(r["mean_vy"]) < 0.1
    r = _sim2sim(go2_export, 0.0, 0.0, 0.0)
    assert r["fell"] == 0 and max(abs(r["mean_vx"]), abs(r["mean_vy"]), abs(r["mean_yaw_rate"])) < 0.05
    r = _sim2sim(go2_export, 0.0, 0.3, 0.0)
    assert r["fell"] == 0 and r["mean_vy"] == pytest.approx(0.3, abs=0.15)
    r = _sim2sim(go2_export, 0.0, 0.0, 0.5)
    assert r["fell"] == 0 and r["mean_yaw_rate"] == pytest.approx(0.5, abs=0.25)


def test_sim2sim_with_the_joint_order_permuted_does_not_walk(go2_export):
    from mytasks.deploy.sim2sim import run

    m = yaml.safe_load(open(os.path.join(go2_export, "deploy.yaml")))
    order = m["joints"]["policy_order"]
    swapped = order[3:6] + order[0:3] + order[6:]  # the front legs exchanged, as a wrong URDF order would
    r = run(go2_export, (0.5, 0.0, 0.0), 10.0, joint_order=swapped)
    assert r["fell"] == 1 or abs(r["mean_vx"] - 0.5) > 0.15


def test_sim2sim_imports_neither_newton_nor_warp_nor_torch(go2_export):
    code = ("import sys; from mytasks.deploy.sim2sim import run; run(sys.argv[1], (0.5, 0, 0), 0.5); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('newton', 'warp', 'torch', 'mujoco_warp') "
            "or m.startswith(('mytasks.tasks', 'mytasks.sim', 'mytasks.rl'))))")  # fmt: skip
    p = subprocess.run([sys.executable, "-c", code, go2_export], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "[]"


def test_sim2sim_without_an_export_is_one_line(tmp_path):
    p = subprocess.run([sys.executable, "-m", "mytasks.sim2sim", str(tmp_path)], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)  # fmt: skip
    assert p.returncode == 2
    assert p.stderr.strip() == (f"error: {tmp_path} has no deploy.yaml; "
                                "write one with train.py ... test=True export=True")  # fmt: skip


def test_export_without_test_is_one_line(tmp_path):
    p = run_train("task=Cartpole", *CPU, "export=True", cwd=str(tmp_path))
    assert p.returncode == 2
    assert p.stderr.strip().splitlines()[-1] == (
        "error: export=True exports a checkpoint that is played: add test=True checkpoint=<file or run>"
    )


def test_export_without_onnxruntime_is_one_line_naming_it(tmp_path):
    code = ("import sys; sys.modules['onnxruntime'] = None; sys.argv[0] = 'train.py'; "
            "from mytasks.cli import main; sys.exit(main(sys.argv[1:]))")  # fmt: skip
    args = ["task=Go2", "test=True", f"checkpoint={SHIPPED}", *CPU, "export=True", "viewer=none"]
    p = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=str(tmp_path),
                       timeout=300)  # fmt: skip
    assert p.returncode == 2
    assert p.stderr.strip().splitlines()[-1] == (
        "error: export=True needs the onnxruntime package: pip install onnxruntime"
    )
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
@pytest.mark.parametrize("robot,num_obs", [("G1", 47), ("H1", 41)])
def test_the_shipped_humanoid_policy_walks_in_plain_mujoco_with_its_gait_clock(tmp_path, robot, num_obs):
    """assets/checkpoints/G1.pth and H1.pth through export and plain MuJoCo: the manifest's
    observation terms, gait clock included, are what sim2sim assembles, and the humanoid follows
    forward, sideways and turning commands there for 10 s without falling."""
    out, checkpoint = str(tmp_path / robot), os.path.join(ROOT, "assets", "checkpoints", f"{robot}.pth")
    p = run_train(f"task={robot}", "test=True", f"checkpoint={checkpoint}", "num_envs=2", *CPU, "export=True",
                  "play_episodes=0", f"export_dir={out}")  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    manifest = yaml.safe_load(open(os.path.join(out, "deploy.yaml")))
    assert manifest["policy"]["num_obs"] == num_obs and manifest["gait"]["period"] == 0.8
    assert [t["name"] for t in manifest["observations"]][-1] == "gait_phase"
    r = _sim2sim(out, 0.5, 0.0, 0.0)
    assert r["fell"] == 0 and r["seconds"] == 10
    assert r["mean_vx"] == pytest.approx(0.5, abs=0.25) and abs(r["mean_vy"]) < 0.1
    r = _sim2sim(out, 0.0, 0.3, 0.0)
    assert r["fell"] == 0 and r["mean_vy"] == pytest.approx(0.3, abs=0.15)
    r = _sim2sim(out, 0.0, 0.0, 0.5)
    assert r["fell"] == 0 and r["mean_yaw_rate"] == pytest.approx(0.5, abs=0.25)


def _sim2sim_run(export_dir: str, *args: str, cwd: str = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mytasks.sim2sim", export_dir, *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)  # fmt: skip


def _copy_export(go2_export: str, to) -> str:
    import shutil

    dest = str(to / "export")
    shutil.copytree(go2_export, dest)
    return dest


def test_sim2sim_finds_the_meshes_beside_its_urdf_from_any_directory(go2_export, tmp_path):
    """A robot with a mesh collision shape (the Go2's base box as an STL) stands in plain MuJoCo
    run from an unrelated directory; a same-named file there is not taken instead."""
    import trimesh

    export = _copy_export(go2_export, tmp_path)
    urdf = os.path.join(export, "robot", "go2.urdf")
    text = open(urdf).read()
    box = '<box size="0.3762 0.0935 0.114"/>'
    assert text.count(box) == 1
    with open(urdf, "w") as f:
        f.write(text.replace(box, '<mesh filename="meshes/base.stl"/>'))
    os.makedirs(os.path.join(export, "robot", "meshes"), exist_ok=True)
    trimesh.creation.box(extents=[0.3762, 0.0935, 0.114]).export(os.path.join(export, "robot", "meshes", "base.stl"))
    elsewhere = tmp_path / "elsewhere"
    os.makedirs(elsewhere / "meshes")
    trimesh.creation.box(extents=[3.0, 3.0, 3.0]).export(elsewhere / "meshes" / "base.stl")  # a decoy
    p = _sim2sim_run(export, "--seconds", "3", cwd=str(elsewhere))
    assert p.returncode == 0, p.stderr[-2000:]
    r = dict(kv.split("=") for kv in p.stdout.strip().splitlines()[-1].split()[1:])
    assert r["fell"] == "0" and r["diverged"] == "0" and abs(float(r["mean_vx"])) < 0.1


def test_export_copies_the_meshes_its_urdf_names(tmp_path):
    from mytasks.deploy.export import copy_robot

    robot = tmp_path / "robot_description"
    os.makedirs(robot / "urdf" / "meshes")
    os.makedirs(robot / "shared")
    (robot / "urdf" / "meshes" / "base.stl").write_text("solid base\nendsolid base\n")
    (robot / "shared" / "leg.stl").write_text("solid leg\nendsolid leg\n")
    (robot / "urdf" / "bot.urdf").write_text(
        '<robot name="bot"><link name="a"><collision><geometry><mesh filename="meshes/base.stl"/></geometry>'
        '</collision><visual><geometry><mesh filename="../shared/leg.stl"/></geometry></visual></link>'
        '<link name="b"><collision><geometry><mesh filename="package://bot/shared/leg.stl"/></geometry></collision>'
        '</link></robot>'
    )  # fmt: skip
    copy_robot(str(robot / "urdf" / "bot.urdf"), str(tmp_path / "out"))
    names = [m.get("filename") for m in ET.parse(tmp_path / "out" / "bot.urdf").getroot().iter("mesh")]
    assert names == ["meshes/base.stl", "meshes/leg.stl", "meshes/leg.stl"]
    assert sorted(os.listdir(tmp_path / "out" / "meshes")) == ["base.stl", "leg.stl"]
    assert (tmp_path / "out" / "meshes" / "leg.stl").read_text().startswith("solid leg")


def _edit_manifest(export: str, edit) -> None:
    path = os.path.join(export, "deploy.yaml")
    m = yaml.safe_load(open(path))
    edit(m)
    with open(path, "w") as f:
        yaml.safe_dump(m, f)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m["robot"].update(urdf="/etc/passwd"), "robot.urdf is '/etc/passwd'; sim2sim takes only relative"),
        (lambda m: m["files"].update(onnx="../../policy.onnx"), "files.onnx is '../../policy.onnx'; sim2sim takes"),
        (lambda m: m["joints"]["kp"].update({k: "high" for k in m["joints"]["kp"]}), "deploy.yaml is malformed"),
        (lambda m: m["joints"]["kd"].update({k: float("nan") for k in m["joints"]["kd"]}), "a non-finite number"),
        (lambda m: m.pop("control"), "is not a deploy manifest of mytasks"),
    ],
)
def test_a_bad_manifest_is_one_line(go2_export, tmp_path, edit, message):
    export = _copy_export(go2_export, tmp_path)
    _edit_manifest(export, edit)
    p = _sim2sim_run(export, "--seconds", "0.1")
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert p.stderr.strip().startswith("error: ") and message in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_a_model_that_is_not_onnx_is_one_line(go2_export, tmp_path):
    export = _copy_export(go2_export, tmp_path)
    with open(os.path.join(export, "policy.onnx"), "w") as f:
        f.write("not a model")
    p = _sim2sim_run(export, "--seconds", "0.1")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "policy.onnx is not a model onnxruntime can run" in p.stderr


def test_a_simulation_that_diverges_says_so_and_is_no_fall(go2_export, tmp_path):
    export = _copy_export(go2_export, tmp_path)

    def stiff(m):
        for name in m["joints"]["kp"]:
            m["joints"]["kp"][name], m["joints"]["effort_limit"][name] = 1e9, 1e12

    _edit_manifest(export, stiff)
    p = _sim2sim_run(export, "--seconds", "2", cwd=str(tmp_path))  # MuJoCo writes MUJOCO_LOG.TXT where it runs
    assert p.returncode == 1, p.stderr[-2000:]
    line = p.stdout.strip().splitlines()[-1]
    assert line.endswith("fell=0 diverged=1"), line
    assert "sim2sim: the simulation diverged after" in p.stderr

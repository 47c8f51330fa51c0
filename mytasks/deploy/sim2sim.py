"""sim2sim: an exported policy in plain MuJoCo, from its export directory alone.

``python -m mytasks.sim2sim <exported dir> [--command VX VY YAW] [--seconds S] [--video FILE] [--viewer]``

Imports numpy, PyYAML, ``mujoco`` and ``onnxruntime`` only: no Newton, no Warp, no torch, no
mytasks task. ``deploy.yaml`` is the contract. The robot is the export's own URDF, loaded by
MuJoCo's URDF importer with a free joint on its base (a ``floating`` joint from an added root
link), on a plane with the task's friction; the robot's shapes touch the ground but not one
another unless the task had self-collisions. MuJoCo steps at 0.002 s; the policy runs every
``control.dt`` of simulated time (a manifest with a ``gait`` block gets its clock, from the
episode's policy steps); in between, every sim step applies the manifest's PD
torques ``kp (target - q) - kd qd``, clipped to the effort limits, with ``target = default +
scale * action``. The observation is assembled term by term from the manifest's layout.

It ends with one line: ``sim2sim: seconds=<s> mean_vx=<m/s> mean_vy=<m/s>
mean_yaw_rate=<rad/s> fell=<0|1> diverged=<0|1>``. The robot starts standing and its command
rises from zero over the first second; the means are of the base-frame velocities after two
seconds. fell=1 when roll or pitch passed the manifest's termination limits or the base
dropped below a third of its starting height; diverged=1 (and fell=0) when the simulation
itself blew up: a non-finite state or action, or MuJoCo's own instability warning; sim2sim
then also says so on stderr and exits with 1.

The export folder is all it reads: the manifest's files and the URDF's meshes are paths
inside that folder (relative, no ``..``), resolved against it, never the working directory.
A malformed manifest, model or URDF is one line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

from mytasks.utils.errors import first_line

SIM_DT = 0.002
RAMP = 1.0  # [s] the command rises from zero to its value over the first second
SETTLE = 2.0  # [s] the means leave out the first two seconds (of runs longer than four)
_ROOT_LINK = "sim2sim_world"


def _quat_rotate_inverse(q_wxyz: np.ndarray, v: np.ndarray) -> np.ndarray:
    w, x, y, z = q_wxyz
    r = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                  [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                  [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])  # fmt: skip
    return r.T @ v


class ExportError(Exception):
    """The export folder cannot be run: the message is the one line sim2sim prints."""


def inside(export_dir: str, name, what: str) -> str:
    """``name`` (a path from the manifest or the URDF) as a file inside ``export_dir``."""
    if not isinstance(name, str) or not name or os.path.isabs(name) or ".." in name.replace("\\", "/").split("/"):
        raise ExportError(f"{what} is '{name}'; sim2sim takes only relative paths inside the export folder")
    path = os.path.join(export_dir, name)
    real, root = os.path.realpath(path), os.path.realpath(export_dir)
    if os.path.commonpath([real, root]) != root:
        raise ExportError(f"{what} '{name}' leads out of the export folder (a link); sim2sim reads only inside it")
    if not os.path.isfile(path):
        raise ExportError(f"{what} '{name}' is not in the export folder; export again to write it")
    return real


def _floating(urdf: str, export_dir: str) -> str:
    """The URDF with its root link hung on a floating joint (MuJoCo's importer fixes a root) and
    its meshes named by their paths inside the export (MuJoCo would read them from the working
    directory when the model is compiled from a string)."""
    import xml.etree.ElementTree as ET

    try:
        tree = ET.parse(urdf)
    except ET.ParseError as e:
        raise ExportError(f"{urdf} is not a readable URDF ({e})") from None
    robot = tree.getroot()
    here = os.path.relpath(os.path.dirname(urdf), os.path.realpath(export_dir))
    for mesh in robot.iter("mesh"):
        name = os.path.normpath(os.path.join(here, mesh.get("filename", "")))
        mesh.set("filename", inside(export_dir, name, f"the URDF's mesh {mesh.get('filename')!r}"))
    children = {j.find("child").get("link") for j in robot.iter("joint")}
    root = next(link.get("name") for link in robot.iter("link") if link.get("name") not in children)
    ET.SubElement(robot, "link", name=_ROOT_LINK)
    joint = ET.SubElement(robot, "joint", name="floating_base", type="floating")
    ET.SubElement(joint, "parent", link=_ROOT_LINK)
    ET.SubElement(joint, "child", link=root)
    mujoco_tag = ET.SubElement(robot, "mujoco")
    ET.SubElement(mujoco_tag, "compiler", discardvisual="true")  # fusestatic: the root link is the world
    return ET.tostring(robot, encoding="unicode")


def gait_phase(steps: int, dt: float, period: float) -> np.ndarray:
    """The gait clock's observation term after ``steps`` policy steps of ``dt`` in the episode:
    sin and cos of 2 pi phase, phase = episode time / period modulo 1 (the manifest's gait)."""
    phase = (steps * dt / period) % 1.0
    return np.array([math.sin(2 * math.pi * phase), math.cos(2 * math.pi * phase)])


def read_manifest(export_dir: str) -> dict:
    """``deploy.yaml``, checked: a mapping, of a sane size, its numbers where numbers belong."""
    from mytasks.utils.yaml_files import YamlRefused, safe_load

    path = os.path.join(export_dir, "deploy.yaml")
    try:
        m = safe_load(path)
    except YamlRefused as e:
        raise ExportError(str(e)) from None
    if not isinstance(m, dict) or not isinstance(m.get("files"), dict) or not isinstance(m.get("control"), dict):
        raise ExportError(f"{path} is not a deploy manifest of mytasks (no files or control); export again")
    if "joints" not in m:
        return m
    try:
        j, names = m["joints"], list(m["joints"]["policy_order"])
        numbers = [float(m["control"]["dt"]), float(m["action"]["scale"])]
        for key in ("default_angles", "kp", "kd", "effort_limit"):
            numbers += [float(j[key][n]) for n in names]
        for key in ("base_init_pos", "base_init_rot_xyzw"):
            numbers += [float(v) for v in m["robot"][key]]
        for term in m["observations"]:
            str(term["name"]), int(term["size"]), np.asarray(term["scale"], dtype=np.float64)
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise ExportError(f"{path} is malformed ({type(e).__name__}: {first_line(e)[:200]}); export again") from None
    if not np.isfinite(numbers).all() or float(m["control"]["dt"]) <= 0:
        raise ExportError(f"{path} holds a non-finite number, or a control.dt that is not positive; export again")
    return m


class Sim2Sim:
    def __init__(self, export_dir: str, joint_order: list[str] | None = None):
        import mujoco
        import onnxruntime

        self.mujoco = mujoco
        self.m = m = read_manifest(export_dir)
        if "joints" not in m or "observations" not in m:
            note = m.get("note", "the task exported no deploy information")
            raise ExportError(f"sim2sim runs robots whose policy drives joints, and {export_dir}/deploy.yaml has no "
                              f"joints or observation layout: {note} (a task gives them with deploy_info(): "
                              "docs/writing_tasks.md)")  # fmt: skip
        onnx_file = inside(export_dir, m.get("files", {}).get("onnx"), "the manifest's files.onnx")
        try:
            self.policy = onnxruntime.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime's own error types
            raise ExportError(f"{onnx_file} is not a model onnxruntime can run ({first_line(e)[:200]})") from None
        j = m["joints"]
        self.names = list(joint_order or j["policy_order"])
        urdf = inside(export_dir, m.get("robot", {}).get("urdf"), "the manifest's robot.urdf")
        try:
            spec = mujoco.MjSpec.from_string(_floating(urdf, export_dir))
        except ValueError as e:  # MuJoCo's compiler
            raise ExportError(f"MuJoCo cannot load {urdf} ({first_line(e)[:200]})") from None
        spec.option.timestep = SIM_DT
        robot_self = bool(m["robot"].get("self_collisions", False))
        for g in spec.geoms:
            g.contype, g.conaffinity = 1, (1 if robot_self else 0)
        spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 1], contype=0, conaffinity=1,
                                friction=[float(m["robot"].get("ground_friction", 1.0)), 0.005, 0.0001])  # fmt: skip
        spec.worldbody.add_light(pos=[0, 0, 4], dir=[0, 0, -1])
        armature = j.get("armature", {})  # per joint; manifests before it had one robot.armature
        for joint in spec.joints:
            if joint.name in self.names:
                joint.armature = float(armature.get(joint.name, m["robot"].get("armature", 0.0)))
        self.model = spec.compile()
        self.data = mujoco.MjData(self.model)
        jid = [mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, n) for n in self.names]
        if min(jid) < 0:
            missing = [n for n, i in zip(self.names, jid, strict=True) if i < 0]
            raise ExportError(f"the URDF has no joints {missing}")
        self.qadr = np.array([self.model.jnt_qposadr[i] for i in jid])
        self.vadr = np.array([self.model.jnt_dofadr[i] for i in jid])
        # The manifest's numbers, looked up by name in the policy's order.
        self.default = np.array([j["default_angles"][n] for n in j["policy_order"]])
        self.kp = np.array([j["kp"][n] for n in j["policy_order"]])
        self.kd = np.array([j["kd"][n] for n in j["policy_order"]])
        self.effort = np.array([j["effort_limit"][n] for n in j["policy_order"]])
        self.scale = float(m["action"]["scale"])
        self.decimation = max(1, int(round(float(m["control"]["dt"]) / SIM_DT)))
        self.actions = np.zeros(len(self.names))
        self.command = np.zeros(3)
        self._reset()

    def _reset(self) -> None:
        d, m = self.data, self.m
        self.steps = 0  # policy steps in the episode, for the gait clock
        d.qpos[:3] = m["robot"]["base_init_pos"]
        x, y, z, w = m["robot"]["base_init_rot_xyzw"]
        d.qpos[3:7] = [w, x, y, z]
        d.qpos[self.qadr] = self.default
        d.qvel[:] = 0.0
        self.mujoco.mj_forward(self.model, d)
        self.start_height = float(d.qpos[2])

    def base_velocity(self) -> tuple[np.ndarray, np.ndarray]:
        """Linear and angular velocity of the base in its own frame."""
        q = self.data.qpos[3:7]
        return _quat_rotate_inverse(q, self.data.qvel[:3]), self.data.qvel[3:6].copy()  # free joint: local ω

    def observation(self) -> np.ndarray:
        d = self.data
        lin, ang = self.base_velocity()
        terms = {
            "base_lin_vel": lin, "base_ang_vel": ang,
            "projected_gravity": _quat_rotate_inverse(d.qpos[3:7], np.array([0.0, 0.0, -1.0])),
            "commands": self.command, "dof_pos": d.qpos[self.qadr] - self.default, "dof_vel": d.qvel[self.vadr],
            "actions": self.actions,
        }  # fmt: skip
        if "gait" in self.m:
            dt, period = float(self.m["control"]["dt"]), float(self.m["gait"]["period"])
            terms["gait_phase"] = gait_phase(self.steps, dt, period)
        parts = []
        for term in self.m["observations"]:
            if term["name"] not in terms:
                raise ExportError(f"sim2sim does not know the observation term '{term['name']}'")
            value = np.asarray(terms[term["name"]], dtype=np.float64) * np.asarray(term["scale"], dtype=np.float64)
            if value.shape != (int(term["size"]),):
                raise ExportError(f"observation term {term['name']}: size {value.shape} is not {term['size']}")
            parts.append(value)
        return np.concatenate(parts).astype(np.float32)

    def step(self) -> None:
        """One policy step: observe, act, then ``decimation`` sim steps of PD."""
        obs = self.observation()[None]
        self.actions = self.policy.run(None, {"obs": obs})[0][0].astype(np.float64)
        self.steps += 1
        target = self.default + self.scale * self.actions
        d = self.data
        for _ in range(self.decimation):
            tau = self.kp * (target - d.qpos[self.qadr]) - self.kd * d.qvel[self.vadr]
            d.qfrc_applied[self.vadr] = np.clip(tau, -self.effort, self.effort)
            self.mujoco.mj_step(self.model, d)

    def diverged(self) -> bool:
        """The simulation blew up: a non-finite state or action, or MuJoCo's warning that its
        accelerations went bad (it then resets the state itself)."""
        d = self.data
        bad_qacc = int(d.warning[self.mujoco.mjtWarning.mjWARN_BADQACC].number)
        return bad_qacc > 0 or not (np.isfinite(d.qpos).all() and np.isfinite(d.qvel).all()
                                    and np.isfinite(self.actions).all())  # fmt: skip

    def fallen(self) -> bool:
        w, x, y, z = self.data.qpos[3:7]
        roll = math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
        pitch = math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x))))
        t = self.m.get("terminations", {})
        return (abs(roll) > float(t.get("max_roll", 0.8)) or abs(pitch) > float(t.get("max_pitch", 1.0))
                or self.data.qpos[2] < self.start_height / 3)  # fmt: skip


def run(export_dir: str, command=(0.0, 0.0, 0.0), seconds: float = 10.0, video: str | None = None,
        joint_order: list[str] | None = None) -> dict:  # fmt: skip
    """Runs the policy for ``seconds`` at ``command``; returns the figures of the final line."""
    s = Sim2Sim(export_dir, joint_order)
    goal = np.asarray(command, dtype=np.float64)
    dt = s.decimation * SIM_DT
    steps = int(round(seconds / dt))
    lin_sum, ang_sum, counted, fell, diverged = np.zeros(3), np.zeros(3), 0, False, False
    frames = _Video(s, video, 1.0 / dt) if video else None
    for i in range(steps):
        s.command = goal * min(1.0, i * dt / RAMP)  # from standing still, as a robot is started
        s.step()
        if s.diverged():
            diverged = True
            break
        if frames:
            frames.add()
        if (i + 1) * dt > min(SETTLE, seconds / 2):
            lin, ang = s.base_velocity()
            lin_sum, ang_sum, counted = lin_sum + lin, ang_sum + ang, counted + 1
        if s.fallen():
            fell = True
            break
    if frames:
        frames.close()
    n = max(counted, 1)
    return {"seconds": round((i + 1) * dt, 3), "mean_vx": lin_sum[0] / n, "mean_vy": lin_sum[1] / n,
            "mean_yaw_rate": ang_sum[2] / n, "fell": int(fell), "diverged": int(diverged)}  # fmt: skip


class _Video:
    """MuJoCo's own offscreen renderer into an H.264 file (PyAV), a camera tracking the base."""

    def __init__(self, s: Sim2Sim, path: str, fps: float):
        import av

        self.s = s
        self.renderer = s.mujoco.Renderer(s.model, 360, 640)
        self.camera = s.mujoco.MjvCamera()
        self.camera.type = s.mujoco.mjtCamera.mjCAMERA_TRACKING
        self.camera.trackbodyid = 1
        self.camera.distance, self.camera.elevation, self.camera.azimuth = 2.0, -20.0, 135.0
        self.container = av.open(path, "w")
        self.stream = self.container.add_stream("h264", rate=round(fps))
        self.stream.width, self.stream.height, self.stream.pix_fmt = 640, 360, "yuv420p"

    def add(self) -> None:
        import av

        self.renderer.update_scene(self.s.data, self.camera)
        frame = av.VideoFrame.from_ndarray(self.renderer.render(), format="rgb24")
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


def watch(export_dir: str, command=(0.0, 0.0, 0.0)) -> None:
    """MuJoCo's own viewer, in real time, until it is closed; W/S, A/D and Q/E step the
    command by a tenth of the manifest's ranges, X stops."""
    import time

    import mujoco.viewer

    s = Sim2Sim(export_dir)
    s.command = np.asarray(command, dtype=np.float64)
    ranges = s.m.get("commands", {"vx": [-1, 1], "vy": [-1, 1], "yaw_rate": [-1, 1]})
    steps = {ord("W"): (0, 1), ord("S"): (0, -1), ord("A"): (1, 1), ord("D"): (1, -1), ord("Q"): (2, 1),
             ord("E"): (2, -1)}  # fmt: skip
    span = [ranges[k][1] - ranges[k][0] for k in ("vx", "vy", "yaw_rate")]

    def key(code: int) -> None:
        if code == ord("X"):
            s.command[:] = 0.0
        elif code in steps:
            i, sign = steps[code]
            lo, hi = ranges[("vx", "vy", "yaw_rate")[i]]
            s.command[i] = min(max(s.command[i] + sign * span[i] / 10, lo), hi)
        else:
            return
        print(f"command vx {s.command[0]:+.2f} vy {s.command[1]:+.2f} yaw {s.command[2]:+.2f}", flush=True)

    dt = s.decimation * SIM_DT
    with mujoco.viewer.launch_passive(s.model, s.data, key_callback=key) as v:
        v.cam.type, v.cam.trackbodyid, v.cam.distance = mujoco.mjtCamera.mjCAMERA_TRACKING, 1, 2.0
        start, n = time.perf_counter(), 0
        while v.is_running():
            s.step()
            v.sync()
            n += 1
            time.sleep(max(0.0, start + n * dt - time.perf_counter()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mytasks.sim2sim", description=__doc__.split("\n\n")[0])
    ap.add_argument("export_dir", help="a directory written by train.py ... export=True")
    ap.add_argument("--command", nargs=3, type=float, default=(0.0, 0.0, 0.0), metavar=("VX", "VY", "YAW"))
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--video", default=None, help="an .mp4 file to write (MuJoCo's renderer; EGL without a display)")
    ap.add_argument("--viewer", action="store_true", help="MuJoCo's viewer; W/S, A/D, Q/E set the command")
    args = ap.parse_args(argv)
    if args.video and not os.environ.get("DISPLAY") and "MUJOCO_GL" not in os.environ:
        os.environ["MUJOCO_GL"] = "egl"  # chosen before mujoco is imported
    if not os.path.isfile(os.path.join(args.export_dir, "deploy.yaml")):
        print(f"error: {args.export_dir} has no deploy.yaml; write one with train.py ... test=True export=True",
              file=sys.stderr)  # fmt: skip
        return 2
    for module in ("mujoco", "onnxruntime"):
        try:
            __import__(module)
        except ImportError:
            print(f"error: sim2sim needs the {module} package: pip install {module}", file=sys.stderr)
            return 2
    try:
        if args.viewer:
            watch(args.export_dir, args.command)
            return 0
        r = run(args.export_dir, args.command, args.seconds, args.video)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"sim2sim: seconds={r['seconds']:g} mean_vx={r['mean_vx']:.3f} mean_vy={r['mean_vy']:.3f} "
          f"mean_yaw_rate={r['mean_yaw_rate']:.3f} fell={r['fell']} diverged={r['diverged']}")  # fmt: skip
    if r["diverged"]:
        print(f"sim2sim: the simulation diverged after {r['seconds']:g} s (non-finite state, or MuJoCo's "
              "instability warning); check the manifest's gains, limits and control.dt", file=sys.stderr)  # fmt: skip
        return 1
    return 0

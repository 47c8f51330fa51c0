"""Video clips of env 0 during training and play (``capture_video=True``).

Every ``capture_video_freq`` policy steps a clip of ``capture_video_len`` steps starts; each
step renders one frame from a camera sensor of the isaacgym API (on Newton: ray-traced by
Warp, so it works with no display and no GPU) that follows env 0's first actor. Clips are
H.264 mp4 at the control rate (real time), encoded by PyAV while they are recorded, and
renamed into place when complete. A recorder that fails says so in one line and stops; it
never stops training.
"""

from __future__ import annotations

import fractions
import os

import numpy as np

from mytasks.sim import gymapi, gymtorch
from mytasks.utils.errors import UserError

WIDTH, HEIGHT = 640, 360
VIEW = np.array([0.55, -1.0, 0.35])  # from the followed actor towards the camera, scaled by its size


def check_encoder() -> None:
    try:
        import av  # noqa: F401
    except ImportError:
        raise UserError("capture_video=True needs PyAV, the video encoder: pip install av==18.1.0") from None


class VideoRecorder:
    def __init__(self, task, folder: str, every: int, length: int):
        check_encoder()
        self.task, self.folder, self.every, self.length = task, folder, max(1, int(every)), max(1, int(length))
        self.fps = 1.0 / (task.sim_params.dt * task.control_freq_inv)
        self.steps = 0
        self.clip = None
        self.failed = False
        gym, sim, env = task.gym, task.sim, task.envs[0]
        props = gymapi.CameraProperties()
        props.width, props.height, props.horizontal_fov = WIDTH, HEIGHT, 60.0
        self.camera = gym.create_camera_sensor(env, props)
        self.root = gymtorch.wrap_tensor(gym.acquire_actor_root_state_tensor(sim))
        # How far the camera stays: twice the env spacing of the task (the room an env is given).
        spacing = float(task.cfg["env"].get("envSpacing", 1.5))
        self.distance = min(max(2.0 * spacing, 2.0), 12.0)

    def after_step(self) -> None:
        """Called by ``VecTask.step`` after each policy step."""
        if self.failed:
            return
        try:
            if self.clip is None and self.steps % self.every == 0:
                self._start()
            if self.clip is not None:
                self._frame()
        except Exception as e:  # a recorder never stops the run
            self.failed = True
            print(f"mytasks: video recording stopped: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            self._abandon()
        self.steps += 1

    def _start(self) -> None:
        import av

        os.makedirs(self.folder, exist_ok=True)
        path = os.path.join(self.folder, f"step-{self.steps:09d}.mp4")
        tmp = os.path.join(self.folder, f".step-{self.steps:09d}.tmp-{os.getpid()}.mp4")
        container = av.open(tmp, "w")
        stream = container.add_stream("libx264", rate=fractions.Fraction(self.fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        self.clip = {"path": path, "tmp": tmp, "container": container, "stream": stream, "frames": 0}

    def _frame(self) -> None:
        import av

        gym, sim, env = self.task.gym, self.task.sim, self.task.envs[0]
        gym.refresh_actor_root_state_tensor(sim)
        at = self.root[0, 0:3].detach().cpu().numpy().astype(np.float64)
        eye = at + self.distance * VIEW / np.linalg.norm(VIEW)
        gym.set_camera_location(self.camera, env, gymapi.Vec3(*eye), gymapi.Vec3(*at))
        gym.render_all_camera_sensors(sim)
        rgba = gym.get_camera_image(sim, env, self.camera, gymapi.IMAGE_COLOR).reshape(HEIGHT, WIDTH, 4)
        clip = self.clip
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba[..., :3]), format="rgb24")
        for packet in clip["stream"].encode(frame):
            clip["container"].mux(packet)
        clip["frames"] += 1
        if clip["frames"] >= self.length:
            self._finish()

    def _finish(self) -> None:
        clip, self.clip = self.clip, None
        for packet in clip["stream"].encode():
            clip["container"].mux(packet)
        clip["container"].close()
        clip["path"] = _take_name(clip["tmp"], clip["path"])
        seconds = clip["frames"] / self.fps
        print(f"video: {clip['path']} ({clip['frames']} frames, {seconds:.1f} s at {self.fps:.0f} fps)")

    def _abandon(self) -> None:
        clip, self.clip = self.clip, None
        if clip is None:
            return
        try:
            clip["container"].close()
        except Exception:  # the file is discarded either way
            pass
        if os.path.exists(clip["tmp"]):
            os.remove(clip["tmp"])

    def close(self) -> None:
        """Writes a clip in progress, shorter than ``length``, if it has frames."""
        if self.clip is not None and not self.failed:
            if self.clip["frames"]:
                self._finish()
            else:
                self._abandon()


def _take_name(tmp: str, path: str) -> str:
    """Renames ``tmp`` to ``path``, or to ``<path stem>_2.mp4``, ``_3``... when a clip of an
    earlier play is there already (never replaced); returns the name it took."""
    stem, ext = os.path.splitext(path)
    for k in range(1, 10000):
        target = path if k == 1 else f"{stem}_{k}{ext}"
        try:
            os.link(tmp, target)  # fails if the name is taken, where a rename would replace
        except FileExistsError:
            continue
        except OSError:  # a file system without hard links
            if os.path.exists(target):
                continue
            os.replace(tmp, target)
            return target
        os.remove(tmp)
        return target
    os.replace(tmp, path)
    return path

"""Video clips: real H.264 files that decode, with frames that show what the sim did."""

from __future__ import annotations

import glob
import os

import av
import numpy as np
import pytest
import torch
from conftest import CPU, run_train

from mytasks.tasks import make_task
from mytasks.tasks.base.video import HEIGHT, WIDTH, VideoRecorder
from mytasks.utils.config import compose


def _decode(path: str) -> tuple[list[np.ndarray], float]:
    with av.open(path) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264"
        rate = float(stream.average_rate)
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)], rate


def _cart_column(frame: np.ndarray) -> float:
    """Mean image column of the cart: columns where a band around the rail holds a tall run of
    strongly coloured pixels (the rail is a thin line, the pole a thin slant)."""
    band = frame[HEIGHT // 2 - 40 : HEIGHT // 2 + 40].astype(int)
    saturated = (band.max(axis=2) - band.min(axis=2)) > 60
    columns = np.nonzero(saturated.sum(axis=0) >= 8)[0]
    assert len(columns), "no cart in the frame"
    return float(columns.mean())


def test_a_clip_shows_the_cart_moving_as_the_sim_says(tmp_path):
    torch.manual_seed(0)
    task = make_task(compose(["task=Cartpole", "num_envs=4", *CPU, "task.env.maxEffort=60"]), headless=True)
    recorder = VideoRecorder(task, str(tmp_path), every=1000, length=40)
    task.recorder = recorder
    positions = []
    for step in range(40):
        push = 1.0 if step < 20 else -1.0
        task.step(torch.full((4, 1), push))
        positions.append(float(task.dof_pos[0, task.cart_dof]))
    (clip,) = glob.glob(str(tmp_path / "step-*.mp4"))
    assert not glob.glob(str(tmp_path / ".*"))  # the temporary file was renamed into place
    frames, rate = _decode(clip)
    assert len(frames) == 40 and frames[0].shape == (HEIGHT, WIDTH, 3)
    assert rate == pytest.approx(1 / 0.0166, rel=1e-3)  # real time at the control rate
    for f in frames:  # not blank: sky above, ground below, and the coloured cart and pole
        f = f.astype(int)
        assert f[:10].mean() - f[-60:].mean() > 20
        assert ((f.max(axis=2) - f.min(axis=2)) > 60).sum() > 500
    assert np.abs(frames[0].astype(int) - frames[-1]).mean() > 0.5  # the picture changes
    columns = np.array([_cart_column(f) for f in frames])
    moved = np.array(positions) - positions[0]
    assert np.ptp(moved) > 0.3  # [m]: the cart went out and came back
    assert np.corrcoef(columns, moved)[0, 1] > 0.95  # the image follows the sim's cart position
    assert np.polyfit(moved, columns, 1)[0] > 0  # +x in the sim is to the right in the picture


def test_a_failing_recorder_does_not_stop_the_task(tmp_path, capsys):
    task = make_task(compose(["task=Cartpole", "num_envs=4", *CPU]), headless=True)
    task.recorder = VideoRecorder(task, str(tmp_path), every=1, length=5)
    task.recorder.camera = 99  # no such camera: the first frame fails
    for _ in range(3):
        task.step(torch.zeros(4, 1))
    assert "video recording stopped: IndexError" in capsys.readouterr().out
    assert os.listdir(tmp_path) == []  # the broken clip is gone


@pytest.mark.slow
def test_capture_video_in_training_and_play(tmp_path):
    p = run_train("task=Cartpole", "headless=True", "num_envs=64", "max_iterations=3", "capture_video=True",
                  "capture_video_freq=20", "capture_video_len=10", "experiment=vid", cwd=str(tmp_path))  # fmt: skip
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    (run_dir,) = glob.glob(str(tmp_path / "runs" / "vid_*"))
    clips = sorted(glob.glob(os.path.join(run_dir, "videos", "train", "step-*.mp4")))
    # 3 epochs of 16 steps: clips start at steps 0, 20 and 40; the last one ends with the run
    assert [os.path.basename(c) for c in clips] == [f"step-0000000{k:02d}.mp4" for k in (0, 20, 40)]
    assert f"video: runs/{os.path.basename(run_dir)}/videos/train/step-000000000.mp4 (10 frames" in p.stdout
    assert [len(_decode(c)[0]) for c in clips] == [10, 10, 8]
    p = run_train("test=True", f"checkpoint={run_dir}", "num_envs=4", "play_episodes=4", "capture_video=True",
                  "capture_video_len=15", "task.env.maxEpisodeLength=30", cwd=str(tmp_path))  # fmt: skip
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    (clip,) = glob.glob(os.path.join(run_dir, "videos", "play", "step-*.mp4"))
    assert len(_decode(clip)[0]) == 15
    first = open(clip, "rb").read()
    p = run_train("test=True", f"checkpoint={run_dir}", "num_envs=4", "play_episodes=4", "capture_video=True",
                  "capture_video_len=12", "task.env.maxEpisodeLength=30", cwd=str(tmp_path))  # fmt: skip
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert open(clip, "rb").read() == first  # a later play never replaces an earlier one's clip
    assert len(_decode(clip.replace(".mp4", "_2.mp4"))[0]) == 12


def test_a_camera_made_while_building_the_scene_renders_it(tmp_path):
    """As IsaacGymEnvs tasks do: create_camera_sensor and set_camera_location before prepare_sim."""
    from conftest import ASSETS

    from mytasks.sim import gymapi

    gym = gymapi.acquire_gym()
    sp = gymapi.SimParams()
    sp.use_gpu_pipeline = False
    sim = gym.create_sim(-1, -1, gymapi.SIM_NEWTON, sp)
    gym.add_ground(sim, gymapi.PlaneParams())
    asset = gym.load_asset(sim, ASSETS, "urdf/cartpole.urdf", gymapi.AssetOptions())
    env = gym.create_env(sim, gymapi.Vec3(-2, -2, 0), gymapi.Vec3(2, 2, 2), 1)
    gym.create_actor(env, asset, gymapi.Transform(gymapi.Vec3(0.0, 0.0, 2.0)), "cartpole", 0, 1, 0)
    props = gymapi.CameraProperties()
    props.width, props.height = 160, 90
    cam = gym.create_camera_sensor(env, props)
    gym.set_camera_location(cam, env, gymapi.Vec3(0.0, -6.0, 2.0), gymapi.Vec3(0.0, 0.0, 2.0))
    gym.prepare_sim(sim)
    gym.simulate(sim)
    gym.render_all_camera_sensors(sim)
    image = gym.get_camera_image(sim, env, cam, gymapi.IMAGE_COLOR)
    assert image.shape == (90, 160 * 4) and image.dtype == np.uint8
    rgb = image.reshape(90, 160, 4)[..., :3].astype(int)
    middle = rgb[35:55, 70:90]  # the cart, seen from the front at the centre of the picture
    assert (middle.max(axis=2) - middle.min(axis=2)).max() > 60  # the coloured cart
    assert rgb[:5].mean() - rgb[-10:].mean() > 20  # sky above, ground below

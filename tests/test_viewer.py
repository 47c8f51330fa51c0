"""The viewers as users meet them: a real window on a real X server (Xvfb, Mesa's software
OpenGL), a real web page in a real browser (Debian's headless Chromium, driven by Selenium),
keys sent by xdotool, and ``train.py`` run as a user runs it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time

import numpy as np
import pytest
import torch
from conftest import CPU, IGE, ROOT, TRAIN, needs_ige, run_train, start_train
from PIL import Image, ImageGrab

from mytasks.rl import checkpoints
from mytasks.utils.config import compose

GO2_PLAY = ["task=Go2", "test=True", f"checkpoint={ROOT}/assets/checkpoints/Go2.pth", *CPU]
CARTPOLE = ["task=Cartpole", *CPU, "num_envs=16", "train.params.config.horizon_length=16",
            "train.params.config.minibatch_size=256"]  # fmt: skip
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1200,800"]  # fmt: skip


def _need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.fail(f"{program} is not installed; the README's install command installs it")
    return path


@pytest.fixture(scope="module")
def display():
    """A fresh X server for the module's windows."""
    _need("Xvfb")
    number = next(n for n in range(90, 200) if not os.path.exists(f"/tmp/.X11-unix/X{n}"))
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 20
    while not os.path.exists(f"/tmp/.X11-unix/X{number}"):
        assert server.poll() is None and time.time() < deadline, "Xvfb did not start"
        time.sleep(0.1)
    yield f":{number}"
    server.terminate()
    server.wait(10)


class Run:
    """``python train.py ARGS`` in the background, its output read as it comes."""

    def __init__(self, tmp_path, *args: str, env: dict | None = None):
        self.log = tmp_path / "out.txt"
        with open(self.log, "w") as out:
            self.proc = start_train(*args, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)

    @property
    def out(self) -> str:
        return self.log.read_text()

    def wait_for(self, text: str, timeout: float = 240) -> None:
        deadline = time.time() + timeout
        while text not in self.out:
            assert self.proc.poll() is None, f"train.py ended before '{text}':\n{self.out}"
            assert time.time() < deadline, f"no '{text}' after {timeout} s:\n{self.out}"
            time.sleep(0.2)

    def end(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def _saturated(image: np.ndarray) -> int:
    """Pixels of strong colour: the robots' and carts' bodies, never the grey ground or sky."""
    rgb = image[..., :3].astype(int)
    return int(((rgb.max(axis=2) - rgb.min(axis=2)) > 60).sum())


def _window(display: str) -> str:
    env = dict(os.environ, DISPLAY=display)
    deadline = time.time() + 60
    while time.time() < deadline:
        found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "mytasks"], env=env,
                               capture_output=True, text=True).stdout.split()  # fmt: skip
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError("no mytasks window on the display")


def _keys(display: str, *keys: str) -> None:
    env = dict(os.environ, DISPLAY=display)
    window = _window(display)
    subprocess.run(["xdotool", "windowfocus", "--sync", window], env=env, check=True, timeout=20)
    subprocess.run(["xdotool", "key", "--delay", "120", *keys], env=env, check=True, timeout=20)


def _screen(display: str) -> np.ndarray:
    return np.asarray(ImageGrab.grab(xdisplay=display))


@pytest.mark.slow
def test_the_window_shows_the_robots_and_esc_ends_play(display, tmp_path):
    _need("xdotool")
    run = Run(tmp_path, *GO2_PLAY, "num_envs=4", "viewer=native", env=dict(os.environ, DISPLAY=display))
    run.wait_for("playing until the viewer closes")
    deadline = time.time() + 120
    while _saturated(screen := _screen(display)) < 2000:  # the window draws its first frames
        assert time.time() < deadline, "the window shows no robot"
        time.sleep(0.5)
    Image.fromarray(screen).save(tmp_path / "window.png")
    h, w = 720, 1280  # the window's size, at the screen's top left
    scene = screen[:h, 320:w].astype(int)  # right of the side panel
    assert scene.std() > 10 and _saturated(scene) > 2000  # the ground, and the coloured bodies of the Go2s
    time.sleep(3.0)
    later = _screen(display)[:h, 320:w].astype(int)
    assert np.abs(later - scene).mean() > 0.2  # drawn from the live state: the robots move
    _keys(display, "Escape")
    assert run.end() == 0, run.out
    assert "play ended after" in run.out or "played" in run.out


@needs_ige
@pytest.mark.slow
def test_an_upstream_task_plays_in_the_window(display, tmp_path):
    """Upstream IsaacGymEnvs' Ant from its checkout (its own create_viewer and render calls),
    briefly trained, then played in the window."""
    _need("xdotool")
    p = run_train("task=Ant", f"ige_root={IGE}", "headless=True", "num_envs=16", "max_iterations=2",
                  "experiment=ant", cwd=str(tmp_path))  # fmt: skip
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    run_dir = next((tmp_path / "runs").glob("ant_*"))
    run = Run(tmp_path, "test=True", f"checkpoint={run_dir}", f"ige_root={IGE}", "num_envs=4", "viewer=native",
              env=dict(os.environ, DISPLAY=display))  # fmt: skip
    run.wait_for("playing until the viewer closes")
    deadline = time.time() + 120
    while _saturated(screen := _screen(display)[:720, 320:1280]) < 1000:  # the ants' orange bodies
        assert time.time() < deadline, "the window shows no ant"
        time.sleep(0.5)
    Image.fromarray(screen.astype(np.uint8)).save(tmp_path / "window.png")
    _keys(display, "Escape")
    assert run.end() == 0, run.out


@pytest.mark.slow
@pytest.mark.parametrize("learner", ["rl_games", "rsl_rl", "skrl", "sb3"])
def test_closing_the_window_in_training_saves_a_checkpoint(display, tmp_path, learner):
    _need("xdotool")
    args = CARTPOLE if learner == "rl_games" else [*CARTPOLE[:3], f"learner={learner}"]
    run = Run(tmp_path, *args, "max_iterations=1000", "viewer=native", env=dict(os.environ, DISPLAY=display))
    run.wait_for(" 2/1000")
    _keys(display, "Escape")
    assert run.end() == 0, run.out
    assert "the viewer closed: training stopped after epoch" in run.out
    saved = os.path.join(tmp_path, run.out.split("checkpoint saved: ")[1].split()[0])
    state = checkpoints.load(saved, key="epoch")  # as play and resume load it: tensors and numbers only
    assert state["epoch"] >= 2 and state["epoch"] < 1000
    assert f"play it back: {TRAIN} task=Cartpole test=True checkpoint=runs/" in run.out


@pytest.mark.slow
def test_keys_in_the_window_set_the_go2_command(display, monkeypatch):
    """W/S, A/D and Q/E step the velocity command of every env by a tenth of its range; X stops."""
    _need("xdotool")
    monkeypatch.setenv("DISPLAY", display)
    from mytasks.tasks import make_task

    cfg = compose([*GO2_PLAY, "num_envs=2", "viewer=native"])
    task = make_task(cfg)
    try:
        assert task.teleop is not None
        zero = torch.zeros((2, task.num_actions))
        for _ in range(3):  # the window shows once it has drawn
            task.step(zero)

        def command_after(*keys):
            _keys(display, *keys)
            for _ in range(10):  # the events arrive with the next frames
                task.step(zero)
            return task.commands[:, :3].flatten().tolist()

        assert command_after("w", "w", "a") == pytest.approx([0.4, 0.2, 0.0] * 2)
        assert command_after("q", "s") == pytest.approx([0.2, 0.2, 0.2] * 2)
        assert command_after("x") == [0.0, 0.0, 0.0] * 2
        assert task.viewer.v.camera is not None and not task.viewer_closed
    finally:
        task.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = _need("chromium")
    for flag in BROWSER_FLAGS:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(_need("chromedriver")), options=options)


@pytest.mark.slow
def test_the_web_viewer_in_a_browser_shows_the_robots_and_its_slider_sets_the_command(tmp_path):
    """Without a display, play serves the web viewer (viewer=auto); a taken port gives the next."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    port = _free_port()
    taken = socket.socket()
    taken.bind(("127.0.0.1", port))
    taken.listen()
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    run = Run(tmp_path, *GO2_PLAY, "num_envs=4", "viewer=auto", f"viewer_port={port}", env=env)
    try:
        run.wait_for("playing until the viewer closes")
        line = next(ln for ln in run.out.splitlines() if "web viewer at" in ln)
        url = line.split("web viewer at ")[1].split(";")[0].split()[0]
        assert url.startswith("http://127.0.0.1:") and int(url.rsplit(":", 1)[1]) != port
        assert f"(port {port} is in use)" in line
        browser = _browser()
        try:
            browser.get(url)
            deadline = time.time() + 120
            while len(sliders := browser.find_elements(By.CSS_SELECTOR, '[role="slider"]')) < 3:
                assert time.time() < deadline, "the page shows no command sliders"
                time.sleep(0.5)
            while _saturated(shot := np.asarray(Image.open(_png(browser, tmp_path)))) < 2000:
                assert time.time() < deadline, "the page shows no robot"
                time.sleep(1.0)
            assert shot[..., :3].std() > 20  # not a blank page
            browser.execute_script("arguments[0].focus();", sliders[0])  # the vx slider, moved from the keyboard
            ActionChains(browser).send_keys(Keys.ARROW_RIGHT * 5).perform()
            run.wait_for("mytasks: command vx +0.05 m/s", timeout=60)
        finally:
            browser.quit()
        run.proc.send_signal(signal.SIGINT)  # a web viewer's play ends with Ctrl-C
        assert run.end() == 0, run.out
    finally:
        taken.close()
        if run.proc.poll() is None:
            run.proc.kill()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=2):
        pass  # the server stopped with the run


def _epochs_seen(run: Run) -> int:
    return len([ln for ln in run.out.splitlines() if ln.startswith("epoch ")])


def _handshake(port: int, origin: str | None, host: str | None = None) -> str:
    """'connected', or the status a websocket handshake with these headers was refused with."""
    import asyncio

    import viser
    import websockets

    async def connect() -> str:
        uri = f"ws://{host or f'127.0.0.1:{port}'}"  # the Host header; the socket goes to 127.0.0.1 all the same
        try:
            async with websockets.connect(uri, host="127.0.0.1", port=port, origin=origin, open_timeout=10,
                                          subprotocols=[f"viser-v{viser.__version__}"]):  # fmt: skip
                return "connected"
        except websockets.InvalidStatus as e:
            return f"refused {e.response.status_code}"

    return asyncio.run(connect())


@pytest.mark.slow
def test_the_web_viewer_answers_only_its_own_page_and_holds_no_pause_without_a_browser(tmp_path):
    """A foreign page cannot reach the viewer's websocket (cross-site hijacking, DNS rebinding);
    Pause holds training only while a browser is connected."""
    import urllib.error
    import urllib.request

    from selenium.webdriver.common.by import By

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    run = Run(tmp_path, *CARTPOLE, "max_iterations=100000", "viewer=web", f"viewer_port={port}", env=env)
    try:
        run.wait_for("/100000  reward")
        assert _handshake(port, "http://evil.example") == "refused 403"
        assert _handshake(port, "http://localhost:3000") == "refused 403"  # another local page
        assert _handshake(port, f"http://evil.example:{port}", host=f"evil.example:{port}") == "refused 403"
        assert _handshake(port, f"http://127.0.0.1:{port}") == "connected"
        assert _handshake(port, f"http://localhost:{port}", host=f"localhost:{port}") == "connected"  # ssh -L too
        rebound = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": f"evil.example:{port}"})
        with pytest.raises(urllib.error.HTTPError, match="403"):
            urllib.request.urlopen(rebound, timeout=10)
        browser = _browser()
        try:
            browser.get(f"http://127.0.0.1:{port}")
            deadline = time.time() + 120
            while not (pause := browser.find_elements(By.XPATH, "//label[normalize-space()='Pause']")):
                assert time.time() < deadline, "the page shows no Pause"
                time.sleep(0.5)
            pause[0].click()
            deadline, held = time.time() + 30, -1
            while held != _epochs_seen(run):  # until no epoch ended for 3 s (a loaded machine is slow to pause)
                assert time.time() < deadline, "Pause did not hold training"
                held = _epochs_seen(run)
                time.sleep(3)
            time.sleep(3)
            assert _epochs_seen(run) == held, "Pause did not hold training"
        finally:
            browser.quit()  # the tab closes with training paused
        deadline = time.time() + 30
        while _epochs_seen(run) <= held + 3:
            assert time.time() < deadline, f"training stayed paused without a browser:\n{run.out[-1500:]}"
            time.sleep(0.5)
        run.proc.send_signal(signal.SIGINT)
        assert run.end(timeout=60) == -signal.SIGINT, run.out[-2000:]
        assert "checkpoint saved: runs/" in run.out
    finally:
        if run.proc.poll() is None:
            run.proc.kill()


def _png(browser, tmp_path) -> str:
    path = str(tmp_path / "page.png")
    browser.save_screenshot(path)
    return path


@pytest.mark.slow
def test_viewer_native_without_a_display_is_one_line_naming_viewer_web(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    p = run_train(*GO2_PLAY, "num_envs=2", "viewer=native", cwd=tmp_path, env=env, timeout=300)
    assert p.returncode == 2, p.stdout + p.stderr
    assert p.stderr.strip().splitlines()[-1] == (
        "error: viewer=native needs a display and DISPLAY is not set; use viewer=web to watch in a browser"
    )
    assert "Traceback" not in p.stderr


def test_training_without_a_display_says_how_to_watch(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    p = run_train(*CARTPOLE, "max_iterations=1", "viewer=auto", cwd=tmp_path, env=env, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "mytasks: no display, so no viewer; to watch training in a browser add viewer=web" in p.stdout


def test_a_failing_viewer_is_dropped_with_one_line_and_the_task_goes_on(capsys):
    from mytasks.tasks import make_task

    port = _free_port()
    task = make_task(compose(["task=Cartpole", "num_envs=4", *CPU, "viewer=web", f"viewer_port={port}"]))
    try:
        viewer = task.viewer

        def broken():
            raise RuntimeError("GL context lost\nmore")

        viewer.draw = broken
        for _ in range(3):
            task.step(torch.zeros((4, 1)))
        assert task.viewer is None and not task.viewer_closed  # dropped, not a user's "quit"
        assert capsys.readouterr().out.count("mytasks: the viewer failed (RuntimeError: GL context lost); "
                                             "going on without it") == 1  # fmt: skip
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # its server stopped
    finally:
        task.close()


def _pure(image: np.ndarray, channel: int) -> int:
    """Pixels of one strong primary colour (0 red, 1 green, 2 blue)."""
    rgb = image[..., :3].astype(int)
    others = [c for c in range(3) if c != channel]
    return int(((rgb[..., channel] > 150) & (rgb[..., others[0]] < 90) & (rgb[..., others[1]] < 90)).sum())


@pytest.mark.slow
def test_debug_lines_show_in_the_window_until_cleared_and_a_body_takes_its_colour(display, monkeypatch):
    """``gymutil.draw_lines`` (``gym.add_lines``) in the window, in an env's frame; ``clear_lines``
    takes them away; ``set_rigid_body_color`` paints a body. A box without ground; the lines a
    green wireframe sphere beside it."""
    monkeypatch.setenv("DISPLAY", display)
    from mytasks.sim import gymapi, gymutil

    gym = gymapi.acquire_gym()
    sp = gymapi.SimParams()
    sp.use_gpu_pipeline, sp.up_axis = False, gymapi.UP_AXIS_Z
    sp.gravity = gymapi.Vec3(0.0, 0.0, 0.0)
    sim = gym.create_sim(-1, -1, gymapi.SIM_NEWTON, sp)
    env = gym.create_env(sim, gymapi.Vec3(-1, -1, 0), gymapi.Vec3(1, 1, 1), 1)
    gym.create_actor(env, gym.create_box(sim, 0.2, 0.2, 0.2), gymapi.Transform(gymapi.Vec3(0, 0, 1)), "box", 0, 0)
    gym.prepare_sim(sim)
    gym.set_viewer_options(sim, kind="native")
    viewer = gym.create_viewer(sim, gymapi.CameraProperties())
    try:
        gym.viewer_camera_look_at(viewer, env, gymapi.Vec3(3.0, 0.0, 1.0), gymapi.Vec3(0.0, 0.0, 1.0))

        def shown():
            for _ in range(6):
                gym.simulate(sim)
                gym.draw_viewer(viewer, sim)
                time.sleep(0.1)
            return _pure(_screen(display)[:720, 320:1280], 1)

        before = shown()
        sphere = gymutil.WireframeSphereGeometry(0.4, 12, 12, None, color=(0.0, 1.0, 0.0))
        gymutil.draw_lines(sphere, gym, viewer, env, gymapi.Transform(gymapi.Vec3(0.0, 0.6, 1.0)))
        drawn = shown()
        gym.clear_lines(viewer)
        cleared = shown()
        assert drawn > before + 300, (before, drawn)
        assert cleared < before + 50, (before, cleared)
        red = _pure(_screen(display)[:720, 320:1280], 0)
        gym.set_rigid_body_color(env, 0, 0, gymapi.MESH_VISUAL, gymapi.Vec3(1.0, 0.0, 0.0))
        shown()
        assert _pure(_screen(display)[:720, 320:1280], 0) > red + 300, red
    finally:
        gym.destroy_viewer(viewer)

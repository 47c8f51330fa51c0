"""Isaac Gym's viewer on Newton's own viewers: its OpenGL window or its web viewer.

``native`` is Newton's ``ViewerGL`` (pyglet, ImGui side panel): it needs a display and an
OpenGL driver (on a Linux machine without a GPU, Mesa's llvmpipe under Xvfb will do).
``web`` is Newton's ``ViewerViser``: a viser server on 127.0.0.1 (reach it from elsewhere
through an SSH tunnel) whose page draws the scene with WebGL in the browser.

Both draw the bodies of the live ``State`` with every env at its Isaac Gym origin (Newton's
worlds all sit at the origin; only the picture is offset). Isaac Gym's semantics kept here:
keys subscribed with ``subscribe_viewer_keyboard_event`` arrive as action events (1.0 down,
0.0 up) and are then withheld from the viewer's own bindings (WASD/QE fly the camera
otherwise); ``sync_frame_time`` paces the caller to real time. mytasks' additions: panels of
sliders (``ViewerSlider``) shown in the window's side panel and on the web page, a camera
that follows an env, pause and single steps (Space and '.' in the window, the page's Pause
and Step), and a bounded drawing rate for training, where nothing waits for the viewer: the
web viewer draws nothing while no browser is connected, and answers only its own page
(``web_origin.py``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import time
from dataclasses import dataclass

import numpy as np

from mytasks.sim import ViewerUnavailable, has_display
from mytasks.sim import types as gt
from mytasks.utils.errors import STOP_REQUESTED, first_line

KINDS = ("auto", "native", "web", "none")
_SOFTWARE_GL = ("llvmpipe", "softpipe", "swiftshader", "swrast")
WEB_MAX_ENVS = 64  # the web page shows the first envs only: every body pose goes over a websocket


@dataclass
class ViewerOptions:
    """How ``create_viewer`` opens a viewer of a sim (mytasks' addition, ``Gym.set_viewer_options``).

    ``kind`` is ``native`` (Isaac Gym's window; ``auto`` picks it when there is a display),
    ``web`` or ``none``. ``realtime`` makes ``sync_frame_time`` pace the caller to real time
    (play). Either way the viewer draws at most ``max_fps`` frames per second of wall time and
    lets the physics run on between them (Isaac Gym draws before every physics step, which
    for Go2 is four times per policy step)."""

    kind: str = "auto"
    port: int = 8080
    realtime: bool = True
    max_fps: float = 60.0


def _pyglet_keys() -> dict[int, int]:
    """pyglet's key symbols -> Isaac Gym's key codes."""
    from pyglet.window import key

    renamed = {"ENTER": "RETURN", "PAGE_UP": "PAGEUP", "PAGE_DOWN": "PAGEDOWN", "LEFT_SHIFT": "LSHIFT",
               "RIGHT_SHIFT": "RSHIFT", "LEFT_CONTROL": "LCTRL", "RIGHT_CONTROL": "RCTRL", "LEFT_ALT": "LALT",
               "RIGHT_ALT": "RALT", "LEFT_BRACKET": "BRACKETLEFT", "RIGHT_BRACKET": "BRACKETRIGHT",
               "GRAVE_ACCENT": "GRAVE"}  # fmt: skip
    table = {}
    for k in gt.KeyboardInput:
        name = k.name[4:]
        name = renamed.get(name, name)
        if name.isdigit():
            name = f"_{name}"
        elif name.startswith("NUMPAD_"):
            name = f"NUM_{name[7:]}"
        symbol = getattr(key, name, None)
        if symbol is not None:
            table[symbol] = int(k)
    return table


def _pitch_yaw(eye, target) -> tuple[float, float]:
    """Newton's camera angles [deg] (z up) that look from ``eye`` at ``target``."""
    d = np.asarray(tuple(target), dtype=float) - np.asarray(tuple(eye), dtype=float)
    d /= max(np.linalg.norm(d), 1e-9)
    return math.degrees(math.asin(float(np.clip(d[2], -1.0, 1.0)))), math.degrees(math.atan2(d[1], d[0]))


class Viewer:
    """One open viewer of one sim (what Isaac Gym's ``create_viewer`` hands out)."""

    def __init__(self, world, options: ViewerOptions, props: gt.CameraProperties | None):
        self.world = world
        self.kind = options.kind
        self.realtime = options.realtime
        self.min_interval = 1.0 / max(float(options.max_fps), 1e-3)
        self.actions: dict[int, str] = {}  # Isaac Gym key code -> subscribed action
        self.events: list[gt.ActionEvent] = []
        self.panels: list[tuple[str, list[gt.ViewerSlider], list[str]]] = []
        self.follow_env: int | None = None
        self.frames = 0  # frames drawn
        self.url = ""
        self._closed = False
        self._last_draw = -math.inf
        self._pace_start: float | None = None
        self._paced = 0
        self._lines: list[tuple[np.ndarray, np.ndarray]] = []  # (segments (n, 2, 3) drawn, colours (n, 3))
        self._lines_drawn = False
        props = props or gt.CameraProperties()
        self.v = self._open_window(props) if self.kind == "native" else self._open_web(int(options.port))
        self._set_scene()
        self.v.register_ui_callback(self._draw_panels, position="side")

    # ------------------------------------------------------------------ opening
    def _open_window(self, props):
        if not has_display():
            raise ViewerUnavailable("viewer=native needs a display and DISPLAY is not set; "
                                    "use viewer=web to watch in a browser")  # fmt: skip
        import newton.viewer

        try:
            v = newton.viewer.ViewerGL(width=min(int(props.width), 1280), height=min(int(props.height), 720))
        except Exception as e:
            raise ViewerUnavailable(f"the viewer window could not open ({first_line(e)}); "
                                    "use viewer=web to watch in a browser") from e  # fmt: skip
        v.renderer.set_title("mytasks")
        renderer = v.renderer.window.context.get_info().get_renderer()
        if any(name in renderer.lower() for name in _SOFTWARE_GL):  # a CPU draws every pixel
            v.renderer.msaa_samples = 0  # resolving 4x multisampling took 170 ms a frame on llvmpipe
            v.renderer.draw_shadows = False  # (the Rendering panel turns them back on)
        if v.ui is not None and v.ui.is_available:
            v.ui.io.set_ini_filename(None)  # ImGui would write imgui.ini into the working directory
        self._keys = _pyglet_keys()
        v.renderer.window.push_handlers(on_key_press=self._key_press, on_key_release=self._key_release)
        return v

    def _open_web(self, port: int):
        import newton.viewer

        from mytasks.sim.newton_backend.web_origin import free_port, loopback_only

        free = free_port(port)  # viser would wait for ever when no port from there on binds
        if free is None:
            raise ViewerUnavailable(f"the web viewer found no free port from {port} up; pass viewer_port=<a free "
                                    "port> or viewer=none")  # fmt: skip
        with contextlib.redirect_stdout(io.StringIO()), loopback_only():  # viser prints a box of its own
            v = newton.viewer.ViewerViser(host="127.0.0.1", port=free, verbose=False, label="mytasks")
        bound = int(v.server.get_port())
        self.url = f"http://127.0.0.1:{bound}"
        busy = f" (port {port} is in use)" if bound != port else ""
        print(f"mytasks: web viewer at {self.url}{busy}; from another machine: "
              f"ssh -L {bound}:127.0.0.1:{bound} <this host>, then open {self.url}", flush=True)  # fmt: skip
        return v

    def _set_scene(self) -> None:
        import warp as wp

        world, v = self.world, self.v
        v.set_model(world.model)
        if self.kind == "web" and world.num_envs > WEB_MAX_ENVS:
            v.set_visible_worlds(range(WEB_MAX_ENVS))
            print(f"mytasks: the web viewer shows envs 0-{WEB_MAX_ENVS - 1} of {world.num_envs}", flush=True)
        origins = np.array([tuple(env.origin) for env in world.sim.envs], dtype=np.float32)
        v.world_offsets = wp.array(origins, dtype=wp.vec3, device=v.device)

    # ------------------------------------------------------------------ keys and panels
    def _key_press(self, symbol, modifiers):
        return self._key(symbol, 1.0)

    def _key_release(self, symbol, modifiers):
        return self._key(symbol, 0.0)

    def _key(self, symbol: int, value: float):
        code = self._keys.get(symbol)
        if code in self.actions:
            self.events.append(gt.ActionEvent(self.actions[code], value))
            from pyglet.event import EVENT_HANDLED

            return EVENT_HANDLED  # a subscribed key is the task's, not the camera's
        return None

    def _draw_panels(self, ui) -> None:
        for title, sliders, notes in self.panels:
            ui.text(title)
            for s in sliders:
                changed, value = ui.slider_float(s.label, float(s.value), float(s.low), float(s.high), "%.2f")
                if changed:
                    s.value = float(value)
            for line in notes:
                ui.text(line)

    # ------------------------------------------------------------------ camera
    def look_at(self, env, position: gt.Vec3, target: gt.Vec3) -> None:
        origin = np.asarray(tuple(env.origin) if env is not None else (0.0, 0.0, 0.0), dtype=float)
        eye = origin + np.asarray(tuple(position), dtype=float)
        at = origin + np.asarray(tuple(target), dtype=float)
        pitch, yaw = _pitch_yaw(eye, at)
        if self.kind == "native":
            self.v.camera.pos = type(self.v.camera.pos)(*eye)
            self.v.camera.look_at(type(self.v.camera.pos)(*at))
        else:
            import warp as wp

            self.v.set_camera(wp.vec3(*eye.astype(np.float32)), pitch, yaw)

    def _root_of(self, env: int) -> np.ndarray:
        """Where env ``env``'s first body is drawn."""
        w = self.world
        pose = w.state.body_q[env * w.bodies_per_env : env * w.bodies_per_env + 1].numpy()[0]
        return pose[:3] + np.asarray(tuple(w.sim.envs[env].origin))

    # ------------------------------------------------------------------ drawing
    @property
    def closed(self) -> bool:
        return self._closed or not self.v.is_running()

    def _frame(self) -> None:
        v = self.v
        self.world.tensors.update_bodies()  # after a state setter the bodies follow the joints first
        if self.follow_env is not None and self.kind == "native":
            v.camera.follow(type(v.camera.pos)(*self._root_of(self.follow_env)))
        v.begin_frame(self.frames * float(self.world.params.dt))
        v.log_state(self.world.state)
        self._log_lines()
        v.end_frame()
        self.frames += 1
        self._last_draw = time.perf_counter()

    # ------------------------------------------------------------------ debug lines
    def add_lines(self, env, count: int, vertices, colors) -> None:
        """Isaac Gym's ``add_lines``: ``count`` segments, each two points of ``vertices`` in
        ``env``'s frame (the world's without an env), one colour (RGB in [0, 1]) each or one
        for all; they stay drawn until ``clear_lines``."""
        count = int(count)
        if count <= 0:
            return
        seg = np.asarray(vertices, dtype=np.float32).reshape(-1, 2, 3)
        if len(seg) < count:
            raise ValueError(f"add_lines: {count} lines asked for, {len(seg)} given (two 3-D points each)")
        seg = seg[:count].copy()
        if env is not None:
            seg += np.asarray(tuple(env.origin), dtype=np.float32)  # where the env is drawn
        col = np.asarray(colors, dtype=np.float32).reshape(-1, 3)
        if len(col) == 1:
            col = np.repeat(col, count, axis=0)
        if len(col) < count:
            raise ValueError(f"add_lines: {count} lines need {count} colours (or one), {len(col)} given")
        self._lines.append((seg, np.ascontiguousarray(col[:count])))

    def clear_lines(self) -> None:
        self._lines.clear()

    def _log_lines(self) -> None:
        if not self._lines and not self._lines_drawn:
            return
        import warp as wp

        if self._lines:
            seg = np.concatenate([s for s, _ in self._lines])
            col = np.concatenate([c for _, c in self._lines])
            dev = self.v.device
            starts, ends, colours = (wp.array(a, dtype=wp.vec3, device=dev) for a in (seg[:, 0], seg[:, 1], col))
            self.v.log_lines("/mytasks/lines", starts, ends, colours)
        else:
            self.v.log_lines("/mytasks/lines", None, None, None)  # clears them
        self._lines_drawn = bool(self._lines)

    def _watched(self) -> bool:
        """The web viewer draws only while a browser is connected."""
        return self.kind != "web" or bool(self.v.server.get_clients())

    def draw(self) -> None:
        """One frame of the current state; while paused, frames until a step is asked for, the
        last browser leaves (the web viewer holds nothing without one) or a stop is asked for
        (Ctrl-C or SIGTERM in training, ``STOP_REQUESTED``)."""
        if self.closed:
            return
        if not self._watched() or time.perf_counter() - self._last_draw < self.min_interval:
            self.poll()
            return
        self._frame()
        while not self.closed and not self.v.should_step() and self._watched() and not STOP_REQUESTED.is_set():
            self._frame()
            time.sleep(1.0 / 60.0)
            self._pace_start = None  # real time starts again after a pause

    def poll(self) -> None:
        """Takes in window events (keys, closing) without drawing."""
        if self.kind == "native" and not self.closed:
            self.v.renderer.window.dispatch_events()

    def sync_frame_time(self) -> None:
        """Play: sleeps so that each call (one physics step) takes ``dt`` of wall time."""
        if not self.realtime or self.closed:
            return
        now = time.perf_counter()
        if self._pace_start is None:
            self._pace_start, self._paced = now, 0
        self._paced += 1
        ahead = self._pace_start + self._paced * float(self.world.params.dt) - now
        if ahead > 0:
            time.sleep(ahead)
        elif ahead < -0.25:  # slower than real time: do not try to catch up later
            self._pace_start, self._paced = now, 0

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                with contextlib.redirect_stdout(io.StringIO()):  # and a line when it stops
                    self.v.close()
            except Exception:  # a window the user already closed
                pass


class ViewerCalls:
    """The viewer calls of Isaac Gym's ``Gym`` (``gym.py`` mixes them in), with mytasks' additions."""

    def set_viewer_options(self, sim, kind: str = "auto", port: int = 8080, realtime: bool = True) -> None:
        """mytasks' addition: which viewer ``create_viewer`` opens for ``sim`` (``viewer.ViewerOptions``)."""
        sim.viewer_options = ViewerOptions(kind=kind, port=int(port), realtime=bool(realtime),
                                           max_fps=60.0 if realtime else 30.0)  # fmt: skip

    def create_viewer(self, sim, props: gt.CameraProperties | None = None):
        """A window (or, as chosen with ``set_viewer_options``, a web viewer) of ``sim``; raises
        ``ViewerUnavailable`` with the reason and the choice to make instead."""
        options = sim.viewer_options or ViewerOptions()
        if options.kind == "none":
            return None
        world = self._world(sim)
        if options.kind == "auto":
            try:
                viewer = Viewer(world, dataclasses.replace(options, kind="native"), props) if has_display() else None
            except ViewerUnavailable as e:
                print(f"mytasks: {str(e).partition(';')[0]}; serving the web viewer instead", flush=True)
                viewer = None
            viewer = viewer or Viewer(world, dataclasses.replace(options, kind="web"), props)
        else:
            viewer = Viewer(world, options, props)
        world.viewers.append(viewer)
        return viewer

    def destroy_viewer(self, viewer) -> None:
        if viewer is not None:
            viewer.close()

    def step_graphics(self, sim) -> None:
        pass

    def draw_viewer(self, viewer, sim, render_collision: bool = False) -> None:
        viewer.draw()

    def sync_frame_time(self, sim) -> None:
        for viewer in self._open_viewers(sim):
            viewer.sync_frame_time()

    @staticmethod
    def _open_viewers(sim):
        return [v for v in sim.world.viewers if not v.closed] if sim.world is not None else []

    def poll_viewer_events(self, viewer) -> None:
        viewer.poll()

    def query_viewer_has_closed(self, viewer) -> bool:
        return viewer.closed

    def query_viewer_action_events(self, viewer) -> list[gt.ActionEvent]:
        events, viewer.events = viewer.events, []
        return events

    def subscribe_viewer_keyboard_event(self, viewer, key, action: str) -> None:
        viewer.actions[int(key)] = str(action)

    def viewer_camera_look_at(self, viewer, env, pos, target) -> None:
        viewer.look_at(env, pos, target)

    def viewer_camera_follow(self, viewer, env) -> None:
        """mytasks' addition: the window's camera keeps its angle and distance to ``env``'s first
        body as it moves (None: a free camera)."""
        viewer.follow_env = None if env is None else int(env.index)

    def add_viewer_panel(self, viewer, title: str, sliders: list, notes: tuple = ()) -> None:
        """mytasks' addition: a titled group of ``ViewerSlider``s, with lines of text under them."""
        viewer.panels.append((str(title), list(sliders), list(notes)))

    def clear_lines(self, viewer) -> None:
        if viewer is not None:
            viewer.clear_lines()

    def add_lines(self, viewer, env, num_lines, vertices, colors) -> None:
        """Draws until ``clear_lines``; without a viewer it does nothing, as in Isaac Gym."""
        if viewer is not None:
            viewer.add_lines(env, num_lines, vertices, colors)

"""A velocity command from the viewer: keys and sliders, for playing legged policies.

W/S step the forward speed, A/D the sideways speed and Q/E the yaw rate by a tenth of their
range per press (the layout legged_gym users know), X stops; the viewer's panel (the window's
side panel, the web page's) has a slider for each and shows the command as it is. The task
reads ``values()`` into the command of every env instead of sampling commands.
"""

from __future__ import annotations

import time

from mytasks.sim import gymapi

_KEYS = {
    gymapi.KEY_W: ("vx", +1), gymapi.KEY_S: ("vx", -1),
    gymapi.KEY_A: ("vy", +1), gymapi.KEY_D: ("vy", -1),
    gymapi.KEY_Q: ("yaw", +1), gymapi.KEY_E: ("yaw", -1),
    gymapi.KEY_X: ("stop", 0),
}  # fmt: skip
_UNITS = {"vx": "m/s", "vy": "m/s", "yaw": "rad/s"}


class VelocityTeleop:
    def __init__(self, task, ranges: dict[str, tuple[float, float]]):
        """``ranges``: (low, high) of ``vx``, ``vy`` and ``yaw``, the task's command ranges."""
        self.sliders = {name: gymapi.ViewerSlider(f"{name} [{_UNITS[name]}]", float(lo), float(hi), 0.0)
                        for name, (lo, hi) in ranges.items()}  # fmt: skip
        gym, viewer = task.gym, task.viewer
        for key, (name, sign) in _KEYS.items():
            gym.subscribe_viewer_keyboard_event(viewer, key, f"command {name} {sign:+d}")
        notes = ("keys in the window: W/S forward, A/D sideways, Q/E turn, X stop;",
                 "C camera follows env 0, V drawing on/off, Space pause, ESC quit")  # fmt: skip
        gym.add_viewer_panel(viewer, "Velocity command (every env)", list(self.sliders.values()), notes)
        task.viewer_handlers.append(self.on_action)
        print("mytasks: the viewer sets the velocity command: the sliders of its panel; "
              "in the window also W/S forward, A/D sideways, Q/E turn, X stop", flush=True)  # fmt: skip
        self._said, self._said_at = (0.0, 0.0, 0.0), 0.0  # the command last printed, and when

    def on_action(self, event) -> None:
        words = event.action.split()
        if event.value <= 0 or len(words) != 3 or words[0] != "command":
            return
        name, sign = words[1], int(words[2])
        if name == "stop":
            for s in self.sliders.values():
                s.value = 0.0
        else:
            s = self.sliders[name]
            s.value = min(max(s.value + sign * (s.high - s.low) / 10.0, s.low), s.high)
        self._say()

    def _current(self) -> tuple[float, float, float]:
        return tuple(self.sliders[k].value for k in ("vx", "vy", "yaw"))

    def _say(self) -> None:
        self._said, self._said_at = self._current(), time.monotonic()
        print("mytasks: command " + "  ".join(f"{k} {s.value:+.2f} {_UNITS[k]}" for k, s in self.sliders.items()),
              flush=True)  # fmt: skip

    def values(self) -> tuple[float, float, float]:
        """The command; a change made with a slider is printed too (at most twice a second)."""
        now = self._current()
        if now != self._said and time.monotonic() - self._said_at > 0.5:
            self._say()
        return now

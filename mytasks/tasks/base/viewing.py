"""VecTask's viewer: IsaacGymEnvs' ``set_viewer`` and ``render``, through the isaacgym viewer API.

The keys IsaacGymEnvs binds: ESC quits, V toggles drawing (the physics runs on undrawn). mytasks
adds C, which toggles a camera that follows env 0 (on at the start). Closing the window or ESC
does not exit the process as in IsaacGymEnvs: the task sets ``viewer_closed`` and goes on
headless, and whoever runs it ends cleanly (the training loop saves a checkpoint first; play
prints its statistics). Tasks take their own keys through ``viewer_handlers``: callables given
every action event that is not one of the above (``teleop.py``).
"""

from __future__ import annotations

from mytasks.sim import gymapi
from mytasks.utils.errors import first_line

_KEYS = {gymapi.KEY_ESCAPE: "QUIT", gymapi.KEY_V: "toggle_viewer_sync", gymapi.KEY_C: "toggle_camera_follow"}


def open_viewer(task) -> None:
    """IsaacGymEnvs' ``set_viewer``, with the camera on env 0 and following it."""
    task.enable_viewer_sync = True
    task.viewer_closed = False
    task.viewer_handlers = []
    if task.headless:
        return
    chosen = task.cfg.get("viewer")  # make_task's choice (kind, port, realtime)
    if isinstance(chosen, dict) and hasattr(task.gym, "set_viewer_options"):
        task.gym.set_viewer_options(task.sim, **chosen)
    props = gymapi.CameraProperties()
    props.width, props.height = 1280, 720
    task.viewer = task.gym.create_viewer(task.sim, props)
    if task.viewer is None:
        return
    for key, action in _KEYS.items():
        task.gym.subscribe_viewer_keyboard_event(task.viewer, key, action)
    env0 = task.gym.get_env(task.sim, 0)
    s = float(task.cfg["env"].get("envSpacing", 1.0))
    task.gym.viewer_camera_look_at(task.viewer, env0, gymapi.Vec3(2.2 * s, -2.2 * s, 1.6 * s),
                                   gymapi.Vec3(0.0, 0.0, 0.3 * s))  # fmt: skip
    task.camera_follows = True
    task.gym.viewer_camera_follow(task.viewer, env0)


def render(task) -> None:
    """IsaacGymEnvs' ``render``: events first, then a frame (paced to real time in play). A
    viewer that fails is dropped with one line; the task goes on without it."""
    if task.viewer is None:
        return
    try:
        _render(task)
    except Exception as e:
        print(f"mytasks: the viewer failed ({type(e).__name__}: {first_line(e)}); going on without it", flush=True)
        viewer, task.viewer = task.viewer, None
        try:
            task.gym.destroy_viewer(viewer)
        except Exception:
            pass


def _render(task) -> None:
    gym, viewer = task.gym, task.viewer
    if gym.query_viewer_has_closed(viewer):
        close_viewer(task)
        return
    for event in gym.query_viewer_action_events(viewer):
        if event.action == "QUIT" and event.value > 0:
            close_viewer(task)
            return
        if event.action == "toggle_viewer_sync" and event.value > 0:
            task.enable_viewer_sync = not task.enable_viewer_sync
        elif event.action == "toggle_camera_follow" and event.value > 0:
            task.camera_follows = not task.camera_follows
            gym.viewer_camera_follow(viewer, gym.get_env(task.sim, 0) if task.camera_follows else None)
        else:
            for handler in task.viewer_handlers:
                handler(event)
    if task.enable_viewer_sync:
        gym.step_graphics(task.sim)
        gym.draw_viewer(viewer, task.sim, True)
        gym.sync_frame_time(task.sim)
    else:
        gym.poll_viewer_events(viewer)


def close_viewer(task) -> None:
    if task.viewer is not None:
        task.gym.destroy_viewer(task.viewer)
        task.viewer = None
        task.viewer_closed = True

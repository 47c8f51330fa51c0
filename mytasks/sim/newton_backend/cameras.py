"""Isaac Gym's camera sensors, rendered by Newton's ray-traced ``SensorCamera``.

The renderer is Warp kernels over the model's shapes, on the sim device: it needs no display,
no OpenGL and no GPU (on the CPU a 640x360 frame of the cart-pole takes milliseconds once
its kernels are compiled). The cameras themselves are recorded with the scene
(``scene.Camera``: env, properties, location in the env's frame, which on Newton is the frame
of the env's own world); this module keeps, per camera, the rays and the image it renders.
"""

from __future__ import annotations

import math

import numpy as np

from mytasks.sim import types as gt

_AMBIENT = ((0.45, 0.45, 0.5), (0.15, 0.15, 0.17))  # linear RGB from above and from below
_SKY = (0.62, 0.66, 0.72)  # linear RGB of what the rays miss
_GROUND = (0.6, 0.6, 0.62)  # sRGB of the ground plane (Newton's default is nearly black)


class Cameras:
    def __init__(self, world):
        self.world = world
        self._sensor = None
        self._views: dict[int, tuple] = {}  # camera handle -> (rays, image, transform, world index)

    def _camera_sensor(self):
        if self._sensor is None:
            from newton.sensors import SensorCamera

            self._sensor = SensorCamera(self.world.model)
            self._sensor.create_default_light(enable_shadows=False)
            self._sensor.set_ambient_light(*_AMBIENT)
            self._sensor.default_clear_data.clear_color = _pack_rgba(_SKY)
            model = self.world.model
            if self.world.sim.ground is not None:  # the ground plane is the model's last shape
                colors = model.shape_color.numpy()
                colors[-1] = _GROUND
                model.shape_color.assign(colors)
        return self._sensor

    def _view(self, handle: int, cam) -> tuple:
        if handle not in self._views:
            import warp as wp
            from newton.sensors import SensorCamera

            w, h, dev = int(cam.props.width), int(cam.props.height), self.world.device
            vertical = 2.0 * math.atan(math.tan(math.radians(cam.props.horizontal_fov) / 2.0) * h / w)
            rays = SensorCamera.compute_camera_rays_pinhole(w, h, camera_fov=vertical, device=dev)
            image = self._camera_sensor().allocate_image_color(1, w, h)
            transform = wp.array([wp.transform_identity()], dtype=wp.transformf, device=dev)
            self._views[handle] = (rays, image, transform, wp.array([cam.env], dtype=wp.int32, device=dev))
        return self._views[handle]

    def render_all(self, cameras: list) -> None:
        """Renders every camera of the scene from its current location."""
        if not cameras:
            return
        world = self.world
        world.tensors.update_bodies()  # after a state setter the bodies follow the joints first
        world.model.bvh_refit_shapes(world.state)
        sensor = self._camera_sensor()
        for handle, cam in enumerate(cameras):
            rays, image, transform, worlds = self._view(handle, cam)
            transform.assign([_look_at(cam.position, cam.target)])
            sensor.update(world.state, transform, rays, color_image=image, world_indices=worlds)

    def image(self, handle: int, cam) -> np.ndarray:
        """The last render of camera ``handle``: RGBA uint8, Isaac Gym's layout (height, width x 4)."""
        if handle not in self._views:
            raise RuntimeError("render_all_camera_sensors before get_camera_image")
        rgba = self._views[handle][1].numpy()[0].view(np.uint8)
        return rgba.reshape(int(cam.props.height), int(cam.props.width) * 4)


def _look_at(position: gt.Vec3, target: gt.Vec3):
    """The camera transform at ``position`` looking at ``target``, z up; the camera looks along
    its own -z axis with +y up and +x right."""
    import warp as wp

    eye, at = np.array(tuple(position), dtype=np.float64), np.array(tuple(target), dtype=np.float64)
    forward = at - eye
    forward /= max(np.linalg.norm(forward), 1e-9)
    right = np.cross(forward, (0.0, 0.0, 1.0))
    if np.linalg.norm(right) < 1e-6:  # looking straight up or down
        right = np.array([1.0, 0.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    rotation = np.stack([right, up, -forward], axis=1).astype(np.float32)
    return wp.transformf(wp.vec3(*eye.astype(np.float32)), wp.quat_from_matrix(wp.mat33(*rotation.flatten())))


def _pack_rgba(rgb) -> int:
    r, g, b = (int(round(255 * c ** (1 / 2.2))) for c in rgb)
    return r | (g << 8) | (b << 16) | (255 << 24)

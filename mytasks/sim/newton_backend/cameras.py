"""Isaac Gym's camera sensors on Newton's ray-traced ``SensorCamera``.

The renderer is Warp kernels over the model's shapes, on the sim device: it needs no display,
no OpenGL and no GPU (on the CPU a 320x240 frame of the cart-pole takes ~10 ms once its
kernels are compiled). A camera belongs to an env; its location is given in that env's frame,
which on Newton is the world frame of the env's own world.
"""

from __future__ import annotations

import math

import numpy as np

from mytasks.sim import types as gt

_SKY = (0.62, 0.66, 0.72)  # linear RGB of what the rays miss
_AMBIENT = ((0.45, 0.45, 0.5), (0.15, 0.15, 0.17))  # from above, from below


class _Camera:
    def __init__(self, env: int, props: gt.CameraProperties, rays, image, transform):
        self.env, self.props, self.rays, self.image, self.transform = env, props, rays, image, transform


class Cameras:
    def __init__(self, world):
        self.world = world
        self._sensor = None
        self._cameras: list[_Camera] = []

    def _camera_sensor(self):
        if self._sensor is None:
            from newton.sensors import SensorCamera

            self._sensor = SensorCamera(self.world.model)
            self._sensor.create_default_light(enable_shadows=False)
            self._sensor.set_ambient_light(*_AMBIENT)
            clear = self._sensor.default_clear_data
            if hasattr(clear, "clear_color"):
                clear.clear_color = _pack_rgba(_SKY)
        return self._sensor

    def create(self, env: int, props: gt.CameraProperties) -> int:
        import warp as wp
        from newton.sensors import SensorCamera

        sensor = self._camera_sensor()
        w, h = int(props.width), int(props.height)
        vertical = 2.0 * math.atan(math.tan(math.radians(props.horizontal_fov) / 2.0) * h / w)
        rays = SensorCamera.compute_camera_rays_pinhole(w, h, camera_fov=vertical, device=self.world.device)
        transform = wp.array([wp.transform_identity()], dtype=wp.transformf, device=self.world.device)
        self._cameras.append(_Camera(env, props, rays, sensor.allocate_image_color(1, w, h), transform))
        self.set_location(len(self._cameras) - 1, gt.Vec3(2.0, -2.0, 1.5), gt.Vec3(0.0, 0.0, 0.5))
        return len(self._cameras) - 1

    def set_location(self, handle: int, position: gt.Vec3, target: gt.Vec3) -> None:
        """Puts camera ``handle`` at ``position`` looking at ``target`` [m], z up."""
        import warp as wp

        eye, at = np.array(tuple(position), dtype=np.float64), np.array(tuple(target), dtype=np.float64)
        forward = at - eye
        forward /= max(np.linalg.norm(forward), 1e-9)
        right = np.cross(forward, (0.0, 0.0, 1.0))
        if np.linalg.norm(right) < 1e-6:  # looking straight up or down
            right = np.array([1.0, 0.0, 0.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, forward)
        # The camera looks along its -z axis, +y up, +x right.
        rotation = np.stack([right, up, -forward], axis=1)
        q = wp.quat_from_matrix(wp.mat33(*rotation.astype(np.float32).flatten()))
        self._cameras[handle].transform.assign([wp.transformf(wp.vec3(*eye.astype(np.float32)), q)])

    def render_all(self) -> None:
        import warp as wp

        if not self._cameras:
            return
        world = self.world
        world.tensors._update_bodies()  # after a state setter the bodies follow the joints first
        world.model.bvh_refit_shapes(world.state)
        sensor = self._camera_sensor()
        for cam in self._cameras:
            worlds = wp.array([cam.env], dtype=wp.int32, device=world.device)
            sensor.update(world.state, cam.transform, cam.rays, color_image=cam.image, world_indices=worlds)

    def image(self, handle: int) -> np.ndarray:
        """The last render of camera ``handle``: RGBA uint8, Isaac Gym's layout (height, width x 4)."""
        cam = self._cameras[handle]
        rgba = cam.image.numpy()[0].view(np.uint8)
        return rgba.reshape(int(cam.props.height), int(cam.props.width) * 4)


def _pack_rgba(rgb) -> int:
    r, g, b = (int(round(255 * c ** (1 / 2.2))) for c in rgb)
    return r | (g << 8) | (b << 16) | (255 << 24)

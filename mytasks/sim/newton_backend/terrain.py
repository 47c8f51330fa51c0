"""Static terrain of a running world: Isaac Gym height fields as Newton's (MuJoCo's ``hfield``)."""

from __future__ import annotations

import numpy as np

from mytasks.sim import types as gt


def add_heightfield(newton, scene, hf) -> None:
    """A static height field (rows along x) as Newton's: its rows run along y, centred on the
    shape's origin, so the grid is transposed and the origin moved to the middle."""
    import warp as wp

    data = np.ascontiguousarray(hf.heights.T)  # Newton: data[row = y, column = x]
    ny, nx = data.shape
    hx, hy = (nx - 1) * hf.dx / 2, (ny - 1) * hf.dy / 2
    low, high = float(data.min()), float(data.max())
    field = newton.Heightfield(data=data, nrow=ny, ncol=nx, hx=hx, hy=hy, min_z=low, max_z=max(high, low + 1e-6))
    centre = hf.origin.transform_point(gt.Vec3(hx, hy, 0.0))
    xform = wp.transform((centre.x, centre.y, centre.z), tuple(hf.origin.r))
    cfg = newton.ModelBuilder.ShapeConfig(mu=hf.friction, restitution=hf.restitution)
    # MuJoCo collides with the field's prisms, whose base Newton makes 0.1 mm thick: a box pressed
    # into it found side normals and fell through. A metre of base below the lowest point holds.
    if "mujoco:hfield_base" not in scene.custom_attributes:
        newton.solvers.SolverMuJoCo.register_custom_attributes(scene)
    scene.add_shape_heightfield(xform=xform, heightfield=field, cfg=cfg, custom_attributes={"mujoco:hfield_base": 1.0})

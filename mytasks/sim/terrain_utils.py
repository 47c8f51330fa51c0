"""Height-field terrains in Isaac Gym's ``terrain_utils`` API (served as ``isaacgym.terrain_utils``).

A ``SubTerrain`` holds ``height_field_raw``: int16 heights in units of ``vertical_scale`` metres,
``width`` samples along x by ``length`` along y, ``horizontal_scale`` metres apart. The
generators add to it in place (heights and sizes in metres) and return it; ``convert_heightfield_to_trimesh``
turns a height field into vertices and triangles for ``gym.add_triangle_mesh``, and
``gym.add_heightfield`` takes the heights directly.

On Newton the engine simulates every terrain as a height field (MuJoCo collides with a
general triangle mesh's convex hull): a mesh made here is recognised by ``add_triangle_mesh``
and simulated as the height field it came from. Where ``slope_threshold`` turned steep slopes
into vertical walls in the mesh, the height field keeps them one sample wide.
"""

from __future__ import annotations

import hashlib

import numpy as np

# Meshes made by convert_heightfield_to_trimesh: fingerprint of the vertices -> (heights in
# metres with rows along x, horizontal scale). Bounded: terrains are made once per task.
_MADE: dict[str, tuple[np.ndarray, float]] = {}
_MAX_MADE = 32


class SubTerrain:
    def __init__(self, terrain_name: str = "terrain", width: int = 256, length: int = 256,
                 vertical_scale: float = 1.0, horizontal_scale: float = 1.0):  # fmt: skip
        self.terrain_name = terrain_name
        self.vertical_scale = vertical_scale
        self.horizontal_scale = horizontal_scale
        self.width = width
        self.length = length
        self.height_field_raw = np.zeros((width, length), dtype=np.int16)


def _raw(terrain: SubTerrain, metres) -> np.ndarray | int:
    return np.asarray(np.round(np.asarray(metres) / terrain.vertical_scale)).astype(np.int64)


def _cells(terrain: SubTerrain, metres: float) -> int:
    return int(metres / terrain.horizontal_scale + 1e-6)  # 0.3 / 0.1 is 3 cells, not 2.9999...


def _add(terrain: SubTerrain, raw) -> SubTerrain:
    out = terrain.height_field_raw.astype(np.int64) + raw
    terrain.height_field_raw[:] = np.clip(out, np.iinfo(np.int16).min, np.iinfo(np.int16).max)
    return terrain


def _cells_in_from_edge(terrain: SubTerrain, platform_size: float) -> np.ndarray:
    """Per sample: how many samples in from the nearest edge, up to the flat top of
    ``platform_size`` metres at the centre (a pyramid's height in samples)."""
    x = np.arange(terrain.width)[:, None]
    y = np.arange(terrain.length)[None, :]
    from_edge = np.minimum(np.minimum(x, terrain.width - 1 - x), np.minimum(y, terrain.length - 1 - y))
    top = max(0, (min(terrain.width, terrain.length) - _cells(terrain, platform_size)) // 2)
    return np.minimum(from_edge, top)


def _platform(terrain: SubTerrain, platform_size: float, height=0) -> None:
    """A flat square of ``platform_size`` metres at the centre, at raw ``height``."""
    half = _cells(terrain, platform_size) // 2
    cx, cy = terrain.width // 2, terrain.length // 2
    terrain.height_field_raw[max(cx - half, 0) : cx + half, max(cy - half, 0) : cy + half] = height


def random_uniform_terrain(terrain: SubTerrain, min_height: float, max_height: float, step: float = 1,
                           downsampled_scale: float | None = None) -> SubTerrain:  # fmt: skip
    """Random heights in [min_height, max_height] on multiples of ``step`` (metres), drawn on a
    grid ``downsampled_scale`` metres apart and interpolated linearly onto the terrain's."""
    from scipy.interpolate import RegularGridInterpolator

    coarse = downsampled_scale or terrain.horizontal_scale
    levels = np.arange(_raw(terrain, min_height), _raw(terrain, max_height) + 1, max(1, int(_raw(terrain, step))))
    size_x, size_y = terrain.width * terrain.horizontal_scale, terrain.length * terrain.horizontal_scale
    nx, ny = max(2, int(size_x / coarse)), max(2, int(size_y / coarse))
    samples = np.random.choice(levels, (nx, ny)).astype(np.float64)
    grid = RegularGridInterpolator((np.linspace(0, size_x, nx), np.linspace(0, size_y, ny)), samples)
    x = np.linspace(0, size_x, terrain.width)
    y = np.linspace(0, size_y, terrain.length)
    xx, yy = np.meshgrid(x, y, indexing="ij")
    return _add(terrain, np.rint(grid(np.stack((xx, yy), axis=-1))).astype(np.int64))


def sloped_terrain(terrain: SubTerrain, slope: float = 1) -> SubTerrain:
    """A plane rising ``slope`` metres per metre along x."""
    x = np.arange(terrain.width)[:, None] * terrain.horizontal_scale
    return _add(terrain, np.broadcast_to(_raw(terrain, slope * x), terrain.height_field_raw.shape))


def pyramid_sloped_terrain(terrain: SubTerrain, slope: float = 1, platform_size: float = 1.0) -> SubTerrain:
    """Four faces rising ``slope`` metres per metre from the edges to a flat top of
    ``platform_size`` metres (a pit for a negative slope)."""
    return _add(terrain, _raw(terrain, slope * _cells_in_from_edge(terrain, platform_size) * terrain.horizontal_scale))


def discrete_obstacles_terrain(terrain: SubTerrain, max_height: float, min_size: float, max_size: float,
                               num_rects: int, platform_size: float = 1.0) -> SubTerrain:  # fmt: skip
    """``num_rects`` boxes of random sides in [min_size, max_size] and heights of +-max_height or
    +-max_height / 2 (metres), around a flat platform at the centre."""
    heights = _raw(terrain, np.array([-max_height, -max_height / 2, max_height / 2, max_height]))
    sizes = np.arange(max(1, _cells(terrain, min_size)), max(2, _cells(terrain, max_size)))
    for _ in range(int(num_rects)):
        w, l = np.random.choice(sizes), np.random.choice(sizes)  # noqa: E741
        x0 = np.random.randint(0, max(1, terrain.width - w))
        y0 = np.random.randint(0, max(1, terrain.length - l))
        terrain.height_field_raw[x0 : x0 + w, y0 : y0 + l] = np.random.choice(heights)
    _platform(terrain, platform_size)
    return terrain


def wave_terrain(terrain: SubTerrain, num_waves: int = 1, amplitude: float = 1.0) -> SubTerrain:
    """Sine waves along x and y, ``num_waves`` across the terrain, ``amplitude`` metres."""
    if num_waves <= 0:
        return terrain
    x = np.arange(terrain.width)[:, None] / terrain.width
    y = np.arange(terrain.length)[None, :] / terrain.length
    waves = amplitude * (np.sin(2 * np.pi * num_waves * x) + np.cos(2 * np.pi * num_waves * y))
    return _add(terrain, _raw(terrain, waves))


def stairs_terrain(terrain: SubTerrain, step_width: float, step_height: float) -> SubTerrain:
    """Steps ``step_width`` metres deep rising ``step_height`` metres each along x."""
    steps = np.arange(terrain.width)[:, None] // max(1, _cells(terrain, step_width))
    return _add(terrain, np.broadcast_to(steps * _raw(terrain, step_height), terrain.height_field_raw.shape))


def pyramid_stairs_terrain(terrain: SubTerrain, step_width: float, step_height: float,
                           platform_size: float = 1.0) -> SubTerrain:  # fmt: skip
    """Square rings ``step_width`` metres wide, each ``step_height`` metres above the one around
    it, up to a flat top of ``platform_size`` metres (down, for a negative height)."""
    width = max(1, _cells(terrain, step_width))
    return _add(terrain, (_cells_in_from_edge(terrain, platform_size) // width) * _raw(terrain, step_height))


def stepping_stones_terrain(terrain: SubTerrain, stone_size: float, stone_distance: float, max_height: float,
                            platform_size: float = 1.0, depth: float = -10) -> SubTerrain:  # fmt: skip
    """Square stones ``stone_size`` metres wide, ``stone_distance`` apart, at random heights in
    [-max_height, max_height], over a floor ``depth`` metres down, around a flat platform."""
    size, gap = max(1, _cells(terrain, stone_size)), max(0, _cells(terrain, stone_distance))
    levels = np.arange(_raw(terrain, -max_height), _raw(terrain, max_height) + 1)
    terrain.height_field_raw[:, :] = _raw(terrain, depth)
    for x0 in range(0, terrain.width, size + gap):
        for y0 in range(0, terrain.length, size + gap):
            terrain.height_field_raw[x0 : x0 + size, y0 : y0 + size] = np.random.choice(levels)
    _platform(terrain, platform_size)
    return terrain


def convert_heightfield_to_trimesh(height_field_raw: np.ndarray, horizontal_scale: float, vertical_scale: float,
                                   slope_threshold: float | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Vertices (rows x cols, 3; float32, metres; row i at x = i * horizontal_scale, column j at
    y = j * horizontal_scale) and triangles (2 per cell, uint32, facing up). With
    ``slope_threshold``, a vertex beside a rise steeper than it moves under the higher one, so
    that the rise becomes a vertical wall."""
    hf = np.asarray(height_field_raw)
    rows, cols = hf.shape
    heights = hf.astype(np.float64) * vertical_scale
    xx, yy = np.meshgrid(np.arange(rows, dtype=np.float64), np.arange(cols, dtype=np.float64), indexing="ij")
    if slope_threshold is not None:
        steep = slope_threshold * horizontal_scale
        dx = np.diff(heights, axis=0)
        dy = np.diff(heights, axis=1)
        xx[:-1, :] += dx > steep  # the next row is much higher: move under it
        xx[1:, :] -= -dx > steep  # the previous row is much higher
        yy[:, :-1] += dy > steep
        yy[:, 1:] -= -dy > steep
    vertices = np.stack((xx * horizontal_scale, yy * horizontal_scale, heights), axis=-1).reshape(-1, 3)
    vertices = vertices.astype(np.float32)
    i, j = np.meshgrid(np.arange(rows - 1), np.arange(cols - 1), indexing="ij")
    a = (i * cols + j).ravel()
    triangles = np.empty((2 * len(a), 3), dtype=np.uint32)
    triangles[0::2] = np.stack((a, a + cols + 1, a + 1), axis=-1)
    triangles[1::2] = np.stack((a, a + cols, a + cols + 1), axis=-1)
    if len(_MADE) >= _MAX_MADE:
        _MADE.pop(next(iter(_MADE)))
    _MADE[fingerprint(vertices)] = (heights.astype(np.float32), float(horizontal_scale))
    return vertices, triangles


def fingerprint(vertices) -> str:
    return hashlib.sha1(np.ascontiguousarray(np.asarray(vertices, dtype=np.float32).reshape(-1, 3)).data).hexdigest()


def heightfield_of(vertices) -> tuple[np.ndarray, float] | None:
    """The heights (metres, rows along x) and spacing a mesh was made from, if made here."""
    return _MADE.get(fingerprint(vertices))

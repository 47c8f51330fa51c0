"""``isaacgym.gymutil`` for tasks and scripts: command-line and device helpers, and debug-draw
geometry that draws into the viewer (``gym.add_lines``) or does nothing without one.

Engine-independent (it uses only the value types and the Gym's own calls). Written for this
project from the names Isaac Gym scripts use; served as ``isaacgym.gymutil`` when
``mytasks.compat`` is imported.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from mytasks.sim import types as gt


# ---------------------------------------------------------------------- devices and arguments
def parse_device_str(device_str: str) -> tuple[str, int]:
    """("cuda", 1) for "cuda:1", ("cpu", 0) for "cpu"; "cuda" alone is device 0."""
    kind, _, index = str(device_str).partition(":")
    kind = kind.lower()
    if kind not in ("cpu", "cuda"):
        raise ValueError(f"device '{device_str}': use cpu, cuda or cuda:<index>")
    return kind, int(index) if index else 0


def parse_arguments(description: str = "Isaac Gym Example", headless: bool = False, no_graphics: bool = False,
                    custom_parameters: list | None = None) -> argparse.Namespace:  # fmt: skip
    """Isaac Gym's example arguments (devices, pipeline, engine, headless) plus ``custom_parameters``
    (dicts with "name" and argparse's keywords)."""
    parser = argparse.ArgumentParser(description=description)
    if headless:
        parser.add_argument("--headless", action="store_true", help="run without a viewer")
    if no_graphics:
        parser.add_argument("--nographics", action="store_true", help="no graphics device at all")
    parser.add_argument("--sim_device", type=str, default="cuda:0", help="physics device: cpu or cuda:<n>")
    parser.add_argument("--pipeline", type=str, default="gpu", help="tensor pipeline: cpu or gpu")
    parser.add_argument("--graphics_device_id", type=int, default=0, help="graphics device index")
    engines = parser.add_mutually_exclusive_group()
    engines.add_argument("--flex", action="store_true", help="FleX (not available; accepted for scripts)")
    engines.add_argument("--physx", action="store_true", help="PhysX (Isaac Gym) instead of Newton")
    parser.add_argument("--num_threads", type=int, default=0, help="PhysX CPU threads (PhysX only)")
    parser.add_argument("--subscenes", type=int, default=0, help="PhysX subscenes (PhysX only)")
    parser.add_argument("--slices", type=int, help="client threads for simulation (PhysX only)")
    for p in custom_parameters or []:
        p = dict(p)
        name = p.pop("name")
        parser.add_argument(name, **p)
    args = parser.parse_args()
    args.sim_device_type, args.compute_device_id = parse_device_str(args.sim_device)
    pipeline = args.pipeline.lower()
    if pipeline not in ("cpu", "gpu", "cuda"):
        parser.error(f"--pipeline {args.pipeline}: use cpu or gpu")
    args.use_gpu_pipeline = pipeline in ("gpu", "cuda") and args.sim_device_type == "cuda"
    if args.sim_device_type != "cuda" and pipeline in ("gpu", "cuda"):
        print("mytasks: the GPU pipeline needs a CUDA sim device; using the CPU pipeline")
    args.use_gpu = args.sim_device_type == "cuda"
    args.physics_engine = gt.SIM_PHYSX if args.physx else gt.SIM_NEWTON
    if args.slices is None:
        args.slices = args.subscenes
    return args


def parse_sim_config(cfg: dict, sim_params: gt.SimParams) -> None:
    """Copies a YAML ``sim`` section's keys onto ``sim_params`` (nested sections onto their objects)."""
    for key, value in cfg.items():
        target = getattr(sim_params, key, None)
        if isinstance(value, dict) and target is not None and not isinstance(target, int | float):
            for k, v in value.items():
                if hasattr(target, k):
                    setattr(target, k, v)
        elif key == "gravity":
            sim_params.gravity = gt.Vec3(*value)
        elif key == "up_axis":
            sim_params.up_axis = gt.UP_AXIS_Z if str(value).lower() == "z" else gt.UP_AXIS_Y
        elif hasattr(sim_params, key):
            setattr(sim_params, key, value)


# ---------------------------------------------------------------------- debug drawing
class LineGeometry:
    """Line segments in a local frame: ``vertices()`` (n, 2) of xyz pairs, ``colors()`` (n, 3)."""

    def __init__(self, verts, colors):
        self.verts = np.asarray(verts, dtype=np.float32).reshape(-1, 2, 3)
        self._colors = np.asarray(colors, dtype=np.float32).reshape(-1, 3)

    def vertices(self) -> np.ndarray:
        return self.verts

    def colors(self) -> np.ndarray:
        return self._colors

    def instance_verts(self, pose: gt.Transform) -> np.ndarray:
        """The segments moved by ``pose``: (n, 2, 3)."""
        return _posed(self.verts, pose)


class AxesGeometry(LineGeometry):
    """The x (red), y (green) and z (blue) axes, ``scale`` long."""

    def __init__(self, scale: float = 1.0, pose: gt.Transform | None = None):
        s = float(scale)
        verts = [[(0, 0, 0), (s, 0, 0)], [(0, 0, 0), (0, s, 0)], [(0, 0, 0), (0, 0, s)]]
        super().__init__(_posed(verts, pose), [(1, 0, 0), (0, 1, 0), (0, 0, 1)])


class WireframeBoxGeometry(LineGeometry):
    """The 12 edges of an xs x ys x zs box centred on ``pose``."""

    def __init__(self, xdim: float = 1, ydim: float = 1, zdim: float = 1, pose=None, color=None):
        hx, hy, hz = xdim / 2, ydim / 2, zdim / 2
        corners = [(sx * hx, sy * hy, sz * hz) for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]
        edges = _box_edges(corners)
        super().__init__(_posed(edges, pose), [color or (1, 0, 0)] * len(edges))


class WireframeBBoxGeometry(LineGeometry):
    """The edges of the axis-aligned box between corners ``bbox`` = [[xmin, ymin, zmin], [xmax, ymax, zmax]]."""

    def __init__(self, bbox, pose=None, color=None):
        lo, hi = np.asarray(bbox, dtype=np.float32).reshape(2, 3)
        corners = [(x, y, z) for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
        edges = _box_edges(corners)
        super().__init__(_posed(edges, pose), [color or (1, 0, 0)] * len(edges))


def _box_edges(corners) -> list:
    """The pairs of box corners that differ in one coordinate: the 12 edges."""
    return [(a, b) for i, a in enumerate(corners) for b in corners[i + 1 :]
            if sum(x != y for x, y in zip(a, b, strict=True)) == 1]  # fmt: skip


class WireframeSphereGeometry(LineGeometry):
    """Latitude and longitude circles of a sphere of ``radius``."""

    def __init__(self, radius: float = 1.0, num_lats: int = 8, num_lons: int = 8, pose=None, color=None, color2=None):
        segs = []
        for i in range(num_lats):
            lat0, lat1 = math.pi * (-0.5 + i / num_lats), math.pi * (-0.5 + (i + 1) / num_lats)
            for j in range(num_lons):
                lon0, lon1 = 2 * math.pi * j / num_lons, 2 * math.pi * (j + 1) / num_lons
                p0 = _on_sphere(radius, lat0, lon0)
                segs += [(p0, _on_sphere(radius, lat1, lon0)), (p0, _on_sphere(radius, lat0, lon1))]
        colors = [color or (1, 0, 0), color2 or color or (0, 1, 0)] * (len(segs) // 2)
        super().__init__(_posed(segs, pose), colors)


def _on_sphere(radius: float, lat: float, lon: float) -> tuple:
    return radius * math.cos(lat) * math.cos(lon), radius * math.cos(lat) * math.sin(lon), radius * math.sin(lat)


def _posed(segments, pose: gt.Transform | None):
    pts = np.asarray(segments, dtype=np.float32).reshape(-1, 3)
    if pose is not None:
        pts = np.array([list(p) for p in pose.transform_points(pts)], dtype=np.float32)
    return pts.reshape(-1, 2, 3)


def draw_lines(geom: LineGeometry, gym, viewer, env, pose: gt.Transform) -> None:
    """Draws ``geom`` at ``pose`` (env frame) in ``viewer``; nothing without a viewer."""
    if viewer is None:
        return
    verts = geom.instance_verts(pose)
    gym.add_lines(viewer, env, len(verts), verts.reshape(-1, 6), geom.colors())


def draw_line(p1: gt.Vec3, p2: gt.Vec3, color: gt.Vec3, gym, viewer, env) -> None:
    if viewer is None:
        return
    verts = np.array([[*p1, *p2]], dtype=np.float32)
    gym.add_lines(viewer, env, 1, verts, np.array([list(color)], dtype=np.float32))


# ---------------------------------------------------------------------- XML
def _indent_xml(elem, level: int = 0) -> None:
    """Indents an ElementTree element in place (two spaces per level), for readable files."""
    pad = "\n" + level * "  "
    if len(elem):
        if not elem.text or not elem.text.strip():
            elem.text = pad + "  "
        for child in elem:
            _indent_xml(child, level + 1)
        if not child.tail or not child.tail.strip():
            child.tail = pad
    if level and (not elem.tail or not elem.tail.strip()):
        elem.tail = pad

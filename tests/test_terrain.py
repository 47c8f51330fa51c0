"""Height-field terrain: isaacgym.terrain_utils' generators and mesh conversion against their
closed forms; balls and boxes resting on the terrain where its heights say (from
gym.add_heightfield and gym.add_triangle_mesh), a box on a slope holding or sliding by its
friction angle, and fast bodies stopped by a step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mytasks.sim import gymapi, gymtorch, terrain_utils

HS, VS = 0.1, 0.005  # horizontal and vertical scale [m]


def _terrain(width=40, length=30):
    return terrain_utils.SubTerrain(width=width, length=length, vertical_scale=VS, horizontal_scale=HS)


def test_slopes_stairs_and_waves_have_their_closed_form_heights():
    slope = terrain_utils.sloped_terrain(_terrain(), slope=0.2).height_field_raw * VS
    x = np.arange(40)[:, None] * HS
    np.testing.assert_allclose(slope, np.broadcast_to(0.2 * x, (40, 30)), atol=VS / 2)
    stairs = terrain_utils.stairs_terrain(_terrain(), step_width=0.5, step_height=0.1).height_field_raw * VS
    np.testing.assert_allclose(stairs[:, 0], 0.1 * (np.arange(40) // 5), atol=1e-9)
    assert (stairs == stairs[:, :1]).all()  # the same along y
    waves = terrain_utils.wave_terrain(_terrain(), num_waves=2, amplitude=0.3).height_field_raw * VS
    assert waves.max() <= 0.6 + VS and waves.min() >= -0.6 - VS and waves.max() > 0.5


def test_pyramids_rise_from_the_edges_to_a_flat_top():
    stairs = terrain_utils.pyramid_stairs_terrain(_terrain(40, 40), step_width=0.4, step_height=0.05,
                                                  platform_size=1.0).height_field_raw * VS  # fmt: skip
    assert (stairs[0] == 0).all() and (stairs[:, 0] == 0).all()
    top = stairs[15:25, 15:25]
    assert (top == top[0, 0]).all() and top[0, 0] == pytest.approx(0.05 * (15 // 4), abs=1e-9)
    np.testing.assert_array_equal(stairs, stairs.T)
    np.testing.assert_array_equal(stairs, stairs[::-1, ::-1])
    sloped = terrain_utils.pyramid_sloped_terrain(_terrain(40, 40), slope=0.1, platform_size=1.0).height_field_raw
    assert sloped[20, 20] * VS == pytest.approx(0.1 * 15 * HS, abs=VS)
    pit = terrain_utils.pyramid_sloped_terrain(_terrain(40, 40), slope=-0.1, platform_size=1.0).height_field_raw
    np.testing.assert_array_equal(pit, -sloped)


def test_random_terrains_stay_in_their_ranges_around_a_flat_platform():
    np.random.seed(0)
    rough = terrain_utils.random_uniform_terrain(_terrain(), min_height=-0.05, max_height=0.05, step=0.005,
                                                 downsampled_scale=0.5).height_field_raw * VS  # fmt: skip
    assert rough.min() >= -0.05 - 1e-9 and rough.max() <= 0.05 + 1e-9 and rough.std() > 0.01
    boxes = terrain_utils.discrete_obstacles_terrain(_terrain(), max_height=0.2, min_size=0.2, max_size=0.6,
                                                     num_rects=30, platform_size=1.0).height_field_raw * VS  # fmt: skip
    assert set(np.round(np.unique(boxes), 6)) <= {-0.2, -0.1, 0.0, 0.1, 0.2}
    assert (boxes[15:25, 10:20] == 0).all()
    stones = terrain_utils.stepping_stones_terrain(_terrain(), stone_size=0.3, stone_distance=0.2, max_height=0.05,
                                                   depth=-1.0).height_field_raw * VS  # fmt: skip
    assert stones.min() == pytest.approx(-1.0) and stones.max() <= 0.05 + 1e-9
    assert (stones[3:5, :] == -1.0).all()  # the first gap between rows of stones


def test_a_height_field_becomes_an_upward_mesh_with_vertical_walls_where_steep():
    hf = terrain_utils.stairs_terrain(_terrain(10, 6), step_width=0.5, step_height=0.2).height_field_raw
    vertices, triangles = terrain_utils.convert_heightfield_to_trimesh(hf, HS, VS)
    assert vertices.shape == (60, 3) and triangles.shape == (2 * 9 * 5, 3) and triangles.dtype == np.uint32
    a, b, c = (vertices[triangles[:, k]] for k in range(3))
    assert (np.cross(b - a, c - a)[:, 2] > 0).all()  # every face looks up
    np.testing.assert_allclose(vertices[:, 2], (hf * VS).ravel(), atol=1e-6)
    walls, _ = terrain_utils.convert_heightfield_to_trimesh(hf, HS, VS, slope_threshold=0.75)
    grid = walls.reshape(10, 6, 3)
    # The 0.2 m rise between rows 4 and 5 (2 m/m) is a wall: row 4's vertices move under row 5.
    np.testing.assert_allclose(grid[4, :, 0], grid[5, :, 0])
    assert (grid[5, :, 2] - grid[4, :, 2] == pytest.approx(0.2))
    np.testing.assert_allclose(grid[2, :, 0], 2 * HS)  # the flat tread stays put


def _bodies_on(add_terrain, points, shape="sphere"):
    gym = gymapi.acquire_gym()
    sp = gymapi.SimParams()
    sp.use_gpu_pipeline = False
    sp.dt, sp.substeps, sp.up_axis = 0.01, 2, gymapi.UP_AXIS_Z
    sim = gym.create_sim(-1, -1, gymapi.SIM_NEWTON, sp)
    add_terrain(gym, sim)
    opts = gymapi.AssetOptions()
    opts.density = 1000.0
    box = gym.create_sphere(sim, 0.05, opts) if shape == "sphere" else gym.create_box(sim, 0.1, 0.1, 0.1, opts)
    for i, (x, y, z) in enumerate(points):
        env = gym.create_env(sim, gymapi.Vec3(0, 0, 0), gymapi.Vec3(0, 0, 0), 1)
        gym.create_actor(env, box, gymapi.Transform(gymapi.Vec3(x, y, z)), "box", i, 0, 0)
    gym.prepare_sim(sim)
    root = gymtorch.wrap_tensor(gym.acquire_actor_root_state_tensor(sim))
    _bodies_on.contact = gymtorch.wrap_tensor(gym.acquire_net_contact_force_tensor(sim))  # each body's
    for _ in range(100):
        gym.simulate(sim)
    gym.refresh_actor_root_state_tensor(sim)
    gym.refresh_net_contact_force_tensor(sim)
    return root


# A 2 m x 1 m staircase: treads 0.5 m deep rising 0.1 m each along x from 0.1 m, its first
# sample at (-0.5, -0.2). Balls rest on the treads' middles, each at its tread's height.
ROWS, COLS, ORIGIN = 20, 10, (-0.5, -0.2, 0.1)
_FIELD = terrain_utils.SubTerrain(width=ROWS, length=COLS, vertical_scale=VS, horizontal_scale=HS)
STAIRS = terrain_utils.stairs_terrain(_FIELD, step_width=0.5, step_height=0.1)
POINTS = [(-0.3, 0.1), (0.2, 0.5), (0.7, 0.2), (1.2, 0.6)]  # the middles of the four treads


def _on_stairs(x):
    return ORIGIN[2] + 0.1 * int((x - ORIGIN[0]) // 0.5) + 0.05  # centre of a resting 0.1 m ball or box


def _heightfield(gym, sim):
    p = gymapi.HeightFieldParams()
    p.row_scale = p.column_scale = HS
    p.vertical_scale = VS
    p.nbRows, p.nbColumns = ROWS, COLS
    p.transform.p = gymapi.Vec3(*ORIGIN)
    gym.add_heightfield(sim, STAIRS.height_field_raw.flatten(), p)


def _mesh(gym, sim):
    vertices, triangles = terrain_utils.convert_heightfield_to_trimesh(STAIRS.height_field_raw, HS, VS, 0.75)
    p = gymapi.TriangleMeshParams()
    p.nb_vertices, p.nb_triangles = len(vertices), len(triangles)
    p.transform.p = gymapi.Vec3(*ORIGIN)
    gym.add_triangle_mesh(sim, vertices.flatten(order="C"), triangles.flatten(order="C"), p)


@pytest.mark.parametrize("add_terrain", [_heightfield, _mesh], ids=["add_heightfield", "add_triangle_mesh"])
def test_balls_rest_on_the_terrain_where_its_heights_say(add_terrain):
    root = _bodies_on(add_terrain, [(x, y, _on_stairs(x) + 0.01) for x, y in POINTS])
    for i, (x, y) in enumerate(POINTS):
        torch.testing.assert_close(root[i, 0:3], torch.tensor([x, y, _on_stairs(x)]), atol=2e-3, rtol=0)
    assert root[:, 7:13].abs().max() < 0.01  # at rest


def test_boxes_rest_on_the_terrain_where_its_heights_say():
    """Level and at rest on their treads (MuJoCo-Warp's own box-height field contacts tumbled
    them or let them fall through: a scene with height fields takes Newton's contacts)."""
    root = _bodies_on(_heightfield, [(x, y, _on_stairs(x) + 0.01) for x, y in POINTS], shape="box")
    for i, (x, y) in enumerate(POINTS):
        torch.testing.assert_close(root[i, 0:3], torch.tensor([x, y, _on_stairs(x)]), atol=2e-3, rtol=0)
    torch.testing.assert_close(root[:, 3:7], torch.tensor([[0.0, 0.0, 0.0, 1.0]] * len(POINTS)), atol=1e-3, rtol=0)
    # settled a second after a 1 cm drop: the corners (5 cm out) move under 1 mm/s
    assert root[:, 7:10].abs().max() < 0.01 and root[:, 10:13].abs().max() < 0.02
    weight, force = 1000.0 * 0.1**3 * 9.81, _bodies_on.contact  # the tread holds each 1 kg box up
    assert (force[:, 2] - weight).abs().max() < 0.02 * weight and force[:, :2].abs().max() < 0.02 * weight, force


def test_a_mesh_that_is_not_a_terrain_is_refused_with_the_call_to_use():
    gym = gymapi.acquire_gym()
    sim = gym.create_sim(-1, -1, gymapi.SIM_NEWTON, gymapi.SimParams())
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=np.float32)
    with pytest.raises(NotImplementedError, match="gym.add_heightfield"):
        gym.add_triangle_mesh(sim, vertices.flatten(), np.arange(3, dtype=np.uint32), gymapi.TriangleMeshParams())


def _on_field(heights, mu: float, substeps: int):
    """A sim whose terrain is ``heights`` [mm] on a 0.1 m grid (rows along x), of friction mu."""
    gym = gymapi.acquire_gym()
    sp = gymapi.SimParams()
    sp.use_gpu_pipeline = False
    sp.dt, sp.substeps, sp.up_axis = 0.01, substeps, gymapi.UP_AXIS_Z
    sim = gym.create_sim(-1, -1, gymapi.SIM_NEWTON, sp)
    p = gymapi.HeightFieldParams()
    p.row_scale = p.column_scale = 0.1
    p.vertical_scale = 0.001
    p.nbRows, p.nbColumns = heights.shape
    p.static_friction = p.dynamic_friction = mu
    gym.add_heightfield(sim, heights.flatten(), p)
    return gym, sim


@pytest.mark.parametrize("mu", [0.5, 0.2])
def test_a_box_on_a_sloped_field_holds_or_slides_as_its_friction_angle_says(mu):
    """A 0.1 m box on a height field rising 0.36 m/m (19.8 deg), box and field of friction mu:
    with mu above tan(theta) it stays put; below, it slides down at g (sin - mu cos)."""
    rise = 0.36
    theta = np.arctan(rise)
    heights = np.repeat(np.arange(40, dtype=np.int16)[:, None] * 36, 20, axis=1)  # 36 mm per 0.1 m row
    gym, sim = _on_field(heights, mu, substeps=4)
    opts = gymapi.AssetOptions()
    opts.density = 1000.0
    box = gym.create_box(sim, 0.1, 0.1, 0.1, opts)
    shapes = gym.get_asset_rigid_shape_properties(box)
    shapes[0].friction = mu
    gym.set_asset_rigid_shape_properties(box, shapes)
    env = gym.create_env(sim, gymapi.Vec3(0, 0, 0), gymapi.Vec3(0, 0, 0), 1)
    x0 = 2.0
    pose = gymapi.Transform(gymapi.Vec3(x0, 1.0, rise * x0 + 0.05 / np.cos(theta) + 0.001),
                            gymapi.Quat.from_axis_angle(gymapi.Vec3(0, 1, 0), -theta))  # fmt: skip
    gym.create_actor(env, box, pose, "box", 0, 0, 0)
    gym.prepare_sim(sim)
    root = gymtorch.wrap_tensor(gym.acquire_actor_root_state_tensor(sim))
    downhill = torch.tensor([-np.cos(theta), 0.0, -np.sin(theta)], dtype=torch.float32)

    def after(steps):
        for _ in range(steps):
            gym.simulate(sim)
        gym.refresh_actor_root_state_tensor(sim)
        return root[0, 0:3] @ downhill, root[0, 7:10] @ downhill

    _, v1 = after(20)  # settled onto the slope
    s1, _ = after(0)
    s2, v2 = after(50)
    if mu > rise:
        assert abs(s2 - s1) < 2e-3 and abs(v2) < 0.01, (s2 - s1, v2)
    else:
        a = 9.81 * (np.sin(theta) - mu * np.cos(theta))  # 1.47 m/s^2
        assert (v2 - v1).item() == pytest.approx(a * 0.5, rel=0.1), (v1, v2)


@pytest.mark.parametrize("shape", ["box", "sphere"])
def test_a_body_at_5_m_per_s_does_not_pass_into_a_20_cm_step(shape):
    """A 0.1 m box or ball sliding at 5 m/s into a 0.2 m rise of the field: at no step is it
    inside the rise (past its foot, below its top)."""
    heights = np.zeros((40, 20), dtype=np.int16)
    heights[20:] = 200  # the rise: from x = 1.9 m (the last low sample) to 2.0 m (the first high one)
    gym, sim = _on_field(heights, 0.1, substeps=2)
    opts = gymapi.AssetOptions()
    opts.density = 1000.0
    body = gym.create_box(sim, 0.1, 0.1, 0.1, opts) if shape == "box" else gym.create_sphere(sim, 0.05, opts)
    env = gym.create_env(sim, gymapi.Vec3(0, 0, 0), gymapi.Vec3(0, 0, 0), 1)
    gym.create_actor(env, body, gymapi.Transform(gymapi.Vec3(1.2, 1.0, 0.051)), "body", 0, 0, 0)
    gym.prepare_sim(sim)
    root = gymtorch.wrap_tensor(gym.acquire_actor_root_state_tensor(sim))
    gym.refresh_actor_root_state_tensor(sim)
    root[0, 7] = 5.0
    gym.set_actor_root_state_tensor(sim, gymtorch.unwrap_tensor(root))
    reached = 0.0
    for _ in range(60):
        gym.simulate(sim)
        gym.refresh_actor_root_state_tensor(sim)
        x, z = root[0, 0].item(), root[0, 2].item()
        reached = max(reached, x)
        assert not (x > 1.95 and z < 0.2), (x, z)  # its centre inside the rise
    assert reached > 1.7  # it did get there

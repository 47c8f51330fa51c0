"""mytasks.utils.torch_jit_utils against closed forms (rotation matrices, known angles)."""

import math

import numpy as np
import pytest
import torch

from mytasks.utils import torch_jit_utils as tu

torch.manual_seed(0)


def _random_quats(n=64):
    return tu.normalize(torch.randn(n, 4, dtype=torch.float64))


def _matrix(q):
    """Rotation matrix of x, y, z, w quaternions, written out (closed form)."""
    x, y, z, w = q.unbind(-1)
    return torch.stack(
        (
            1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
        ),
        -1,
    ).view(-1, 3, 3)  # fmt: skip


def _rot_z(angle):
    return torch.tensor([[0.0, 0.0, math.sin(angle / 2), math.cos(angle / 2)]], dtype=torch.float64)


def test_rotations_match_matrices():
    q, p = _random_quats(), _random_quats()
    v = torch.randn(64, 3, dtype=torch.float64)
    R = _matrix(q)
    expected = (R @ v.unsqueeze(-1)).squeeze(-1)
    for f in (tu.quat_apply, tu.quat_rotate, tu.my_quat_rotate, tu.tf_vector, tu.get_basis_vector):
        torch.testing.assert_close(f(q, v), expected)
    torch.testing.assert_close(tu.quat_rotate_inverse(q, expected), v)
    torch.testing.assert_close(_matrix(tu.quat_mul(q, p)), R @ _matrix(p))
    torch.testing.assert_close(tu.quat_axis(q, 1), R[:, :, 1])
    torch.testing.assert_close(tu.quat_to_tan_norm(q), torch.cat((R[:, :, 0], R[:, :, 2]), -1))


def test_matrix_conversions_take_the_real_part_first():
    q = _random_quats()
    wxyz = torch.cat((q[:, 3:], q[:, :3]), -1)
    torch.testing.assert_close(tu.quaternion_to_matrix(wxyz), _matrix(q))
    back = tu.matrix_to_quaternion(_matrix(q))
    torch.testing.assert_close(back, wxyz * torch.sign(wxyz[:, :1]))
    # Near a half turn (w ~ 0) the conversion stays accurate.
    half = torch.tensor([[1.0, 0.0, 0.0, 1e-7]], dtype=torch.float64)
    x_turn = torch.tensor([[0.0, 1, 0, 0]], dtype=torch.float64)
    torch.testing.assert_close(tu.matrix_to_quaternion(_matrix(tu.normalize(half))).abs(), x_turn, atol=1e-6, rtol=0)


def test_euler_angles_round_trip_in_zero_to_two_pi():
    roll, pitch, yaw = torch.tensor([0.3, -0.2]), torch.tensor([0.5, -1.0]), torch.tensor([-2.0, 3.0])
    q = tu.quat_from_euler_xyz(roll, pitch, yaw)
    r, p, y = tu.get_euler_xyz(q)
    two_pi = 2 * math.pi
    torch.testing.assert_close(r, roll % two_pi)
    torch.testing.assert_close(p, pitch % two_pi)
    torch.testing.assert_close(y, yaw % two_pi, atol=1e-5, rtol=0)
    # x-y-z extrinsic: R = Rz(yaw) Ry(pitch) Rx(roll)
    one = torch.ones(1)
    rx, ry, rz = (_matrix(tu.quat_from_euler_xyz(*(a * one for a in angles)))[0] for angles in
                  ((0.3, 0.0, 0.0), (0.0, 0.5, 0.0), (0.0, 0.0, -2.0)))  # fmt: skip
    torch.testing.assert_close(_matrix(tu.quat_from_euler_xyz(0.3 * one, 0.5 * one, -2.0 * one))[0], rz @ ry @ rx)
    torch.testing.assert_close(rz, _matrix(_rot_z(-2.0).float())[0])


def test_angle_helpers():
    x = torch.tensor([0.0, 3 * math.pi / 2, -3 * math.pi / 2, 7.0])
    torch.testing.assert_close(tu.normalize_angle(x), torch.tensor([0.0, -math.pi / 2, math.pi / 2, 7.0 - 2 * math.pi]))
    torch.testing.assert_close(tu.wrap_to_pi(x), tu.normalize_angle(x))
    torch.testing.assert_close(tu.copysign(2.0, torch.tensor([-3.0, 0.5])), torch.tensor([-2.0, 2.0]))
    q = _rot_z(1.2)
    angle, axis = tu.quat_to_angle_axis(q)
    torch.testing.assert_close(angle, torch.tensor([1.2], dtype=torch.float64))
    torch.testing.assert_close(axis, torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64))
    torch.testing.assert_close(tu.quat_to_exp_map(q), torch.tensor([[0.0, 0.0, 1.2]], dtype=torch.float64))
    torch.testing.assert_close(tu.exp_map_to_quat(torch.tensor([[0.0, 0.0, 1.2]], dtype=torch.float64)), q)
    torch.testing.assert_close(tu.quat_diff_rad(q, _rot_z(0.2)), torch.tensor([1.0], dtype=torch.float64))
    torch.testing.assert_close(tu.calc_heading(q), torch.tensor([1.2], dtype=torch.float64))
    torch.testing.assert_close(tu.quat_mul(tu.calc_heading_quat_inv(q), q), _rot_z(0.0))
    # no rotation: zero angle about z
    angle, axis = tu.quat_to_angle_axis(_rot_z(0.0))
    assert angle.item() == 0.0 and axis.tolist() == [[0.0, 0.0, 1.0]]


def test_transforms_compose_and_invert():
    q1, q2 = _random_quats(8), _random_quats(8)
    t1, t2 = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 3, dtype=torch.float64)
    v = torch.randn(8, 3, dtype=torch.float64)
    q, t = tu.tf_combine(q1, t1, q2, t2)
    torch.testing.assert_close(tu.tf_apply(q, t, v), tu.tf_apply(q1, t1, tu.tf_apply(q2, t2, v)))
    qi, ti = tu.tf_inverse(q1, t1)
    torch.testing.assert_close(tu.tf_apply(qi, ti, tu.tf_apply(q1, t1, v)), v)
    pose = torch.cat((t1, q1), -1)
    torch.testing.assert_close(tu.local_to_world_space(v, pose), tu.tf_apply(q1, t1, v))
    torch.testing.assert_close(tu.normalise_quat_in_pose(torch.cat((t1, 3 * q1), -1)), pose)


def test_slerp_follows_the_shorter_arc():
    a, b = _rot_z(0.0), _rot_z(2.0)
    for t in (0.0, 0.25, 1.0):
        torch.testing.assert_close(tu.slerp(a, b, torch.tensor([[t]], dtype=torch.float64)), _rot_z(2.0 * t))
    torch.testing.assert_close(tu.slerp(a, -b, torch.tensor([[0.5]], dtype=torch.float64)), _rot_z(1.0))


def test_locomotion_helpers():
    n = 3
    yaw = torch.tensor([0.0, math.pi / 2, math.pi])
    torso = tu.quat_from_euler_xyz(torch.zeros(n), torch.zeros(n), yaw)
    ident = torch.tensor([[0.0, 0.0, 0.0, 1.0]]).repeat(n, 1)
    to_target = torch.tensor([[10.0, 0.0, 0.0]]).repeat(n, 1)
    x_axis, z_axis = torch.tensor([[1.0, 0, 0]]).repeat(n, 1), torch.tensor([[0.0, 0, 1]]).repeat(n, 1)
    quat, up_proj, heading_proj, _, _ = tu.compute_heading_and_up(torso, ident, to_target, x_axis, z_axis, 2)
    torch.testing.assert_close(up_proj, torch.ones(n))
    torch.testing.assert_close(heading_proj, torch.cos(yaw), atol=1e-6, rtol=0)
    vel = torch.tensor([[1.0, 0.0, 0.0]]).repeat(n, 1)
    vel_loc, _, _, _, _, angle_to_target = tu.compute_rot(quat, vel, vel, torch.zeros(n, 3), -to_target)
    torch.testing.assert_close(vel_loc[1], torch.tensor([0.0, -1.0, 0.0]), atol=1e-6, rtol=0)
    # target straight ahead along +x (x-z plane): angle 0 minus yaw
    torch.testing.assert_close(angle_to_target, -(yaw % (2 * math.pi)), atol=1e-5, rtol=0)


def test_ranges_and_sampling():
    lo, hi = torch.tensor([-2.0, 0.0]), torch.tensor([2.0, 10.0])
    x = torch.tensor([[0.5, 5.0], [-1.0, 0.0]])
    torch.testing.assert_close(tu.unscale(tu.scale(x, lo, hi), lo, hi), x)
    torch.testing.assert_close(tu.scale_transform(x, lo, hi), tu.unscale(x, lo, hi))
    torch.testing.assert_close(tu.unscale_transform(x, lo, hi), tu.scale(x, lo, hi))
    torch.testing.assert_close(tu.saturate(torch.tensor([[5.0, -1.0]]), lo, hi), torch.tensor([[2.0, 0.0]]))
    np.testing.assert_allclose(tu.unscale_np(np.array([0.0]), -2.0, 2.0), [0.0])
    s = tu.torch_rand_float(-1.0, 3.0, (1000, 2), "cpu")
    assert s.shape == (1000, 2) and s.min() >= -1.0 and s.max() < 3.0 and abs(s.mean().item() - 1.0) < 0.15
    d = tu.torch_random_dir_2((500, 1), "cpu")
    torch.testing.assert_close(d.norm(dim=-1), torch.ones(500))
    assert tu.get_axis_params(9.81, 2) == [0.0, 0.0, 9.81]


def test_callable_from_scripted_task_code():
    @torch.jit.script
    def observe(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return tu.quat_rotate_inverse(q, v) + tu.normalize_angle(v)

    q = _random_quats(4).float()
    v = torch.randn(4, 3)
    torch.testing.assert_close(observe(q, v), tu.quat_rotate_inverse(q, v) + tu.normalize_angle(v))


@pytest.mark.parametrize("name", ["compute_heading_and_up", "compute_rot", "quat_axis", "tf_combine", "slerp"])
def test_star_import_serves_the_isaacgymenvs_names(name):
    scope = {}
    exec("from mytasks.utils.torch_jit_utils import *", scope)
    assert callable(scope[name]) and scope["torch"] is torch and scope["np"] is np

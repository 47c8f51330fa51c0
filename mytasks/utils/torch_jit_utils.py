"""Torch math for tasks, with Isaac Gym's and IsaacGymEnvs' names.

Quaternions are x, y, z, w (Isaac Gym's order) and shaped (N, 4), except
``quaternion_to_matrix``/``matrix_to_quaternion``, which take the real part first (w, x, y,
z) as their IsaacGymEnvs namesakes do. Vectors are (N, 3); angles are radians. Written for
this project from the definitions; the functions are TorchScript-compiled, so tasks may call
them from their own ``@torch.jit.script`` functions. ``from mytasks.utils.torch_jit_utils
import *`` also brings ``torch``, ``np`` and ``math``, as the isaacgym modules do.

This module deliberately has no ``from __future__ import annotations``: TorchScript reads the
annotations as types.
"""

import math

import numpy as np
import torch


def to_torch(x, dtype=torch.float, device="cuda:0", requires_grad=False) -> torch.Tensor:
    return torch.tensor(x, dtype=dtype, device=device, requires_grad=requires_grad)


@torch.jit.script
def normalize(x: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    return x / x.norm(p=2, dim=-1).clamp(min=eps, max=None).unsqueeze(-1)


@torch.jit.script
def quat_mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The Hamilton product a * b (apply b, then a)."""
    shape = a.shape
    a, b = a.reshape(-1, 4), b.reshape(-1, 4)
    x1, y1, z1, w1 = a[:, 0], a[:, 1], a[:, 2], a[:, 3]
    x2, y2, z2, w2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    out = torch.stack(
        (
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        ),
        dim=-1,
    )
    return out.view(shape)


@torch.jit.script
def quat_conjugate(a: torch.Tensor) -> torch.Tensor:
    return torch.cat((-a[..., :3], a[..., 3:]), dim=-1)


@torch.jit.script
def quat_unit(a: torch.Tensor) -> torch.Tensor:
    return normalize(a)


@torch.jit.script
def quat_apply(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotates vectors ``v`` by quaternions ``q`` (v' = q v q*), any matching leading shape."""
    shape = v.shape
    q, v = q.reshape(-1, 4), v.reshape(-1, 3)
    xyz = q[:, :3]
    t = 2.0 * torch.cross(xyz, v, dim=-1)
    return (v + q[:, 3:] * t + torch.cross(xyz, t, dim=-1)).view(shape)


@torch.jit.script
def quat_rotate(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Body-frame vectors ``v`` (N, 3) to the world frame of orientations ``q`` (N, 4)."""
    return quat_apply(q, v)


@torch.jit.script
def quat_rotate_inverse(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """World-frame vectors ``v`` (N, 3) to the body frame of orientations ``q`` (N, 4)."""
    return quat_apply(quat_conjugate(q), v)


@torch.jit.script
def my_quat_rotate(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return quat_apply(q, v)


@torch.jit.script
def quat_from_angle_axis(angle: torch.Tensor, axis: torch.Tensor) -> torch.Tensor:
    theta = (angle / 2).unsqueeze(-1)
    xyz = normalize(axis) * theta.sin()
    return quat_unit(torch.cat((xyz, theta.cos()), dim=-1))


@torch.jit.script
def quat_axis(q: torch.Tensor, axis: int = 0) -> torch.Tensor:
    """The ``axis``-th (0 x, 1 y, 2 z) unit axis of the frames ``q``, in the world frame."""
    basis = torch.zeros(q.shape[0], 3, device=q.device, dtype=q.dtype)
    basis[:, axis] = 1.0
    return quat_rotate(q, basis)


@torch.jit.script
def get_basis_vector(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return quat_rotate(q, v)


@torch.jit.script
def normalize_angle(x: torch.Tensor) -> torch.Tensor:
    """Angles wrapped to [-π, π]."""
    return torch.atan2(torch.sin(x), torch.cos(x))


@torch.jit.script
def wrap_to_pi(angles: torch.Tensor) -> torch.Tensor:
    """Angles wrapped to [-π, π)."""
    return (angles + math.pi) % (2 * math.pi) - math.pi


@torch.jit.script
def copysign(a: float, b: torch.Tensor) -> torch.Tensor:
    """|a| with the sign of each element of ``b``."""
    return torch.copysign(torch.full_like(b, abs(a)), b)


@torch.jit.script
def get_euler_xyz(q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Roll, pitch, yaw (x-y-z extrinsic) of quaternions ``q``, each in [0, 2π) as Isaac Gym gives them."""
    x, y, z, w = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    roll = torch.atan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
    sinp = 2.0 * (w * y - z * x)
    pitch = torch.where(sinp.abs() >= 1, copysign(math.pi / 2.0, sinp), torch.asin(sinp.clamp(-1.0, 1.0)))
    yaw = torch.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    two_pi = 2.0 * math.pi
    return roll % two_pi, pitch % two_pi, yaw % two_pi


@torch.jit.script
def quat_from_euler_xyz(roll: torch.Tensor, pitch: torch.Tensor, yaw: torch.Tensor) -> torch.Tensor:
    cy, sy = torch.cos(yaw * 0.5), torch.sin(yaw * 0.5)
    cr, sr = torch.cos(roll * 0.5), torch.sin(roll * 0.5)
    cp, sp = torch.cos(pitch * 0.5), torch.sin(pitch * 0.5)
    return torch.stack(
        (
            sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy,
            cr * cp * cy + sr * sp * sy,
        ),
        dim=-1,
    )


# ---------------------------------------------------------------------- transforms (q, t)
@torch.jit.script
def tf_inverse(q: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    q_inv = quat_conjugate(q)
    return q_inv, -quat_apply(q_inv, t)


@torch.jit.script
def tf_apply(q: torch.Tensor, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return quat_apply(q, v) + t


@torch.jit.script
def tf_vector(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return quat_apply(q, v)


@torch.jit.script
def tf_combine(
    q1: torch.Tensor, t1: torch.Tensor, q2: torch.Tensor, t2: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The transform (q1, t1) * (q2, t2): apply (q2, t2), then (q1, t1)."""
    return quat_mul(q1, q2), quat_apply(q1, t2) + t1


@torch.jit.script
def local_to_world_space(pos_offset_local: torch.Tensor, pose_global: torch.Tensor) -> torch.Tensor:
    """Points given in the frames ``pose_global`` (N, 7: position, quaternion) to the world."""
    return quat_apply(pose_global[:, 3:7], pos_offset_local) + pose_global[:, 0:3]


@torch.jit.script
def normalise_quat_in_pose(pose: torch.Tensor) -> torch.Tensor:
    return torch.cat((pose[:, 0:3], normalize(pose[:, 3:7])), dim=-1)


# ---------------------------------------------------------------------- sampling, ranges
def torch_rand_float(lower: float, upper: float, shape, device) -> torch.Tensor:
    """Uniform samples in [lower, upper) of ``shape`` (any tuple of sizes)."""
    return (upper - lower) * torch.rand(tuple(shape), device=device) + lower


def torch_random_dir_2(shape, device) -> torch.Tensor:
    """Unit 2-D directions (N, 2) with uniformly random angle; ``shape`` is (N, 1)."""
    angle = torch_rand_float(-math.pi, math.pi, shape, device).squeeze(-1)
    return torch.stack((torch.cos(angle), torch.sin(angle)), dim=-1)


@torch.jit.script
def tensor_clamp(t: torch.Tensor, min_t: torch.Tensor, max_t: torch.Tensor) -> torch.Tensor:
    return torch.max(torch.min(t, max_t), min_t)


@torch.jit.script
def saturate(x: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    return torch.max(torch.min(x, upper), lower)


@torch.jit.script
def scale(x: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """Maps [-1, 1] to [lower, upper]."""
    return 0.5 * (x + 1.0) * (upper - lower) + lower


@torch.jit.script
def unscale(x: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """Maps [lower, upper] to [-1, 1]."""
    return (2.0 * x - upper - lower) / (upper - lower)


@torch.jit.script
def scale_transform(x: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """Maps [lower, upper] to [-1, 1] (as ``unscale``)."""
    offset = (lower + upper) * 0.5
    return 2.0 * (x - offset) / (upper - lower)


@torch.jit.script
def unscale_transform(x: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """Maps [-1, 1] to [lower, upper] (as ``scale``)."""
    offset = (lower + upper) * 0.5
    return x * (upper - lower) * 0.5 + offset


def unscale_np(x, lower, upper):
    """``unscale`` for numpy arrays."""
    return (2.0 * x - upper - lower) / (upper - lower)


def get_axis_params(value: float, axis_idx: int, x_value: float = 0.0, dtype=float, n_dims: int = 3) -> list:
    """A list of ``n_dims`` zeros with ``value`` at ``axis_idx`` (and ``x_value`` first)."""
    if not 0 <= axis_idx < n_dims:
        raise ValueError(f"axis {axis_idx} is not one of the {n_dims} dimensions")
    params = np.zeros(n_dims)
    params[axis_idx] = value
    params[0] = x_value
    return list(params.astype(dtype))


# ---------------------------------------------------------------------- locomotion helpers
@torch.jit.script
def compute_heading_and_up(
    torso_rotation: torch.Tensor,
    inv_start_rot: torch.Tensor,
    to_target: torch.Tensor,
    vec0: torch.Tensor,
    vec1: torch.Tensor,
    up_idx: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The torso orientation relative to its start (``torso_rotation * inv_start_rot``), the
    ``up_idx`` component of its up axis ``vec1``, the cosine between its heading axis ``vec0``
    and the direction ``to_target``, and both axes in the world frame."""
    n = torso_rotation.shape[0]
    target_dirs = normalize(to_target)
    torso_quat = quat_mul(torso_rotation, inv_start_rot)
    up_vec = get_basis_vector(torso_quat, vec1).view(n, 3)
    heading_vec = get_basis_vector(torso_quat, vec0).view(n, 3)
    up_proj = up_vec[:, up_idx]
    heading_proj = (heading_vec * target_dirs).sum(dim=-1)
    return torso_quat, up_proj, heading_proj, up_vec, heading_vec


@torch.jit.script
def compute_rot(
    torso_quat: torch.Tensor,
    velocity: torch.Tensor,
    ang_velocity: torch.Tensor,
    targets: torch.Tensor,
    torso_positions: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Velocities in the torso frame, its roll, pitch and yaw, and the angle to the target
    minus the yaw. The target's angle is measured in the x-z plane (components 0 and 2), as
    the IsaacGymEnvs helper of this name does."""
    vel_loc = quat_rotate_inverse(torso_quat, velocity)
    angvel_loc = quat_rotate_inverse(torso_quat, ang_velocity)
    roll, pitch, yaw = get_euler_xyz(torso_quat)
    walk_target_angle = torch.atan2(targets[:, 2] - torso_positions[:, 2], targets[:, 0] - torso_positions[:, 0])
    angle_to_target = walk_target_angle - yaw
    return vel_loc, angvel_loc, roll, pitch, yaw, angle_to_target


@torch.jit.script
def quat_diff_rad(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The angle [rad] of the rotation between orientations ``a`` and ``b``."""
    diff = quat_mul(a, quat_conjugate(b))
    return 2.0 * torch.asin(torch.clamp(torch.norm(diff[:, 0:3], p=2, dim=-1), max=1.0))


# ---------------------------------------------------------------------- angle-axis, exp maps
@torch.jit.script
def quat_to_angle_axis(q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Angle in [-π, π] and unit axis of unit quaternions ``q`` (axis z for no rotation)."""
    sin_theta = torch.sqrt(torch.clamp(1.0 - q[..., 3] * q[..., 3], min=0.0))
    angle = normalize_angle(2.0 * torch.acos(torch.clamp(q[..., 3], -1.0, 1.0)))
    mask = sin_theta.abs() > 1e-5
    default_axis = torch.zeros_like(q[..., 0:3])
    default_axis[..., -1] = 1.0
    axis = torch.where(mask.unsqueeze(-1), q[..., 0:3] / sin_theta.clamp(min=1e-12).unsqueeze(-1), default_axis)
    return torch.where(mask, angle, torch.zeros_like(angle)), axis


@torch.jit.script
def angle_axis_to_exp_map(angle: torch.Tensor, axis: torch.Tensor) -> torch.Tensor:
    return angle.unsqueeze(-1) * axis


@torch.jit.script
def quat_to_exp_map(q: torch.Tensor) -> torch.Tensor:
    angle, axis = quat_to_angle_axis(q)
    return angle_axis_to_exp_map(angle, axis)


@torch.jit.script
def exp_map_to_angle_axis(exp_map: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    angle = torch.norm(exp_map, dim=-1)
    mask = angle.abs() > 1e-5
    default_axis = torch.zeros_like(exp_map)
    default_axis[..., -1] = 1.0
    axis = torch.where(mask.unsqueeze(-1), exp_map / angle.clamp(min=1e-12).unsqueeze(-1), default_axis)
    angle = torch.where(mask, normalize_angle(angle), torch.zeros_like(angle))
    return angle, axis


@torch.jit.script
def exp_map_to_quat(exp_map: torch.Tensor) -> torch.Tensor:
    angle, axis = exp_map_to_angle_axis(exp_map)
    return quat_from_angle_axis(angle, axis)


@torch.jit.script
def euler_xyz_to_exp_map(roll: torch.Tensor, pitch: torch.Tensor, yaw: torch.Tensor) -> torch.Tensor:
    return quat_to_exp_map(quat_from_euler_xyz(roll, pitch, yaw))


@torch.jit.script
def quat_to_tan_norm(q: torch.Tensor) -> torch.Tensor:
    """The frames' x axis (tangent) and z axis (normal) in the world, concatenated (N, 6)."""
    ref_tan = torch.zeros_like(q[..., 0:3])
    ref_tan[..., 0] = 1.0
    ref_norm = torch.zeros_like(q[..., 0:3])
    ref_norm[..., -1] = 1.0
    return torch.cat((my_quat_rotate(q, ref_tan), my_quat_rotate(q, ref_norm)), dim=-1)


@torch.jit.script
def slerp(q0: torch.Tensor, q1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation along the shorter arc; ``t`` (N, 1) in [0, 1]."""
    cos_half = torch.sum(q0 * q1, dim=-1, keepdim=True)
    q1 = torch.where(cos_half < 0, -q1, q1)
    cos_half = cos_half.abs().clamp(max=1.0)
    half = torch.acos(cos_half)
    sin_half = torch.sqrt(1.0 - cos_half * cos_half)
    safe = sin_half.abs() >= 1e-3
    s = torch.where(safe, sin_half, torch.ones_like(sin_half))
    ratio_a = torch.where(safe, torch.sin((1.0 - t) * half) / s, 1.0 - t)
    ratio_b = torch.where(safe, torch.sin(t * half) / s, t)
    return ratio_a * q0 + ratio_b * q1


@torch.jit.script
def calc_heading(q: torch.Tensor) -> torch.Tensor:
    """Yaw of the frames' x axis projected on the ground plane (z up)."""
    ref_dir = torch.zeros_like(q[..., 0:3])
    ref_dir[..., 0] = 1.0
    rot_dir = my_quat_rotate(q, ref_dir)
    return torch.atan2(rot_dir[..., 1], rot_dir[..., 0])


@torch.jit.script
def calc_heading_quat(q: torch.Tensor) -> torch.Tensor:
    axis = torch.zeros_like(q[..., 0:3])
    axis[..., 2] = 1.0
    return quat_from_angle_axis(calc_heading(q), axis)


@torch.jit.script
def calc_heading_quat_inv(q: torch.Tensor) -> torch.Tensor:
    axis = torch.zeros_like(q[..., 0:3])
    axis[..., 2] = 1.0
    return quat_from_angle_axis(-calc_heading(q), axis)


# ---------------------------------------------------------------------- rotation matrices (w first)
@torch.jit.script
def quaternion_to_matrix(quaternions: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) of quaternions given real part first (w, x, y, z)."""
    r, i, j, k = quaternions[..., 0], quaternions[..., 1], quaternions[..., 2], quaternions[..., 3]
    two_s = 2.0 / (quaternions * quaternions).sum(-1)
    o = torch.stack(
        (
            1 - two_s * (j * j + k * k),
            two_s * (i * j - k * r),
            two_s * (i * k + j * r),
            two_s * (i * j + k * r),
            1 - two_s * (i * i + k * k),
            two_s * (j * k - i * r),
            two_s * (i * k - j * r),
            two_s * (j * k + i * r),
            1 - two_s * (i * i + j * j),
        ),
        -1,
    )
    shape: list[int] = list(quaternions.shape[:-1]) + [3, 3]
    return o.reshape(shape)


@torch.jit.script
def matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """Unit quaternions (..., 4), real part first and non-negative, of rotation matrices (..., 3, 3).

    Each is computed from the largest of its four components' squares (Shepperd's method),
    which keeps it accurate near rotations by π."""
    m = matrix
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    squares = torch.stack((1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22), -1)
    roots = torch.sqrt(torch.clamp(squares, min=0.0))  # 2|w|, 2|x|, 2|y|, 2|z|
    d21, d02, d10 = m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]
    s21, s02, s10 = m[..., 2, 1] + m[..., 1, 2], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 0] + m[..., 0, 1]
    # Candidate (w, x, y, z) * 4 * component, one per choice of the largest component.
    cands = torch.stack(
        (
            torch.stack((roots[..., 0] ** 2, d21, d02, d10), -1),
            torch.stack((d21, roots[..., 1] ** 2, s10, s02), -1),
            torch.stack((d02, s10, roots[..., 2] ** 2, s21), -1),
            torch.stack((d10, s02, s21, roots[..., 3] ** 2), -1),
        ),
        -2,
    )
    cands = cands / (2.0 * roots.clamp(min=0.1)).unsqueeze(-1)
    best = roots.argmax(dim=-1, keepdim=True)
    q = torch.gather(cands, -2, best.unsqueeze(-1).expand(best.shape[:-1] + (1, 4))).squeeze(-2)
    q = normalize(q)
    return torch.where(q[..., 0:1] < 0, -q, q)

"""Torch math for tasks, with Isaac Gym's names. Quaternions are x, y, z, w; shapes (N, 4).

Vectors are (N, 3). Angles in radians. These are the helpers IsaacGymEnvs tasks import from
``isaacgym.torch_utils``; they are written here from the definitions.
"""

from __future__ import annotations

import numpy as np
import torch


def to_torch(x, dtype=torch.float, device="cuda:0", requires_grad=False) -> torch.Tensor:
    return torch.tensor(x, dtype=dtype, device=device, requires_grad=requires_grad)


def normalize(x: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    return x / x.norm(p=2, dim=-1).clamp(min=eps).unsqueeze(-1)


def quat_mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    shape = a.shape
    a, b = a.reshape(-1, 4), b.reshape(-1, 4)
    x1, y1, z1, w1 = a.unbind(-1)
    x2, y2, z2, w2 = b.unbind(-1)
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


def quat_conjugate(a: torch.Tensor) -> torch.Tensor:
    return torch.cat((-a[..., :3], a[..., 3:]), dim=-1)


def quat_unit(a: torch.Tensor) -> torch.Tensor:
    return normalize(a)


def quat_apply(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotates vectors ``v`` by quaternions ``q`` (v' = q v q*)."""
    shape = v.shape
    q, v = q.reshape(-1, 4), v.reshape(-1, 3)
    xyz = q[:, :3]
    t = 2.0 * torch.cross(xyz, v, dim=-1)
    return (v + q[:, 3:] * t + torch.cross(xyz, t, dim=-1)).view(shape)


def quat_rotate(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """World-from-body rotation of ``v``: body-frame vector to world frame."""
    return quat_apply(q, v)


def quat_rotate_inverse(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Body-from-world rotation of ``v``: world-frame vector to body frame."""
    return quat_apply(quat_conjugate(q), v)


def quat_from_angle_axis(angle: torch.Tensor, axis: torch.Tensor) -> torch.Tensor:
    theta = (angle / 2).unsqueeze(-1)
    xyz = normalize(axis) * theta.sin()
    return torch.cat((xyz, theta.cos()), dim=-1)


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


def get_euler_xyz(q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Roll, pitch, yaw in [0, 2π) (Isaac Gym's convention) of quaternions ``q``."""
    x, y, z, w = q.unbind(-1)
    roll = torch.atan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
    sinp = 2.0 * (w * y - z * x)
    pitch = torch.where(sinp.abs() >= 1, torch.copysign(torch.full_like(sinp, np.pi / 2), sinp), torch.asin(sinp))
    yaw = torch.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    two_pi = 2 * np.pi
    return roll % two_pi, pitch % two_pi, yaw % two_pi


def wrap_to_pi(angles: torch.Tensor) -> torch.Tensor:
    return (angles + np.pi) % (2 * np.pi) - np.pi


def torch_rand_float(lower: float, upper: float, shape: tuple[int, ...], device) -> torch.Tensor:
    return (upper - lower) * torch.rand(*shape, device=device) + lower


def tensor_clamp(t: torch.Tensor, min_t: torch.Tensor, max_t: torch.Tensor) -> torch.Tensor:
    return torch.max(torch.min(t, max_t), min_t)


def scale(x: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """Maps [-1, 1] to [lower, upper]."""
    return 0.5 * (x + 1.0) * (upper - lower) + lower


def unscale(x: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """Maps [lower, upper] to [-1, 1]."""
    return (2.0 * x - upper - lower) / (upper - lower)


def get_axis_params(value: float, axis_idx: int, x_value: float = 0.0, dtype=float, n_dims: int = 3) -> list:
    """A list of ``n_dims`` zeros with ``value`` at ``axis_idx`` (and ``x_value`` first)."""
    zs = np.zeros((n_dims,))
    assert axis_idx < n_dims, "the axis dimension must be below the number of dimensions"
    zs[axis_idx] = 1.0
    params = np.where(zs == 1.0, value, zs)
    params[0] = x_value
    return list(params.astype(dtype))

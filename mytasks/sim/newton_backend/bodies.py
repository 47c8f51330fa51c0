"""Rigid-body extras of a running world: mass properties and gravity, forces applied from
tensors, 6-axis force sensors, and attractors.

- Mass properties (``RigidBodyProperties``) are written into the model's body arrays; a body
  with ``RIGID_BODY_DISABLE_GRAVITY`` gets MuJoCo's gravity compensation (``gravcomp`` 1), so
  gravity no longer moves it, as in Isaac Gym.
- Forces and torques from ``apply_rigid_body_force_tensors`` act at each body's centre of mass
  for the next ``simulate`` only (Isaac Gym's rule), in the world frame or, with LOCAL_SPACE,
  in the body's frame; ``..._at_pos_tensors`` adds the torque of a force applied at a point.
- A force sensor reports the wrench that everything but gravity exerts on its body (contacts,
  joints, applied forces), about the sensor's origin and in the sensor's frame, as Isaac Gym's
  default ``ForceSensorProperties`` do. It is computed from the body's motion (Newton's body
  accelerations): F = m (a - g), tau = I alpha + omega x I omega at the centre of mass.
- An attractor pulls a body point onto a target; Newton has no soft attractor, so it is a
  constraint joint to the world (MuJoCo's connect or weld equality): AXIS_TRANSLATION holds
  the point, AXIS_ALL the whole pose. Isaac Gym's attractors are stiff springs (BallBalance
  uses 5e7 N/m), so a constraint is the faithful stand-in.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from mytasks.sim import types as gt
from mytasks.sim.newton_backend.state_tensors import shaped
from mytasks.utils.torch_jit_utils import quat_apply, quat_conjugate, quat_mul, quaternion_to_matrix


def add_attractor_joints(builder, env) -> list[int]:
    """Adds env's attractors to its builder as joints outside any articulation; returns them."""
    import warp as wp

    joints = []
    for k, att in enumerate(env.attractors):
        if att.rigid_handle < 0:
            raise ValueError(f"attractor {k} of env {env.index} has no rigid_handle")
        target = wp.transform(tuple(att.target.p), tuple(att.target.r))
        offset = wp.transform(tuple(att.offset.p), tuple(att.offset.r))
        kw = dict(parent_xform=target, child_xform=offset, label=f"attractor{k}")
        add = {gt.AXIS_TRANSLATION: builder.add_joint_ball, gt.AXIS_ALL: builder.add_joint_fixed}.get(att.axes)
        if add is None:
            raise NotImplementedError(
                f"attractor axes {att.axes}: the Newton backend holds AXIS_TRANSLATION (a point) or AXIS_ALL (a pose)"
            )
        with warnings.catch_warnings():  # the joint parallel to a free body's own is the point: a loop closure
            warnings.filterwarnings("ignore", message=".*another joint already connects these bodies")
            joints.append(add(-1, att.rigid_handle, **kw))
    return joints


class Bodies:
    def __init__(self, world):
        import warp as wp

        self.world = world
        self.device = torch.device(world.device)
        self.body_q = wp.to_torch(world.state.body_q).view(-1, 7)
        self.body_qd = wp.to_torch(world.state.body_qd).view(-1, 6)
        self.body_f = wp.to_torch(world.state.body_f).view(-1, 6)
        # Model arrays are written in place (assign), so these views stay valid.
        self.mass = wp.to_torch(world.model.body_mass)
        self.com = wp.to_torch(world.model.body_com).view(-1, 3)
        self.inertia = wp.to_torch(world.model.body_inertia).view(-1, 3, 3)
        self.forces_pending = False
        self.sensor_tensor = torch.zeros(0, 6, device=self.device)
        self._sensors = None

    # ------------------------------------------------------------------ mass properties
    def write_properties(self, actors) -> None:
        """Writes the mass, centre of mass and inertia (and gravity flags) of ``actors``' bodies
        into the model. Actors whose properties were never set share their asset's list, so
        each distinct list is turned into arrays once and written to all its actors' rows."""
        m = self.world.model
        mass, inv_mass = m.body_mass.numpy(), m.body_inv_mass.numpy()
        com, inertia, inv_inertia = m.body_com.numpy(), m.body_inertia.numpy(), m.body_inv_inertia.numpy()
        gravcomp_arr = getattr(getattr(m, "mujoco", None), "gravcomp", None)
        gravcomp = gravcomp_arr.numpy() if gravcomp_arr is not None else None
        rows: dict[int, tuple[list, list]] = {}  # id of a props list -> (the list, its actors' first rows)
        for actor in actors:
            first = actor.env.index * self.world.bodies_per_env + actor.body_offset
            rows.setdefault(id(actor.body_props), (actor.body_props, []))[1].append(first)
        for props, firsts in rows.values():
            if not props:
                continue
            idx = (np.asarray(firsts)[:, None] + np.arange(len(props))[None, :]).ravel()
            values = _mass_arrays(props)
            count = len(firsts)
            mass[idx] = np.tile(values["mass"], count)
            inv_mass[idx] = np.tile(values["inv_mass"], count)
            com[idx] = np.tile(values["com"], (count, 1))
            inertia[idx] = np.tile(values["inertia"], (count, 1, 1))
            inv_inertia[idx] = np.tile(values["inv_inertia"], (count, 1, 1))
            if gravcomp is not None:
                gravcomp[idx] = np.tile(values["no_gravity"].astype(gravcomp.dtype), count)
            elif values["no_gravity"].any():
                raise RuntimeError("this Newton build has no gravity compensation: disable_gravity is unavailable")
        m.body_mass.assign(mass)
        m.body_inv_mass.assign(inv_mass)
        m.body_com.assign(com)
        m.body_inertia.assign(inertia)
        m.body_inv_inertia.assign(inv_inertia)
        if gravcomp is not None:
            gravcomp_arr.assign(gravcomp)

    # ------------------------------------------------------------------ applied forces
    def apply(self, forces, torques, space, positions=None) -> None:
        """Sets the wrench on every body for the next step; ``forces``/``torques`` (any shape with
        3 x num_bodies elements, or None)."""
        n = self.body_f.shape[0]
        rot = self.body_q[:, 3:7]
        wrench = torch.zeros(n, 6, device=self.device)
        if forces is not None:
            f = _as_rows(forces, n, 3, "rigid body force", self.device)
            if int(space) == int(gt.LOCAL_SPACE):
                f = quat_apply(rot, f)
            wrench[:, 0:3] = f
            if positions is not None:
                p = _as_rows(positions, n, 3, "force position", self.device)
                if int(space) == int(gt.LOCAL_SPACE):
                    p = quat_apply(rot, p) + self.body_q[:, 0:3]
                com = self.body_q[:, 0:3] + quat_apply(rot, self.com)
                wrench[:, 3:6] += torch.cross(p - com, f, dim=-1)
        if torques is not None:
            t = _as_rows(torques, n, 3, "rigid body torque", self.device)
            if int(space) == int(gt.LOCAL_SPACE):
                t = quat_apply(rot, t)
            wrench[:, 3:6] += t
        self.body_f.copy_(wrench)
        self.forces_pending = True

    def after_step(self) -> None:
        if self.forces_pending:
            self.body_f.zero_()
            self.forces_pending = False

    # ------------------------------------------------------------------ force sensors
    def enable_sensors(self) -> torch.Tensor:
        """The (num_sensors, 6) force-sensor tensor, env by env, actor by actor, sensor by sensor."""
        if self._sensors is not None:
            return self.sensor_tensor
        w = self.world
        body, pos, rot, world_frame = [], [], [], []
        for actor in w.sim.all_actors():
            first = actor.env.index * w.bodies_per_env + actor.body_offset
            for s in actor.asset.force_sensors:
                body.append(first + s.body)
                pos.append(list(s.pose.p))
                rot.append(list(s.pose.r))
                world_frame.append(bool(s.props.use_world_frame))
        f32 = dict(dtype=torch.float32, device=self.device)
        self._sensors = dict(
            body=torch.as_tensor(body, dtype=torch.long, device=self.device),
            pos=torch.as_tensor(pos, **f32).view(-1, 3),
            rot=torch.as_tensor(rot, **f32).view(-1, 4),
            world_frame=torch.as_tensor(world_frame, dtype=torch.bool, device=self.device).view(-1, 1),
            gravity=torch.as_tensor(tuple(w.params.gravity), **f32),
        )
        self.sensor_tensor = torch.zeros(len(body), 6, **f32)
        if body:
            w.enable_body_accelerations()
        return self.sensor_tensor

    def refresh_sensors(self) -> None:
        s = self._sensors
        if s is None or len(s["body"]) == 0:
            return
        import warp as wp

        w = self.world
        b = s["body"]
        qdd = w.body_accelerations()[b]
        q, qd = self.body_q[b], self.body_qd[b]
        rot = q[:, 3:7]
        com_w = q[:, 0:3] + quat_apply(rot, self.com[b])
        gravcomp = getattr(getattr(w.model, "mujoco", None), "gravcomp", None)
        g_scale = 1.0 - wp.to_torch(gravcomp)[b].unsqueeze(-1) if gravcomp is not None else 1.0
        force = self.mass[b].unsqueeze(-1) * (qdd[:, 0:3] - g_scale * s["gravity"])
        # Inertia about the centre of mass in the world frame: R I R^T.
        R = quaternion_to_matrix(torch.cat((rot[:, 3:4], rot[:, 0:3]), dim=-1))
        I_w = R @ self.inertia[b] @ R.transpose(1, 2)
        omega, alpha = qd[:, 3:6], qdd[:, 3:6]
        spin = (I_w @ omega.unsqueeze(-1)).squeeze(-1)
        torque = (I_w @ alpha.unsqueeze(-1)).squeeze(-1) + torch.cross(omega, spin, dim=-1)
        p_s = q[:, 0:3] + quat_apply(rot, s["pos"])
        torque = torque + torch.cross(com_w - p_s, force, dim=-1)
        to_sensor = quat_conjugate(quat_mul(rot, s["rot"]))
        local_f, local_t = quat_apply(to_sensor, force), quat_apply(to_sensor, torque)
        self.sensor_tensor[:, 0:3] = torch.where(s["world_frame"], force, local_f)
        self.sensor_tensor[:, 3:6] = torch.where(s["world_frame"], torque, local_t)


def _as_rows(t, n: int, width: int, what: str, device) -> torch.Tensor:
    return shaped(torch.as_tensor(t, device=device, dtype=torch.float32), (n, width), what)


def balanced(inertia: np.ndarray) -> np.ndarray:
    """Inertia tensors (n, 3, 3) whose principal moments break A + B >= C, which PhysX takes
    and MuJoCo's compiler refuses (the Allegro hand's finger links have them), with the
    shortfall added to each moment: the principal axes are kept, and the two smaller moments
    then add up to the largest (the smallest such change of the trace). Others are unchanged."""
    moments = np.linalg.eigvalsh(inertia)  # ascending
    short = moments[:, 2] - moments[:, 0] - moments[:, 1]
    broken = short > 1e-12 * np.maximum(moments[:, 2], 1e-30)
    if not broken.any():
        return inertia
    inertia = inertia.copy()
    inertia[broken] += (short[broken] * (1 + 1e-6))[:, None, None] * np.eye(3)
    return inertia


def _mass_arrays(props: list) -> dict[str, np.ndarray]:
    """One actor's bodies' mass properties as arrays: mass and its inverse (0 for a massless
    or fixed body), centre of mass, inertia and its inverse (0 where it is singular), and
    whether gravity is off."""
    mass = np.array([float(p.mass) for p in props])
    inertia = balanced(np.stack([p.inertia.to_numpy() for p in props]).astype(np.float64))
    invertible = (mass > 0) & (np.linalg.det(inertia) > 0)
    inv_inertia = np.zeros_like(inertia)
    if invertible.any():
        inv_inertia[invertible] = np.linalg.inv(inertia[invertible])
    return {
        "mass": mass,
        "inv_mass": np.where(mass > 0, 1.0 / np.where(mass > 0, mass, 1.0), 0.0),
        "com": np.array([tuple(p.com) for p in props], dtype=np.float64),
        "inertia": inertia,
        "inv_inertia": inv_inertia,
        "no_gravity": np.array([bool(int(p.flags) & gt.RIGID_BODY_DISABLE_GRAVITY) for p in props]),
    }

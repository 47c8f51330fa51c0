"""Robot descriptions loaded into Newton builders, with Isaac Gym's asset introspection.

An ``Asset`` keeps one Newton ``ModelBuilder`` holding one articulation (a template that
``create_actor`` copies into envs) and answers Isaac Gym's questions about it: DOF names and
properties, rigid body names, shape properties. DOFs, bodies and shapes are numbered in the
order Newton lays them out in the builder (depth first, like Isaac Gym).
"""

from __future__ import annotations

import os
from copy import deepcopy

import numpy as np

from mytasks.sim import types as gt

_FIXED, _FREE = "FIXED", "FREE"


def _short(label: str) -> str:
    """Strips the articulation prefix Newton puts on labels ("go2/FL_hip" -> "FL_hip")."""
    return label.rsplit("/", 1)[-1]


class Asset:
    """A loaded URDF: a Newton builder template plus Isaac Gym's view of it."""

    def __init__(self, path: str, options: gt.AssetOptions):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"asset file not found: {path}")
        if not path.lower().endswith(".urdf"):
            raise ValueError(f"only URDF assets are supported on the Newton backend, got {path}")
        self.path = path
        self.options = deepcopy(options)
        self._builders: dict[bool, object] = {}
        b = self.builder(self_collisions=True)

        import newton

        free_or_fixed = (newton.JointType.FREE, newton.JointType.FIXED)
        self.floating = not options.fix_base_link
        self.body_names = [_short(n) for n in b.body_label]
        self.shape_count = len(b.shape_type)
        self.shape_body = list(b.shape_body)
        # DOFs: every coordinate of every joint that is neither FREE nor FIXED, in builder order.
        self.dof_names: list[str] = []
        self.dof_q: list[int] = []
        self.dof_qd: list[int] = []
        self.dof_is_rotation: list[bool] = []
        for j, jt in enumerate(b.joint_type):
            if jt in free_or_fixed:
                continue
            n_dof = b.joint_dof_dim[j][0] + b.joint_dof_dim[j][1]
            for k in range(n_dof):
                name = _short(b.joint_label[j])
                self.dof_names.append(name if n_dof == 1 else f"{name}_{k}")
                self.dof_q.append(b.joint_q_start[j] + k)
                self.dof_qd.append(b.joint_qd_start[j] + k)
                self.dof_is_rotation.append(jt != newton.JointType.PRISMATIC)
        self.coord_count = len(b.joint_q)
        self.qd_count = len(b.joint_qd)
        self.dof_properties = self._default_dof_properties(b)
        self.shape_properties = [
            gt.RigidShapeProperties(
                friction=b.shape_material_mu[s],
                restitution=b.shape_material_restitution[s],
                filter=0,
            )
            for s in range(self.shape_count)
        ]

    @property
    def dof_count(self) -> int:
        return len(self.dof_names)

    @property
    def body_count(self) -> int:
        return len(self.body_names)

    def builder(self, self_collisions: bool):
        """The Newton builder of this asset, with or without collisions between its own links."""
        if self_collisions not in self._builders:
            self._builders[self_collisions] = self._load(self_collisions)
        return self._builders[self_collisions]

    def _load(self, self_collisions: bool):
        import newton

        opts = self.options
        b = newton.ModelBuilder()
        b.rigid_gap = 0.0  # Newton's default 0.1 m gap floods MuJoCo with distant contacts
        b.default_shape_cfg.density = opts.density
        b.add_urdf(
            self.path,
            floating=not opts.fix_base_link,
            enable_self_collisions=self_collisions,
            collapse_fixed_joints=opts.collapse_fixed_joints,
        )
        if opts.replace_cylinder_with_capsule:
            cyl, cap = int(newton.GeoType.CYLINDER), int(newton.GeoType.CAPSULE)
            b.shape_type = [cap if int(t) == cyl else t for t in b.shape_type]
        n = len(b.joint_armature)
        b.joint_armature = [opts.armature] * n
        # Isaac Gym applies actuation only in the drive mode the task asks for; start passive.
        b.joint_target_mode = [int(newton.JointTargetMode.NONE)] * n
        b.joint_target_ke = [0.0] * n
        b.joint_target_kd = [0.0] * n
        return b

    def _default_dof_properties(self, b) -> np.ndarray:
        props = np.zeros(self.dof_count, dtype=gt.DOF_PROPERTIES_DTYPE)
        for i, qd in enumerate(self.dof_qd):
            lower, upper = b.joint_limit_lower[qd], b.joint_limit_upper[qd]
            limited = lower > -1e6 and upper < 1e6
            props[i] = (
                limited,
                lower if limited else 0.0,
                upper if limited else 0.0,
                int(self.options.default_dof_drive_mode),
                b.joint_velocity_limit[qd],
                b.joint_effort_limit[qd],
                0.0,
                0.0,
                b.joint_friction[qd],
                self.options.armature,
            )
        return props

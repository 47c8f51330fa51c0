"""Substeps (and, past a cap, armature and damping) for drives too stiff for MuJoCo's explicit
stiffness.

Isaac Gym's (PhysX's) drives are implicit and stable at any gain; MuJoCo integrates stiffness
explicitly, which diverges once omega h > 2 (omega = sqrt(k / M_ii), the DOF's own inertia
M_ii including armature). ``settle_substeps`` raises ``substeps`` until omega h <= 1 (0.5 in
a model with equality constraints, below), up to ``sim.newton.max_substeps`` (8 unless the
YAML says), with one line saying so. DOFs still too stiff then get what an implicit drive
amounts to at that substep: the armature that brings omega h to that bound, and the damping
k h that backward Euler adds to a spring of stiffness k, so that they reach their targets
within a few substeps and stop there. Without that damping a drive the task gives none
(Quadcopter's rotor arms) rings at omega = 1 / h and the quadcopter spins up until its state
is no longer finite. A task YAML that sets ``sim.newton.auto_substeps: False`` keeps its own.

Equality constraints (MuJoCo's soft ones: attractors and loop joints, which close loops, and
mimic joints) tighten the bound. BallBalance's tray, held by three drives of 4000 N m/rad on
legs pinned by attractors, rings with a growing tilt at omega h = 0.85 (5 substeps), still
rings at 0.53 and settles at 0.43 (10 substeps).
"""

from __future__ import annotations

import numpy as np

from mytasks.utils.errors import UserError


def _stiffness_and_inertia(m) -> tuple[np.ndarray, np.ndarray]:
    """Per MuJoCo DOF: joint spring plus position-servo stiffness, and the inertia matrix's
    diagonal in the model's initial configuration."""
    import mujoco

    d = mujoco.MjData(m)
    mujoco.mj_forward(m, d)
    stiffness = np.zeros(m.nv)
    for j in range(m.njnt):
        if m.jnt_type[j] in (mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE):
            stiffness[m.jnt_dofadr[j]] += m.jnt_stiffness[j]
    for a in range(m.nu):  # position servos: force = kp (target - q), kp = -biasprm[1]
        servo = m.actuator_biastype[a] == mujoco.mjtBias.mjBIAS_AFFINE
        if m.actuator_trntype[a] == mujoco.mjtTrn.mjTRN_JOINT and servo:
            kp = max(0.0, -float(m.actuator_biasprm[a, 1])) * abs(float(m.actuator_gear[a, 0]))
            stiffness[m.jnt_dofadr[m.actuator_trnid[a, 0]]] += kp
    full = np.zeros((m.nv, m.nv))
    mujoco.mj_fullM(m, d, full)
    return stiffness, np.diag(full)


def settle_substeps(params, solver, qd_per_env: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Raises ``params.substeps`` as the module says; returns the armature and the drive
    damping to add to each DOF of an env (Newton's DOF order), or None when none is needed."""
    if not params.newton.auto_substeps:
        return None
    m = getattr(solver, "mj_model", None)
    if m is None or m.nv == 0:
        return None
    stiffness, inertia = _stiffness_and_inertia(m)
    omega = np.sqrt(np.where(inertia > 0, stiffness / np.maximum(inertia, 1e-12), 0.0))
    bound = 0.5 if bool(np.any(m.eq_active0)) else 1.0  # Newton adds inactive welds for free bodies
    substeps = max(1, params.substeps)
    needed = int(np.ceil(float(omega.max()) * params.dt / bound))
    if needed <= substeps:
        return None
    dof = int(omega.argmax())
    chosen = max(substeps, min(needed, int(params.newton.max_substeps)))
    if chosen > substeps:
        print(f"mytasks: sim.substeps {substeps} -> {chosen}: a stiffness of {stiffness[dof]:.4g} on a DOF of "
              f"inertia {inertia[dof]:.3g} kg m^2 needs it to integrate stably at dt {params.dt:g} s "
              "(sim.newton.max_substeps caps this; auto_substeps: False keeps the YAML's)", flush=True)  # fmt: skip
    params.substeps = chosen
    h = params.dt / chosen
    stiff = np.nonzero(omega * h > bound)[0]
    if len(stiff) == 0:
        return None
    armature, damping = np.zeros(qd_per_env), np.zeros(qd_per_env)
    to_newton = solver.mjc_dof_to_newton_dof.numpy()[0]
    for d in stiff:
        newton_dof = int(to_newton[d])
        if newton_dof >= 0:
            armature[newton_dof % qd_per_env] += stiffness[d] * (h / bound) ** 2 - inertia[d]
            damping[newton_dof % qd_per_env] += stiffness[d] * h
    print(f"mytasks: {len(stiff)} DOF(s) per env still too stiff at {chosen} substeps get armature "
          f"(up to {float(armature.max()):.3g} kg m^2) and damping k h, as an implicit PhysX drive has, "
          "so that their drives settle within a few substeps", flush=True)  # fmt: skip
    return armature, damping


def set_contact_softness(params, model) -> None:
    """``sim.newton.contact_timeconst``: every shape's contact time constant tau [s], critically
    damped. MuJoCo's solref comes from the shapes' ke and kd (timeconst 2 / kd, dampratio
    kd / (2 sqrt(ke))), so kd = 2 / tau and ke = 1 / tau². A body landing at v then sinks
    about v tau / e (tests/test_sim_physics.py). MuJoCo raises tau to two substeps if lower."""
    tau = params.newton.contact_timeconst
    if tau is None:
        return
    if isinstance(tau, bool) or not (isinstance(tau, int | float) and tau > 0):
        raise UserError(f"sim.newton.contact_timeconst must be a time in seconds above 0 (0.02 is Newton's "
                        f"default; smaller is stiffer), got {tau!r}")  # fmt: skip
    h = params.dt / max(1, params.substeps)
    if tau < 2.0 * h:  # the substeps may yet be raised (settle_substeps), which allows a stiffer one
        print(f"mytasks: sim.newton.contact_timeconst {tau:g} s is under two substeps ({2.0 * h:g} s at "
              f"{max(1, params.substeps)}); MuJoCo raises it to two substeps", flush=True)  # fmt: skip
    model.shape_material_kd.fill_(2.0 / tau)
    model.shape_material_ke.fill_(1.0 / tau**2)

"""The running simulation: one Newton model with one world per env, stepped by MuJoCo-Warp.

Built once from the recorded scene at ``prepare_sim`` (``model_build.py``); per-env
differences (poses, DOF and shape properties) are then written into the model arrays. The
solver steps a single ``State`` in place (MuJoCo accepts ``state_in is state_out``), so the
zero-copy torch views of its arrays never go stale; the substeps of one ``simulate`` are
replayed as one captured graph.
"""

from __future__ import annotations

import numpy as np

from mytasks.sim import types as gt
from mytasks.sim.newton_backend import tendons
from mytasks.sim.newton_backend.bodies import Bodies
from mytasks.sim.newton_backend.cameras import Cameras
from mytasks.sim.newton_backend.dynamics import Dynamics
from mytasks.sim.newton_backend.gym_bodies import write_body_colors
from mytasks.sim.newton_backend.model_build import build_model, env_layouts
from mytasks.sim.newton_backend.runtime import finish_compiling
from mytasks.sim.newton_backend.scaling import write_scales
from mytasks.sim.newton_backend.scene import Sim
from mytasks.sim.newton_backend.state_tensors import StateTensors
from mytasks.sim.newton_backend.stiffness import set_contact_softness, settle_substeps

_UNLIMITED = 1.0e10
_NO_EFFORT_LIMIT = 1.0e9


class World:
    def __init__(self, sim: Sim):
        import newton

        if not sim.envs or sim.actors_per_env == 0:
            raise RuntimeError("prepare_sim on an empty scene: create envs and actors first")
        layouts = env_layouts(sim)
        self.sim = sim
        self.device = sim.device
        self.params = sim.params
        finish_compiling(self.device)
        self.num_envs = len(sim.envs)
        self.model = build_model(self, newton, layouts)
        self.state = self.model.state()
        self.control = self.model.control()
        self.tensors = StateTensors(self)
        self.dynamics = Dynamics(self)
        self.bodies = Bodies(self)
        # Per env DOF: what settle_substeps adds to the tasks' armature and drive damping.
        self.auto_armature, self.auto_damping = np.zeros(self.qd_per_env), np.zeros(self.qd_per_env)
        actors = list(sim.all_actors())
        self.write_dof_properties(actors)
        self.write_shape_properties(actors)
        self.bodies.write_properties(actors)
        write_scales(self, actors)
        tendons.write_to_model(self, actors)
        write_body_colors(self, actors)
        self._write_poses()
        newton.eval_fk(self.model, self.state.joint_q, self.state.joint_qd, self.state)
        self.solver = self._make_solver(newton)
        self._graph = None
        self._steps = 0
        self._contact_sensor = self._contacts = self._observables = self._collision = None
        if self.sim.heightfields:
            # Newton finds the contacts on terrain: MuJoCo-Warp's box-height field contacts let a
            # box on a flat tread tumble or fall through (a legged robot's base and thighs are boxes)
            most = self.solver.get_max_contact_count()
            self._collision = newton.CollisionPipeline(self.model, rigid_contact_max=most, soft_contact_max=0)
            self._contacts = self._collision.contacts()
        self._observable_kinds: set = set()
        self._dof_force_kinds: set = set()
        self._overflow_warned = False
        self._observe({self.solver.ObservableKind.OVERFLOW})
        self.cameras = Cameras(self)
        self.viewers: list = []  # viewer.Viewer, opened by create_viewer

    def _make_solver(self, newton):
        npar = self.params.newton
        kwargs = dict(
            solver=npar.solver,
            integrator=npar.integrator,
            iterations=npar.iterations,
            ls_iterations=npar.ls_iterations,
            cone=npar.cone,
            impratio=npar.impratio,
        )
        # Capacities per world: the task's, else sized from the scene, so that a robot lying on
        # the ground with every shape touching (box on plane: 4 points) still fits; a pyramidal
        # cone takes 4 rows per contact (elliptic 3), plus joint limits and attractors (6 rows).
        nconmax = npar.nconmax if npar.nconmax is not None else max(16, 4 * self.shapes_per_env)
        limits = int(np.count_nonzero(self.model.joint_limit_lower.numpy() > -1e6)) // self.num_envs
        njmax = npar.njmax if npar.njmax is not None else 4 * nconmax + limits + 6 * len(self.attractor_joints)
        kwargs.update(nconmax=nconmax, njmax=njmax)
        if self.sim.ground is None and self.shapes_per_env == 0:
            kwargs["disable_contacts"] = True
        if self.sim.heightfields:
            kwargs["use_mujoco_contacts"] = False  # Newton's collision pipeline (__init__)
        set_contact_softness(self.params, self.model)
        solver = newton.solvers.SolverMuJoCo(self.model, **kwargs)
        opt = getattr(getattr(solver, "mjw_model", None), "opt", None)
        if opt is not None and hasattr(opt, "warn_overflow"):
            import mujoco_warp as mjw

            # MuJoCo-Warp's own prints: capacity overflows only (World also warns once).
            opt.warn_overflow &= ~_solver_limits(mjw)
        added = settle_substeps(self.params, solver, self.qd_per_env)
        if added is not None:
            self.auto_armature, self.auto_damping = added
            self.write_dof_properties(list(self.sim.all_actors()))
            solver.notify_model_changed(newton.ModelFlags.JOINT_DOF_PROPERTIES
                                        | newton.ModelFlags.JOINT_DOF_INERTIAL_PROPERTIES)  # fmt: skip
        return solver

    # ------------------------------------------------------------------ index maps
    def actor_q_base(self, actor) -> int:
        return actor.env.index * self.coords_per_env + self.env_coords[actor.handle]

    def actor_qd_base(self, actor) -> int:
        return actor.env.index * self.qd_per_env + self.env_qd[actor.handle]

    def actor_root_joint(self, actor) -> int:
        return actor.env.index * self.joints_per_env + self.env_joints[actor.handle]

    def actor_first_shape(self, actor) -> int:
        return actor.env.index * self.shapes_per_env + actor.shape_offset

    # ------------------------------------------------------------------ properties
    def write_dof_properties(self, actors) -> None:
        """Writes Isaac Gym DOF properties of ``actors`` into the model's per-DOF arrays."""
        import newton

        m = self.model
        mode_map = {
            int(gt.DOF_MODE_NONE): int(newton.JointTargetMode.NONE),
            int(gt.DOF_MODE_POS): int(newton.JointTargetMode.POSITION),
            int(gt.DOF_MODE_VEL): int(newton.JointTargetMode.VELOCITY),
            int(gt.DOF_MODE_EFFORT): int(newton.JointTargetMode.EFFORT),
        }
        names = (
            "joint_target_mode joint_target_ke joint_target_kd joint_effort_limit "
            "joint_velocity_limit joint_friction joint_armature joint_limit_lower joint_limit_upper "
            "joint_stiffness joint_damping"
        ).split()
        arrays = {n: getattr(m, n).numpy() for n in names}
        for actor in actors:
            if actor.asset.dof_count == 0:
                continue
            local = self.env_qd[actor.handle] + np.asarray(actor.asset.dof_qd)
            idx = actor.env.index * self.qd_per_env + local
            p = actor.dof_props
            modes = p["driveMode"]
            pos, vel = modes == int(gt.DOF_MODE_POS), modes == int(gt.DOF_MODE_VEL)
            arrays["joint_target_mode"][idx] = [mode_map[int(x)] for x in modes]
            arrays["joint_target_ke"][idx] = np.where(pos, p["stiffness"], 0.0)
            kd = p["damping"] + np.where(pos, self.auto_damping[local], 0.0)
            arrays["joint_target_kd"][idx] = np.where(pos | vel, kd, 0.0)
            # Without a drive, stiffness and damping act as a passive spring and damper (MJCF joints).
            arrays["joint_stiffness"][idx] = np.where(pos | vel, 0.0, p["stiffness"])
            arrays["joint_damping"][idx] = np.where(pos | vel, 0.0, p["damping"])
            arrays["joint_effort_limit"][idx] = np.where(p["effort"] > 0, p["effort"], _NO_EFFORT_LIMIT)
            arrays["joint_velocity_limit"][idx] = p["velocity"]
            arrays["joint_friction"][idx] = p["friction"]
            arrays["joint_armature"][idx] = p["armature"] + self.auto_armature[local]
            arrays["joint_limit_lower"][idx] = np.where(p["hasLimits"], p["lower"], -_UNLIMITED)
            arrays["joint_limit_upper"][idx] = np.where(p["hasLimits"], p["upper"], _UNLIMITED)
        for n, a in arrays.items():
            getattr(m, n).assign(a)
        self.tensors.update_effort_mask()

    def write_shape_properties(self, actors) -> None:
        m = self.model
        mu = m.shape_material_mu.numpy()
        rest = m.shape_material_restitution.numpy()
        for actor in actors:
            first = self.actor_first_shape(actor)
            for k, sp in zip(actor.asset.rigid_shapes, actor.shape_props, strict=True):
                mu[first + k] = sp.friction
                rest[first + k] = sp.restitution
        m.shape_material_mu.assign(mu)
        m.shape_material_restitution.assign(rest)

    def _write_poses(self) -> None:
        import warp as wp

        q = self.state.joint_q.numpy()
        x_p = self.model.joint_X_p.numpy()
        for actor in self.sim.all_actors():
            pose = [*actor.pose.p, *actor.pose.r]
            if actor.asset.floating:
                base = self.actor_q_base(actor)
                q[base : base + 7] = pose
            else:
                x_p[self.actor_root_joint(actor)] = pose
        for env in self.sim.envs:
            for joint, att in zip(self.attractor_joints, env.attractors, strict=True):
                x_p[env.index * self.joints_per_env + joint] = [*att.target.p, *att.target.r]
        self.state.joint_q.assign(q)
        self.model.joint_q.assign(q)
        self.model.joint_X_p.assign(wp.array(x_p, dtype=wp.transform, device=self.device))

    def notify_properties_changed(self, dofs=False, shapes=False, bodies=False, joints=False, tendons=False) -> None:
        import newton

        flags = 0
        if dofs:
            flags |= (newton.ModelFlags.JOINT_DOF_PROPERTIES | newton.ModelFlags.JOINT_DOF_FORCE_PROPERTIES
                      | newton.ModelFlags.JOINT_DOF_INERTIAL_PROPERTIES)  # fmt: skip
        if shapes:
            flags |= newton.ModelFlags.SHAPE_PROPERTIES
        if joints:
            flags |= newton.ModelFlags.JOINT_PROPERTIES
        if bodies:
            flags |= newton.ModelFlags.BODY_INERTIAL_PROPERTIES | newton.ModelFlags.BODY_PROPERTIES
        if tendons:
            flags |= newton.ModelFlags.TENDON_PROPERTIES
        if flags:
            self.solver.notify_model_changed(flags)

    # ------------------------------------------------------------------ stepping
    def _substeps(self) -> None:
        h = self.params.dt / max(1, self.params.substeps)
        for _ in range(max(1, self.params.substeps)):
            if self._collision is not None:
                self._collision.collide(self.state, self._contacts)
            self.solver.step(self.state, self.state, self.control, self._contacts, h, observables=self._observables)
        if self._contact_sensor is not None:
            self._contact_sensor.update(self.state, self._contacts, observables=self._observables)

    def step(self) -> None:
        """Advances one physics step of ``dt`` (``substeps`` solver steps)."""
        import warp as wp

        if self._graph is not None:
            wp.capture_launch(self._graph)
        elif self.params.newton.graph_capture and self._steps > 0:
            # The first step ran uncaptured, so every kernel is loaded; capture the next one.
            with wp.ScopedCapture(device=self.device) as capture:
                self._substeps()
            self._graph = capture.graph
            wp.capture_launch(self._graph)
        else:
            self._substeps()
        self._steps += 1
        self.tensors.bodies_stale = False
        self.bodies.after_step()
        if self._steps % 100 == 1 and not self._overflow_warned:
            self._check_overflow()

    def _check_overflow(self) -> None:
        """One warning line, once, if a world ran out of contact or constraint capacity."""
        import mujoco_warp as mjw

        bits = int(np.bitwise_or.reduce(self._observables.overflow.numpy().ravel())) & ~_solver_limits(mjw)
        if bits:
            self._overflow_warned = True
            kinds = [*self.solver.OverflowBits, *mjw.OverflowType]
            names = sorted({b.name for b in kinds if int(b) and bits & int(b) == int(b)}) or [hex(bits)]
            print(
                f"mytasks: warning: the physics ran out of capacity ({', '.join(n.lower() for n in names)}) and "
                "dropped contacts or constraints; raise sim.newton.nconmax / njmax in the task YAML",
                flush=True,
            )

    # ------------------------------------------------------------------ snapshots
    def _state_arrays(self) -> dict:
        """Every array that carries the simulation from one step to the next, as torch views:
        Newton's state and control, MuJoCo-Warp's warm start, activations and applied forces
        (``SolverMuJoCo.reset`` names these as what persists between steps), the sensors, and the
        state tensors handed out to tasks."""
        import warp as wp

        out = {}
        for prefix, obj in (("state", self.state), ("control", self.control)):
            for name, value in vars(obj).items():
                if isinstance(value, wp.array) and value.size > 0:
                    out[f"{prefix}.{name}"] = wp.to_torch(value)
        data = getattr(self.solver, "mjw_data", None)
        for name in ("qacc_warmstart", "act", "ctrl", "qfrc_applied", "xfrc_applied", "time"):
            value = getattr(data, name, None)
            if isinstance(value, wp.array) and value.size > 0:
                out[f"mujoco.{name}"] = wp.to_torch(value)
        if self._contact_sensor is not None:
            out["sensor.total_force"] = self._contact_view
        for name in ("dof_state", "root_state", "rigid_body_state", "net_contact_force", "dof_force"):
            out[f"tensors.{name}"] = getattr(self.tensors, name)  # the tensors handed out to tasks
        return out

    def get_state(self) -> dict:
        """Copies of every array in :meth:`_state_arrays`."""
        return {k: v.clone() for k, v in self._state_arrays().items()}

    def set_state(self, saved: dict) -> None:
        """Writes back what :meth:`get_state` returned (of this same scene)."""
        targets = self._state_arrays()
        for key, value in saved.items():
            target = targets.get(key)
            if target is None or target.shape != value.shape:
                raise ValueError(f"simulation state '{key}' does not fit this scene")
            target.copy_(value.to(target.device, target.dtype))

    # ------------------------------------------------------------------ sensors
    def _observe(self, kinds, *, reallocate: bool = False) -> None:
        """Has the solver report ``kinds`` (its observables) from every substep on; ``reallocate``
        rebuilds the observables even if no kind is new (they hold the contact buffer)."""
        wanted = self._observable_kinds | set(kinds)
        if wanted == self._observable_kinds and not reallocate:
            return
        import warp as wp

        self._observable_kinds = wanted
        self._observables = self.solver.observables(kinds=sorted(wanted), contacts=self._contacts)
        if self._dof_force_kinds:
            self._drive_force_view = wp.to_torch(self._observables.qfrc_actuator)
        self._graph = None  # the step changes: capture it again

    def enable_contact_forces(self) -> None:
        """Measures the net contact force on every body from now on (after each step's last substep)."""
        if self._contact_sensor is not None:
            return
        import newton
        import warp as wp
        from newton.sensors import SensorContact

        self._contact_sensor = SensorContact(
            self.model, sensing_bodies=list(range(self.model.body_count)), request_contact_attributes=False
        )
        if self._collision is None:  # the solver's contacts, copied into this buffer
            pipeline = newton.CollisionPipeline(
                self.model, rigid_contact_max=self.solver.get_max_contact_count(), soft_contact_max=0
            )
            self._contacts = pipeline.contacts()
        self._contact_view = wp.to_torch(self._contact_sensor.total_force).view(-1, 3)
        self._observe(self._contact_sensor.solver_observable_kinds, reallocate=True)  # a new contact buffer

    def contact_forces(self):
        """Net contact force per body [N], world frame, (num_bodies, 3) torch view."""
        if self._contact_sensor is None:
            raise RuntimeError("acquire_net_contact_force_tensor first")
        return self._contact_view

    def enable_body_accelerations(self) -> None:
        """Has the solver report body accelerations (for force sensors) from now on."""
        self._observe({self.solver.ObservableKind.BODY_QDD})

    def body_accelerations(self):
        """(num_bodies, 6) torch view: centre-of-mass linear acceleration, angular acceleration, world frame."""
        import warp as wp

        return wp.to_torch(self._observables.body_qdd).view(-1, 6)

    def enable_dof_forces(self) -> None:
        """Records the drives' joint forces (MuJoCo's actuator forces) from now on."""
        self._dof_force_kinds = {self.solver.ObservableKind.QFRC_ACTUATOR}
        self._observe(self._dof_force_kinds)

    def drive_forces(self):
        """Force of each DOF's PD or velocity drive in the last substep [N or N·m], (joint_dof_count,)
        torch view in Newton's DOF layout; zero where no drive acts."""
        if not self._dof_force_kinds:
            raise RuntimeError("acquire_dof_force_tensor first")
        return self._drive_force_view


def _solver_limits(mjw) -> int:
    """MuJoCo-Warp's overflow bits for an iteration cap reached: the solver stopping early, as
    PhysX does every step, not lost contacts or constraints."""
    return int(mjw.OverflowType.ITERATIONS | mjw.OverflowType.LS_ITERATIONS)

"""The parameter and property structs of the isaacgym ``gymapi`` module, engine-independent:
sim, Newton and PhysX parameters, asset options, ground, height-field and mesh parameters,
camera, shape, body, actuator, sensor and attractor properties, the DOF state and property
dtypes, with Isaac Gym's names and defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from mytasks.sim.values import (
    CC_ALL_SUBSTEPS,
    DOF_MODE_NONE,
    UP_AXIS_Z,
    ContactCollection,
    DofDriveMode,
    Mat33,
    Struct,
    Transform,
    UpAxis,
    Vec3,
)
from mytasks.utils.errors import UserError


@dataclass
class CameraProperties(Struct):
    """Isaac Gym's camera properties (its defaults); ``horizontal_fov`` in degrees."""

    width: int = 1920
    height: int = 1080
    horizontal_fov: float = 90.0
    near_plane: float = 0.01
    far_plane: float = 1000000.0
    enable_tensors: bool = False
    supersampling_horizontal: int = 1
    supersampling_vertical: int = 1
    use_collision_geometry: bool = False


@dataclass
class PlaneParams(Struct):
    normal: Vec3 = field(default_factory=lambda: Vec3(0.0, 0.0, 1.0))
    distance: float = 0.0
    static_friction: float = 1.0
    dynamic_friction: float = 1.0
    restitution: float = 0.0


@dataclass
class HeightFieldParams(Struct):
    """A height field's layout: ``nbRows`` samples along x ``row_scale`` apart, ``nbColumns``
    along y ``column_scale`` apart, heights times ``vertical_scale``; sample (0, 0) at
    ``transform``'s origin."""

    column_scale: float = 1.0
    row_scale: float = 1.0
    vertical_scale: float = 1.0
    nbRows: int = 0
    nbColumns: int = 0
    transform: Transform = field(default_factory=Transform)
    static_friction: float = 1.0
    dynamic_friction: float = 1.0
    restitution: float = 0.0


@dataclass
class TriangleMeshParams(Struct):
    nb_vertices: int = 0
    nb_triangles: int = 0
    transform: Transform = field(default_factory=Transform)
    static_friction: float = 1.0
    dynamic_friction: float = 1.0
    restitution: float = 0.0


@dataclass
class PhysXParams(Struct):
    """Accepted for compatibility with task YAMLs written for Isaac Gym; see docs/conventions.md
    for which keys mean something on Newton."""

    num_threads: int = 4
    solver_type: int = 1
    use_gpu: bool = True
    num_position_iterations: int = 4
    num_velocity_iterations: int = 1
    contact_offset: float = 0.02
    rest_offset: float = 0.001
    bounce_threshold_velocity: float = 0.2
    max_depenetration_velocity: float = 100.0
    default_buffer_size_multiplier: float = 2.0
    max_gpu_contact_pairs: int = 1024 * 1024
    num_subscenes: int = 4
    contact_collection: ContactCollection = CC_ALL_SUBSTEPS
    friction_offset_threshold: float = 0.04
    friction_correlation_distance: float = 0.025
    always_use_articulations: bool = False


@dataclass
class NewtonParams(Struct):
    """Settings of the Newton engine (task YAML ``sim.newton``).

    solver: MuJoCo-Warp constraint solver, "newton" or "cg". iterations / ls_iterations: its
    iteration caps. nconmax / njmax: contact points and constraint rows per world; None lets the
    solver estimate them from the initial state (too small for robots that start in the air).
    cone: "pyramidal" or "elliptic" friction cone. impratio: frictional-to-normal impedance ratio.
    graph_capture: replay the substeps as one captured graph (CUDA and CPU).
    auto_substeps: raise substeps where a drive is too stiff for MuJoCo's explicit stiffness.
    max_substeps: the most substeps auto_substeps raises to; DOFs still too stiff there get the
    armature and damping of an implicit drive instead (stiffness.py).
    contact_timeconst: every contact's time constant [s], critically damped; None keeps
    Newton's 0.02 s. Smaller is stiffer, nearer PhysX's rigid contacts; MuJoCo takes no less
    than two substeps.
    """

    solver: str = "newton"
    integrator: str = "implicitfast"
    iterations: int = 20
    ls_iterations: int = 10
    nconmax: int | None = None
    njmax: int | None = None
    cone: str = "pyramidal"
    impratio: float = 1.0
    graph_capture: bool = True
    auto_substeps: bool = True
    max_substeps: int = 8
    contact_timeconst: float | None = None


@dataclass
class SimParams(Struct):
    dt: float = 1.0 / 60.0
    substeps: int = 2
    up_axis: UpAxis = UP_AXIS_Z
    gravity: Vec3 = field(default_factory=lambda: Vec3(0.0, 0.0, -9.81))
    num_client_threads: int = 0
    use_gpu_pipeline: bool = True
    physx: PhysXParams = field(default_factory=PhysXParams)
    newton: NewtonParams = field(default_factory=NewtonParams)


def check_step(params: SimParams) -> None:
    """A physics step that can be taken: ``dt`` a finite time above zero, ``substeps`` >= 1
    (checked where a sim is created or its parameters set, for tasks from anywhere)."""
    dt, substeps = params.dt, params.substeps
    if isinstance(dt, bool) or not isinstance(dt, int | float) or not math.isfinite(dt) or dt <= 0:
        raise UserError(f"sim.dt must be a time step in seconds above zero, got {dt!r}")
    if isinstance(substeps, bool) or not isinstance(substeps, int) or substeps < 1:
        raise UserError(f"sim.substeps must be a whole number of at least 1, got {substeps!r}")


@dataclass
class VhacdParams(Struct):
    """Isaac Gym's V-HACD settings (``AssetOptions.vhacd_params``), read by V-HACD 4 (``vhacdx``):
    ``resolution``, ``max_convex_hulls`` and ``max_num_vertices_per_ch`` are its own; the
    V-HACD 2 settings it dropped (concavity, alpha, beta, downsampling, mode, pca, OpenCL,
    min_volume_per_ch, project_hull_vertices) are kept and not read (docs/conventions.md)."""

    resolution: int = 100000
    max_convex_hulls: int = 64
    max_num_vertices_per_ch: int = 64
    concavity: float = 0.0
    alpha: float = 0.05
    beta: float = 0.05
    convex_hull_downsampling: int = 4
    plane_downsampling: int = 4
    min_volume_per_ch: float = 0.0001
    mode: int = 0
    pca: int = 0
    ocl_acceleration: bool = False
    project_hull_vertices: bool = True


@dataclass
class AssetOptions(Struct):
    fix_base_link: bool = False
    default_dof_drive_mode: DofDriveMode = DOF_MODE_NONE
    collapse_fixed_joints: bool = False
    replace_cylinder_with_capsule: bool = False
    flip_visual_attachments: bool = False
    density: float = 1000.0
    angular_damping: float = 0.0
    linear_damping: float = 0.0
    armature: float = 0.0
    thickness: float = 0.02
    disable_gravity: bool = False
    max_angular_velocity: float = 64.0
    max_linear_velocity: float = 1000.0
    use_mesh_materials: bool = False
    override_com: bool = False
    override_inertia: bool = False
    vhacd_enabled: bool = False
    vhacd_params: VhacdParams = field(default_factory=VhacdParams)
    slices_per_cylinder: int = 20
    enable_gyroscopic_forces: bool = True
    convex_decomposition_from_submeshes: bool = False
    mesh_normal_mode: int = 0
    use_physx_armature: bool = False  # armature in joint space: MuJoCo's armature always is


@dataclass
class RigidShapeProperties(Struct):
    friction: float = 1.0
    rolling_friction: float = 0.0
    torsion_friction: float = 0.0
    restitution: float = 0.0
    compliance: float = 0.0
    thickness: float = 0.0
    contact_offset: float = 0.0
    rest_offset: float = 0.0
    filter: int = 0


RIGID_BODY_NONE = 0
RIGID_BODY_DISABLE_GRAVITY = 1
RIGID_BODY_DISABLE_SIMULATION = 2


@dataclass
class RigidBodyProperties(Struct):
    """A rigid body's mass [kg], centre of mass [m] and inertia about it [kg m^2], in the body frame;
    ``flags`` takes ``RIGID_BODY_DISABLE_GRAVITY``."""

    mass: float = 0.0
    invMass: float = 0.0
    com: Vec3 = field(default_factory=Vec3)
    inertia: Mat33 = field(default_factory=Mat33)
    invInertia: Mat33 = field(default_factory=Mat33)
    flags: int = RIGID_BODY_NONE


class ActuatorType(IntEnum):
    DOF_ACTUATOR = 0
    TENDON_ACTUATOR = 1


DOF_ACTUATOR = ActuatorType.DOF_ACTUATOR
TENDON_ACTUATOR = ActuatorType.TENDON_ACTUATOR


@dataclass
class ActuatorProperties(Struct):
    """An MJCF actuator as Isaac Gym reports it: ``motor_effort`` is the ``gear``; control and force
    ranges as the file gives them."""

    type: ActuatorType = DOF_ACTUATOR
    motor_effort: float = 1.0
    kp: float = 0.0
    kv: float = 0.0
    control_limited: bool = False
    lower_control_limit: float = 0.0
    upper_control_limit: float = 0.0
    force_limited: bool = False
    lower_force_limit: float = 0.0
    upper_force_limit: float = 0.0


@dataclass
class TendonProperties(Struct):
    """A fixed tendon as Isaac Gym describes it. Its length is the sum of its joints' positions
    times their coefficients; a spring of ``stiffness`` pulls it to ``fixed_spring_rest_length``
    and ``damping`` resists its rate. When ``is_fixed_limited``, a limit keeps the length within
    [``fixed_lower_limit``, ``fixed_upper_limit``]: a spring of ``limit_stiffness`` (damped by
    ``damping``) beyond them, or, at 0, the file's own MuJoCo limit."""

    stiffness: float = 0.0
    damping: float = 0.0
    fixed_spring_rest_length: float = 0.0
    fixed_lower_limit: float = 0.0
    fixed_upper_limit: float = 0.0
    is_fixed_limited: bool = False
    limit_stiffness: float = 0.0
    num_joints: int = 0
    num_attachments: int = 0  # spatial tendons' attachments: none on a fixed tendon


@dataclass
class ForceSensorProperties(Struct):
    """What a force sensor reports (Isaac Gym's defaults): forces from the dynamics (contacts,
    applied forces) and from the constraint solver (joints), in the sensor's frame unless
    ``use_world_frame``."""

    enable_forward_dynamics_forces: bool = True
    enable_constraint_solver_forces: bool = True
    use_world_frame: bool = False


# Axes of a rigid-body attractor (Isaac Gym's bit values).
AXIS_NONE = 0
AXIS_TRANSLATION_X = 1
AXIS_TRANSLATION_Y = 2
AXIS_TRANSLATION_Z = 4
AXIS_ROTATION_X = 8
AXIS_ROTATION_Y = 16
AXIS_ROTATION_Z = 32
AXIS_TRANSLATION = 7
AXIS_ROTATION = 56
AXIS_ALL = 63


@dataclass
class AttractorProperties(Struct):
    """A rigid-body attractor: pulls the point ``offset`` of body ``rigid_handle`` (an env-domain
    body handle) to ``target`` (env frame) along ``axes``."""

    rigid_handle: int = -1
    offset: Transform = field(default_factory=Transform)
    target: Transform = field(default_factory=Transform)
    axes: int = AXIS_NONE
    stiffness: float = 0.0
    damping: float = 0.0


DofState = np.dtype([("pos", np.float32), ("vel", np.float32)])

DOF_PROPERTIES_DTYPE = np.dtype(
    [
        ("hasLimits", np.bool_),
        ("lower", np.float32),
        ("upper", np.float32),
        ("driveMode", np.int32),
        ("velocity", np.float32),
        ("effort", np.float32),
        ("stiffness", np.float32),
        ("damping", np.float32),
        ("friction", np.float32),
        ("armature", np.float32),
    ]
)

"""Value types and constants of the isaacgym ``gymapi`` module, engine-independent: the enums,
the viewer's keys and events, image and mesh kinds, ``Vec3``, ``Quat``, ``Transform``,
``Mat33``. Quaternions are x, y, z, w (Isaac Gym's order); SI units throughout.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np


@functools.cache
def _field_kinds(cls: type) -> dict[str, str]:
    return {f.name: f.type for f in dataclasses.fields(cls) if f.type in ("float", "int")}


class Struct:
    """Isaac Gym's structs are C++ and convert what they are given: a field declared ``float``
    takes any real number — a Python, NumPy or torch scalar, a one-element tensor on any device —
    and keeps a Python float; an ``int`` field takes any whole number and keeps an int (an
    IntEnum stays one). Anything else is refused in one line naming the field."""

    def __setattr__(self, name: str, value) -> None:
        kind = _field_kinds(type(self)).get(name)
        if kind == "float" and type(value) is not float:
            value = _number(self, name, value, float)
        elif kind == "int" and not isinstance(value, int):
            value = _number(self, name, value, int)
        object.__setattr__(self, name, value)

    # copies take the checked fields as they are: an actor's properties are copied per env, and
    # through __setattr__ a copy of 4096 actors' shape lists cost about a second
    def __copy__(self):
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def __deepcopy__(self, memo: dict):
        return _deep_copy(self)


def _deep_copy(struct: Struct) -> Struct:
    """A struct's fields are numbers, strings and other structs (a tree: no memo needed)."""
    fields = struct.__dict__.copy()
    for k, v in fields.items():
        if isinstance(v, Struct):
            fields[k] = _deep_copy(v)
        elif not (v is None or isinstance(v, int | float | str)):
            fields[k] = copy.deepcopy(v)
    new = object.__new__(type(struct))
    new.__dict__.update(fields)
    return new


def real(value) -> float:
    """A real number as Isaac Gym's bindings take one: Python, NumPy or torch, or a one-element
    array or tensor on any device (NumPy 1, which Isaac Gym ran on, converted those; 2.4 refuses)."""
    return float(value.item() if getattr(value, "size", 0) == 1 and hasattr(value, "item") else value)


def _number(struct, name: str, value, kind: type):
    where = f"{type(struct).__name__}.{name}"
    if isinstance(value, str | bytes) or value is None:
        raise TypeError(f"{where} takes a number, got {type(value).__name__} {value!r}")
    try:
        number = real(value)
    except (TypeError, ValueError, RuntimeError) as e:
        raise TypeError(f"{where} takes a number, got {type(value).__name__} ({e})") from None
    if kind is int:
        if not number.is_integer():
            raise TypeError(f"{where} takes a whole number, got {number}")
        return int(number)
    return number


class SimType(IntEnum):
    SIM_PHYSX = 0
    SIM_FLEX = 1
    SIM_NEWTON = 2


SIM_PHYSX = SimType.SIM_PHYSX
SIM_FLEX = SimType.SIM_FLEX
SIM_NEWTON = SimType.SIM_NEWTON


class UpAxis(IntEnum):
    UP_AXIS_Y = 0
    UP_AXIS_Z = 1


UP_AXIS_Y = UpAxis.UP_AXIS_Y
UP_AXIS_Z = UpAxis.UP_AXIS_Z


class DofDriveMode(IntEnum):
    DOF_MODE_NONE = 0
    DOF_MODE_POS = 1
    DOF_MODE_VEL = 2
    DOF_MODE_EFFORT = 3


DOF_MODE_NONE = DofDriveMode.DOF_MODE_NONE
DOF_MODE_POS = DofDriveMode.DOF_MODE_POS
DOF_MODE_VEL = DofDriveMode.DOF_MODE_VEL
DOF_MODE_EFFORT = DofDriveMode.DOF_MODE_EFFORT


class DofType(IntEnum):
    DOF_INVALID = -1
    DOF_ROTATION = 0
    DOF_TRANSLATION = 1


DOF_ROTATION = DofType.DOF_ROTATION
DOF_TRANSLATION = DofType.DOF_TRANSLATION


class CoordinateSpace(IntEnum):
    ENV_SPACE = 0
    LOCAL_SPACE = 1
    GLOBAL_SPACE = 2


ENV_SPACE = CoordinateSpace.ENV_SPACE
LOCAL_SPACE = CoordinateSpace.LOCAL_SPACE
GLOBAL_SPACE = CoordinateSpace.GLOBAL_SPACE


class StateFlags(IntEnum):
    STATE_NONE = 0
    STATE_POS = 1
    STATE_VEL = 2
    STATE_ALL = 3


STATE_NONE = StateFlags.STATE_NONE
STATE_POS = StateFlags.STATE_POS
STATE_VEL = StateFlags.STATE_VEL
STATE_ALL = StateFlags.STATE_ALL


class IndexDomain(IntEnum):
    DOMAIN_ACTOR = 0
    DOMAIN_ENV = 1
    DOMAIN_SIM = 2


DOMAIN_ACTOR = IndexDomain.DOMAIN_ACTOR
DOMAIN_ENV = IndexDomain.DOMAIN_ENV
DOMAIN_SIM = IndexDomain.DOMAIN_SIM


class ContactCollection(IntEnum):
    CC_NEVER = 0
    CC_LAST_SUBSTEP = 1
    CC_ALL_SUBSTEPS = 2


CC_NEVER = ContactCollection.CC_NEVER
CC_LAST_SUBSTEP = ContactCollection.CC_LAST_SUBSTEP
CC_ALL_SUBSTEPS = ContactCollection.CC_ALL_SUBSTEPS


# Keys of the viewer's keyboard events: GLFW's key codes, which Isaac Gym's viewer reports.
_KEYS = {
    "KEY_SPACE": 32, "KEY_APOSTROPHE": 39, "KEY_COMMA": 44, "KEY_MINUS": 45, "KEY_PERIOD": 46,
    "KEY_SLASH": 47, "KEY_SEMICOLON": 59, "KEY_EQUAL": 61, "KEY_LEFT_BRACKET": 91, "KEY_BACKSLASH": 92,
    "KEY_RIGHT_BRACKET": 93, "KEY_GRAVE_ACCENT": 96, "KEY_ESCAPE": 256, "KEY_ENTER": 257, "KEY_TAB": 258,
    "KEY_BACKSPACE": 259, "KEY_INSERT": 260, "KEY_DELETE": 261, "KEY_RIGHT": 262, "KEY_LEFT": 263,
    "KEY_DOWN": 264, "KEY_UP": 265, "KEY_PAGE_UP": 266, "KEY_PAGE_DOWN": 267, "KEY_HOME": 268, "KEY_END": 269,
    "KEY_LEFT_SHIFT": 340, "KEY_LEFT_CONTROL": 341, "KEY_LEFT_ALT": 342,
    "KEY_RIGHT_SHIFT": 344, "KEY_RIGHT_CONTROL": 345, "KEY_RIGHT_ALT": 346,
    **{f"KEY_{d}": 48 + d for d in range(10)},
    **{f"KEY_{c}": ord(c) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
    **{f"KEY_F{i}": 289 + i for i in range(1, 13)},
    **{f"KEY_NUMPAD_{d}": 320 + d for d in range(10)},
}  # fmt: skip
KeyboardInput = IntEnum("KeyboardInput", _KEYS)
globals().update(KeyboardInput.__members__)


@dataclass
class ActionEvent(Struct):
    """What ``query_viewer_action_events`` returns: the subscribed action's name, 1.0 when its
    key went down and 0.0 when it came up."""

    action: str
    value: float


@dataclass
class ViewerSlider(Struct):
    """mytasks' addition to the viewer API: a slider of the viewer's panel (``add_viewer_panel``),
    in the window's side panel and on the web page. ``value`` follows the user's hand and may be
    set by code, which moves the slider."""

    label: str
    low: float
    high: float
    value: float = 0.0


# Image types of camera sensors (Isaac Gym's values); the Newton backend renders colour.
IMAGE_COLOR = 0
IMAGE_DEPTH = 1
IMAGE_SEGMENTATION = 2
IMAGE_OPTICAL_FLOW = 3

# What a find_* call returns for a name that is not there
INVALID_HANDLE = -1

MESH_NONE = 0
MESH_COLLISION = 1
MESH_VISUAL = 2
MESH_VISUAL_AND_COLLISION = 3


@dataclass
class Vec3(Struct):
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0

    def __iter__(self):
        return iter((self.x, self.y, self.z))

    def __add__(self, other: Vec3) -> Vec3:
        return Vec3(self.x + other.x, self.y + other.y, self.z + other.z)

    def __sub__(self, other: Vec3) -> Vec3:
        return Vec3(self.x - other.x, self.y - other.y, self.z - other.z)

    def __mul__(self, s: float) -> Vec3:
        return Vec3(self.x * s, self.y * s, self.z * s)

    __rmul__ = __mul__

    def __truediv__(self, s: float) -> Vec3:
        return Vec3(self.x / s, self.y / s, self.z / s)

    def __neg__(self) -> Vec3:
        return Vec3(-self.x, -self.y, -self.z)

    def dot(self, other: Vec3) -> float:
        return self.x * other.x + self.y * other.y + self.z * other.z

    def cross(self, other: Vec3) -> Vec3:
        return Vec3(
            self.y * other.z - self.z * other.y,
            self.z * other.x - self.x * other.z,
            self.x * other.y - self.y * other.x,
        )

    def length(self) -> float:
        return math.sqrt(self.dot(self))

    def normalize(self) -> Vec3:
        n = self.length()
        return Vec3(*self) if n == 0.0 else self / n


@dataclass
class Quat(Struct):
    """Rotation as x, y, z, w (Isaac Gym's order)."""

    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    w: float = 1.0

    def __iter__(self):
        return iter((self.x, self.y, self.z, self.w))

    def __mul__(self, o: Quat) -> Quat:
        """The rotation ``o`` followed by this one (Hamilton product ``self * o``)."""
        return Quat(
            self.w * o.x + self.x * o.w + self.y * o.z - self.z * o.y,
            self.w * o.y - self.x * o.z + self.y * o.w + self.z * o.x,
            self.w * o.z + self.x * o.y - self.y * o.x + self.z * o.w,
            self.w * o.w - self.x * o.x - self.y * o.y - self.z * o.z,
        )

    def inverse(self) -> Quat:
        n = self.x**2 + self.y**2 + self.z**2 + self.w**2 or 1.0
        return Quat(-self.x / n, -self.y / n, -self.z / n, self.w / n)

    def normalize(self) -> Quat:
        n = math.sqrt(self.x**2 + self.y**2 + self.z**2 + self.w**2) or 1.0
        return Quat(self.x / n, self.y / n, self.z / n, self.w / n)

    def rotate(self, v: Vec3) -> Vec3:
        """``v`` rotated by this quaternion (q v q*)."""
        u = Vec3(self.x, self.y, self.z)
        t = u.cross(v) * 2.0
        return v + t * self.w + u.cross(t)

    def to_euler_zyx(self) -> tuple[float, float, float]:
        """Roll, pitch, yaw [rad] with R = Rz(yaw) Ry(pitch) Rx(roll), the inverse of ``from_euler_zyx``."""
        x, y, z, w = self.x, self.y, self.z, self.w
        roll = math.atan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
        pitch = math.asin(max(-1.0, min(1.0, 2.0 * (w * y - z * x))))
        yaw = math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
        return roll, pitch, yaw

    @staticmethod
    def from_axis_angle(axis: Vec3, angle: float) -> Quat:
        n = axis.length() or 1.0
        s = math.sin(angle / 2) / n
        return Quat(axis.x * s, axis.y * s, axis.z * s, math.cos(angle / 2))

    @staticmethod
    def from_euler_zyx(roll: float, pitch: float, yaw: float) -> Quat:
        cr, sr = math.cos(roll / 2), math.sin(roll / 2)
        cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
        cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
        return Quat(
            sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy,
            cr * cp * cy + sr * sp * sy,
        )


@dataclass
class Transform(Struct):
    """A pose: rotation ``r`` then translation ``p`` (x' = r x + p)."""

    p: Vec3 = field(default_factory=Vec3)
    r: Quat = field(default_factory=Quat)

    def __mul__(self, o: Transform) -> Transform:
        """The pose ``o`` expressed in this pose's parent frame (``self`` applied after ``o``)."""
        return Transform(self.transform_point(o.p), self.r * o.r)

    def inverse(self) -> Transform:
        r = self.r.inverse()
        return Transform(-r.rotate(self.p), r)

    def transform_point(self, v: Vec3) -> Vec3:
        return self.r.rotate(v) + self.p

    def transform_vector(self, v: Vec3) -> Vec3:
        return self.r.rotate(v)

    def transform_points(self, points) -> list[Vec3]:
        return [self.transform_point(Vec3(*p)) for p in points]

    @staticmethod
    def from_buffer(buffer) -> Transform:
        """A pose from 7 floats: position then quaternion x, y, z, w."""
        v = [float(x) for x in buffer]
        return Transform(Vec3(*v[:3]), Quat(*v[3:7]))


@dataclass
class Mat33(Struct):
    """A 3x3 matrix by rows (Isaac Gym's ``Mat33``)."""

    x: Vec3 = field(default_factory=lambda: Vec3(1.0, 0.0, 0.0))
    y: Vec3 = field(default_factory=lambda: Vec3(0.0, 1.0, 0.0))
    z: Vec3 = field(default_factory=lambda: Vec3(0.0, 0.0, 1.0))

    def to_numpy(self) -> np.ndarray:
        return np.array([list(self.x), list(self.y), list(self.z)], dtype=np.float64)

    @staticmethod
    def from_numpy(m) -> Mat33:
        m = np.asarray(m, dtype=np.float64).reshape(3, 3)
        return Mat33(*(Vec3(*(float(v) for v in row)) for row in m))

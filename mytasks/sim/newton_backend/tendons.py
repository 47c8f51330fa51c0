"""Fixed tendons (MJCF ``<tendon><fixed>``) with Isaac Gym's properties, and the Gym's tendon
calls (a mixin of ``gym.Gym``).

Newton's MJCF importer keeps a file's tendons as MuJoCo attributes of the builder, and MuJoCo
simulates them. Isaac Gym's ``TendonProperties`` map onto those attributes:

- ``stiffness``, ``damping``: the tendon's spring and damper (MuJoCo's ``stiffness``,
  ``damping``); ``fixed_spring_rest_length``: its ``springlength`` (both ends of MuJoCo's
  dead band). A file without one rests at its length in the initial pose, reported as that.
- ``is_fixed_limited``, ``fixed_lower_limit``, ``fixed_upper_limit``: ``limited`` and ``range``.
- ``limit_stiffness`` > 0: the limit acts as a spring of that stiffness (N/m, or N m/rad per unit
  coefficient), damped by ``damping``; Newton converts the pair to MuJoCo's limit solref with the
  tendon's inverse weight in the initial pose. At 0 the limit keeps the file's own solref (a stiff
  constraint), which is what a file loaded without changes reports.

Only the spring and limit gains can differ between envs: the rest length and whether a tendon is
limited are compiled into the one MuJoCo model every env shares, so they are set on the asset.
Spatial tendons simulate as the file says but are not among the tendons listed here.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass

from mytasks.sim import types as gt

_FIXED = 0  # MuJoCo's tendon type of a fixed tendon
_FORCE_SPACE = 0  # Newton's SOLREF_MODE_FORCE_SPACE: limit gains as stiffness and damping
_COMPILED = ("fixed_spring_rest_length", "is_fixed_limited")


@dataclass
class Tendon:
    index: int  # among the builder's tendons (all types)
    name: str
    dofs: list[int]  # asset DOF indices
    coefs: list[float]
    file_solref_mode: int
    props: gt.TendonProperties


def read(b, dof_qd: list[int]) -> list[Tendon]:
    """The fixed tendons of builder ``b``, in file order, as Isaac Gym reports them; ``dof_qd``
    holds each asset DOF's velocity index in ``b``."""
    attrs = b.custom_attributes
    if "mujoco:tendon_type" not in attrs:
        return []
    starts = [*b.joint_qd_start, len(b.joint_qd)]
    dof_of_qd = {qd: i for i, qd in enumerate(dof_qd)}
    # A fixed tendon's joints are hinges and slides: one DOF each.
    dof_of_joint = {j: dof_of_qd.get(starts[j], -1) for j in range(len(b.joint_type)) if starts[j + 1] - starts[j] == 1}
    col = {k[len("mujoco:tendon_"):]: v.values for k, v in attrs.items() if k.startswith("mujoco:tendon_")}
    out = []
    for t, kind in enumerate(col["type"]):
        if int(kind) != _FIXED:
            continue
        adr, num = int(col["joint_adr"][t]), int(col["joint_num"][t])
        joints = [int(j) for j in col["joint"][adr:adr + num]]
        coefs = [float(c) for c in col["coef"][adr:adr + num]]
        dofs = [dof_of_joint.get(j, -1) for j in joints]
        rest = float(col["springlength"][t][0])
        if rest == -1.0:  # MuJoCo: the length in the initial pose (joint positions 0 here)
            rest = 0.0
        lower, upper = (float(x) for x in col["range"][t])
        limited = int(col["limited"][t])
        props = gt.TendonProperties(
            stiffness=float(col["stiffness"][t]), damping=float(col["damping"][t]),
            fixed_spring_rest_length=rest, fixed_lower_limit=lower, fixed_upper_limit=upper,
            is_fixed_limited=limited == 1 or (limited == 2 and lower < upper), num_joints=num,
        )  # fmt: skip
        name = str(col["label"][t]).rsplit("/", 1)[-1] or f"tendon{t}"
        out.append(Tendon(t, name, dofs, coefs, int(col["solref_limit_mode"][t]), props))
    return out


def write(b, tendons: list[Tendon]) -> None:
    """Writes the tendons' properties into builder ``b`` (before the model is built)."""
    attrs = b.custom_attributes
    for t in tendons:
        p, i = t.props, t.index
        attrs["mujoco:tendon_stiffness"].values[i] = p.stiffness
        attrs["mujoco:tendon_damping"].values[i] = p.damping
        attrs["mujoco:tendon_springlength"].values[i] = (p.fixed_spring_rest_length,) * 2
        attrs["mujoco:tendon_range"].values[i] = (p.fixed_lower_limit, p.fixed_upper_limit)
        attrs["mujoco:tendon_limited"].values[i] = int(p.is_fixed_limited)
        mode, ke, kd = _limit_gains(t, p)
        attrs["mujoco:tendon_solref_limit_mode"].values[i] = mode
        attrs["mujoco:tendon_limit_ke"].values[i] = ke
        attrs["mujoco:tendon_limit_kd"].values[i] = kd


def _limit_gains(t: Tendon, p: gt.TendonProperties) -> tuple[int, float, float]:
    if p.limit_stiffness > 0:
        return _FORCE_SPACE, p.limit_stiffness, p.damping
    return t.file_solref_mode, 0.0, 0.0


def write_to_model(world, actors) -> None:
    """Writes the per-env tendon gains of ``actors`` into ``world``'s model."""
    mj = getattr(world.model, "mujoco", None)
    if mj is None or not hasattr(mj, "tendon_stiffness") or world.tendons_per_env == 0:
        return
    names = ("stiffness", "damping", "range", "limit_ke", "limit_kd", "solref_limit_mode")
    arrays = {n: getattr(mj, f"tendon_{n}").numpy() for n in names}
    for actor in actors:
        base = actor.env.index * world.tendons_per_env + world.env_tendons[actor.handle]
        for t, p in zip(actor.asset.tendons, actor.tendon_props, strict=True):
            i = base + t.index
            arrays["stiffness"][i], arrays["damping"][i] = p.stiffness, p.damping
            arrays["range"][i] = (p.fixed_lower_limit, p.fixed_upper_limit)
            mode, ke, kd = _limit_gains(t, p)
            arrays["solref_limit_mode"][i], arrays["limit_ke"][i], arrays["limit_kd"][i] = mode, ke, kd
    for n, a in arrays.items():
        getattr(mj, f"tendon_{n}").assign(a)


def _checked(count: int, props, what: str) -> list[gt.TendonProperties]:
    props = list(props)
    if len(props) != count:
        raise ValueError(f"{len(props)} tendon properties for {what} with {count} tendons")
    return [deepcopy(p) for p in props]


class TendonCalls:
    # ------------------------------------------------------------------ assets
    def get_asset_tendon_count(self, asset) -> int:
        return len(asset.tendons)

    def get_asset_tendon_name(self, asset, index: int) -> str:
        return asset.tendons[index].name

    def find_asset_tendon_index(self, asset, name: str) -> int:
        return next((i for i, t in enumerate(asset.tendons) if t.name == name), -1)

    def get_asset_tendon_properties(self, asset) -> list[gt.TendonProperties]:
        return [deepcopy(t.props) for t in asset.tendons]

    def set_asset_tendon_properties(self, asset, props) -> bool:
        """For the actors created afterwards, as Isaac Gym applies asset properties."""
        for t, p in zip(asset.tendons, _checked(len(asset.tendons), props, f"asset {asset.path}"), strict=True):
            t.props = p
            t.props.num_joints, t.props.num_attachments = len(t.dofs), 0
        for b in asset._builders.values():
            write(b, asset.tendons)
        return True

    def get_asset_fixed_tendon_joint_name(self, asset, tendon: int, joint: int) -> str:
        dof = asset.tendons[tendon].dofs[joint]
        return asset.dof_names[dof] if dof >= 0 else ""

    def get_asset_fixed_tendon_joint_coefficients(self, asset, tendon: int) -> list[float]:
        return list(asset.tendons[tendon].coefs)

    # ------------------------------------------------------------------ actors
    def get_actor_tendon_count(self, env, actor: int) -> int:
        return len(env.actors[actor].asset.tendons)

    def get_actor_tendon_name(self, env, actor: int, index: int) -> str:
        return env.actors[actor].asset.tendons[index].name

    def get_actor_tendon_properties(self, env, actor: int) -> list[gt.TendonProperties]:
        return [deepcopy(p) for p in env.actors[actor].tendon_props]

    def set_actor_tendon_properties(self, env, actor: int, props) -> bool:
        a = env.actors[actor]
        new = _checked(len(a.asset.tendons), props, f"actor {a.name}")
        for t, p in zip(a.asset.tendons, new, strict=True):
            for key in _COMPILED:
                if getattr(p, key) != getattr(t.props, key):
                    raise ValueError(
                        f"tendon '{t.name}': {key} is compiled into the model that every env shares; "
                        "set it with set_asset_tendon_properties before create_actor"
                    )
            p.num_joints, p.num_attachments = len(t.dofs), 0
        a.tendon_props = new
        world = self._sim_of(env).world
        if world is not None:
            write_to_model(world, [a])
            world.notify_properties_changed(tendons=True)
        return True

    def get_actor_fixed_tendon_joint_name(self, env, actor: int, tendon: int, joint: int) -> str:
        return self.get_asset_fixed_tendon_joint_name(env.actors[actor].asset, tendon, joint)

    def get_actor_fixed_tendon_joint_coefficients(self, env, actor: int, tendon: int) -> list[float]:
        return self.get_asset_fixed_tendon_joint_coefficients(env.actors[actor].asset, tendon)


def tendon_count(b) -> int:
    """All of a builder's tendons (fixed and spatial): the model's tendons per actor."""
    attr = b.custom_attributes.get("mujoco:tendon_type")
    return len(attr.values) if attr is not None else 0


"""Isaac Gym's state tensors over Newton's arrays, and the setters that write back.

Layouts (Isaac Gym's): DOF state (num_dofs, 2) = [position, velocity]; actor root state and
rigid body state (n, 13) = position (3, env frame), quaternion x,y,z,w (4), linear velocity
of the centre of mass (3, world frame), angular velocity (3, world frame); net contact force
(num_bodies, 3) [N], world frame; DOF force (num_dofs,) [N or N·m], the actuation of each DOF.

The tensors handed out are plain torch tensors owned here, valid for the life of the sim and
updated in place by the ``refresh_*`` calls. Newton's arrays are read and written through
zero-copy torch views; nothing leaves the device. ``TensorCalls`` are the Gym's calls for them
(a mixin of ``gym.Gym``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from mytasks.sim.newton_backend import early_tensors
from mytasks.sim.newton_backend.early_tensors import adopt
from mytasks.sim.newton_backend.gymtorch import TensorHandle, _tensor

if TYPE_CHECKING:
    from mytasks.sim.newton_backend.scene import Sim


def _long(values, device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.int64), device=device)


class StateTensors:
    def __init__(self, world):
        import warp as wp

        self.world = world
        sim, dev = world.sim, world.device
        self.device = torch.device(dev)
        self.q = wp.to_torch(world.state.joint_q)
        self.qd = wp.to_torch(world.state.joint_qd)
        self.body_q = wp.to_torch(world.state.body_q).view(-1, 7)
        self.body_qd = wp.to_torch(world.state.body_qd).view(-1, 6)
        self.joint_f = wp.to_torch(world.control.joint_f)
        self.target_q = wp.to_torch(world.control.joint_target_q)
        self.target_qd = wp.to_torch(world.control.joint_target_qd)
        self.root_x_p = wp.to_torch(world.model.joint_X_p).view(-1, 7)

        actors = list(sim.all_actors())
        dof_q, dof_qd, root_body, free_q, free_qd = [], [], [], [], []
        dof_start, floating = [], []
        for a in actors:
            dof_start.append(len(dof_q))
            dof_q += [world.actor_q_base(a) + k for k in a.asset.dof_q]
            dof_qd += [world.actor_qd_base(a) + k for k in a.asset.dof_qd]
            root_body.append(a.env.index * world.bodies_per_env + a.body_offset)
            floating.append(a.asset.floating)
            free_q.append(world.actor_q_base(a))
            free_qd.append(world.actor_qd_base(a))
        self.num_dofs = len(dof_q)
        self.num_actors = len(actors)
        self.num_bodies = world.model.body_count
        self.dof_q_idx = _long(dof_q, dev)
        self.dof_qd_idx = _long(dof_qd, dev)
        self.root_body_idx = _long(root_body, dev)
        self.root_joint_idx = _long([world.actor_root_joint(a) for a in actors], dev)
        self.actor_floating = torch.as_tensor(floating, device=dev)
        self.all_floating = all(floating)
        self.any_floating = any(floating)
        # (num_actors, 7) coordinate and (num_actors, 6) velocity indices of each free root joint
        self.free_q_idx = _long(free_q, dev)[:, None] + torch.arange(7, device=dev)
        self.free_qd_idx = _long(free_qd, dev)[:, None] + torch.arange(6, device=dev)
        # (num_actors, max_dofs) DOF ids of each actor, short rows padded with their last id:
        # duplicate writes of one value are harmless, and no masking (a host sync) is needed.
        counts = [a.asset.dof_count for a in actors]
        width = max(counts) if counts else 0
        table = np.zeros((len(actors), max(width, 1)), dtype=np.int64)
        for i, (s, c) in enumerate(zip(dof_start, counts, strict=True)):
            if c:
                table[i, :c] = np.arange(s, s + c)
                table[i, c:] = s + c - 1
        self.actor_dofs = torch.as_tensor(table, device=dev)
        self.actor_has_dofs = torch.as_tensor(np.asarray(counts) > 0, device=dev)
        self.all_have_dofs = all(c > 0 for c in counts)
        self.effort_mask = torch.zeros(self.num_dofs, device=dev)

        f32 = dict(dtype=torch.float32, device=dev)
        early = sim.early.state if sim.early is not None else {}  # acquired before prepare_sim
        for name, shape in (("dof_state", (self.num_dofs, 2)), ("root_state", (self.num_actors, 13)),
                            ("rigid_body_state", (self.num_bodies, 13)), ("net_contact_force", (self.num_bodies, 3)),
                            ("dof_force", (self.num_dofs,))):  # fmt: skip
            tensor = adopt(early.get(name), shape, name.replace("_", " "))
            setattr(self, name, tensor if tensor is not None else torch.zeros(shape, **f32))
        self.bodies_stale = False  # joint state was set since the last step

    def update_effort_mask(self) -> None:
        import newton

        modes = torch.as_tensor(self.world.model.joint_target_mode.numpy(), device=self.device)
        effort = modes[self.dof_qd_idx] == int(newton.JointTargetMode.EFFORT)
        self.effort_mask.copy_(effort.float())

    # ------------------------------------------------------------------ refresh
    def refresh_dof_state(self) -> None:
        self.dof_state[:, 0] = self.q[self.dof_q_idx]
        self.dof_state[:, 1] = self.qd[self.dof_qd_idx]

    def refresh_root_state(self) -> None:
        # A floating root's free-joint coordinates are its pose and velocities in this layout;
        # reading them (rather than the bodies) also shows a root state set since the last step.
        if self.all_floating:
            self.root_state[:, 0:7] = self.q[self.free_q_idx]
            self.root_state[:, 7:13] = self.qd[self.free_qd_idx]
            return
        self.update_bodies()
        self.root_state[:, 0:7] = self.body_q[self.root_body_idx]
        self.root_state[:, 7:13] = self.body_qd[self.root_body_idx]

    def refresh_rigid_body_state(self) -> None:
        self.update_bodies()
        self.rigid_body_state[:, 0:7] = self.body_q
        self.rigid_body_state[:, 7:13] = self.body_qd

    def refresh_dof_force(self) -> None:
        """Each DOF's actuation in the last substep: its PD or velocity drive's force (clipped to
        the effort limit), or the effort applied to an EFFORT DOF."""
        drive = self.world.drive_forces()[self.dof_qd_idx]
        torch.addcmul(drive, self.joint_f[self.dof_qd_idx], self.effort_mask, out=self.dof_force)

    def refresh_net_contact_force(self) -> None:
        self.net_contact_force.copy_(self.world.contact_forces())

    def update_bodies(self) -> None:
        """Recomputes body poses and velocities from the joints after a state setter."""
        if self.bodies_stale:
            import newton

            newton.eval_fk(self.world.model, self.world.state.joint_q, self.world.state.joint_qd, self.world.state)
            self.bodies_stale = False

    # ------------------------------------------------------------------ setters
    def set_dof_actuation_force(self, forces: torch.Tensor, actor_ids: torch.Tensor | None = None) -> None:
        forces = shaped(forces, (self.num_dofs,), "DOF actuation force")
        self._write_dofs(self.joint_f, self.dof_qd_idx, forces * self.effort_mask, actor_ids)

    def set_dof_position_target(self, targets: torch.Tensor, actor_ids: torch.Tensor | None = None) -> None:
        targets = shaped(targets, (self.num_dofs,), "DOF position target")
        self._write_dofs(self.target_q, self.dof_q_idx, targets, actor_ids)

    def set_dof_velocity_target(self, targets: torch.Tensor, actor_ids: torch.Tensor | None = None) -> None:
        targets = shaped(targets, (self.num_dofs,), "DOF velocity target")
        self._write_dofs(self.target_qd, self.dof_qd_idx, targets, actor_ids)

    def _write_dofs(self, dst: torch.Tensor, dst_idx: torch.Tensor, values: torch.Tensor, actor_ids) -> None:
        """``dst[dst_idx] = values`` for every DOF, or only for the DOFs of ``actor_ids``."""
        dofs = self._dofs_of(actor_ids)
        if dofs is None:
            dst[dst_idx] = values
        else:
            dst[dst_idx[dofs]] = values[dofs]

    def _dofs_of(self, actor_ids: torch.Tensor | None) -> torch.Tensor | None:
        if actor_ids is None:
            return None
        ids = actor_ids.to(self.device, torch.long)
        if not self.all_have_dofs:
            ids = ids[self.actor_has_dofs[ids]]
        return self.actor_dofs[ids].reshape(-1)

    def set_dof_state(self, dof_state: torch.Tensor, actor_ids: torch.Tensor | None = None) -> None:
        dof_state = shaped(dof_state, (self.num_dofs, 2), "DOF state")
        self.bodies_stale = True
        dofs = self._dofs_of(actor_ids)
        if dofs is None:
            self.q[self.dof_q_idx] = dof_state[:, 0]
            self.qd[self.dof_qd_idx] = dof_state[:, 1]
        else:
            self.q[self.dof_q_idx[dofs]] = dof_state[dofs, 0]
            self.qd[self.dof_qd_idx[dofs]] = dof_state[dofs, 1]

    def set_root_state(self, root_state: torch.Tensor, actor_ids: torch.Tensor | None = None) -> None:
        """Moves actors: a floating base through its free joint (pose and velocities), a fixed
        base by moving the joint that holds it to the world (pose only), as Isaac Gym does."""
        root_state = shaped(root_state, (self.num_actors, 13), "actor root state")
        self.bodies_stale = True
        ids = (
            torch.arange(self.num_actors, device=self.device)
            if actor_ids is None
            else actor_ids.to(self.device, torch.long)
        )
        if not self.all_floating:
            fixed = ids[~self.actor_floating[ids]]
            if fixed.numel():
                self.root_x_p[self.root_joint_idx[fixed]] = root_state[fixed, 0:7]
                self.world.notify_properties_changed(joints=True)
            ids = ids[self.actor_floating[ids]]
        self.q[self.free_q_idx[ids]] = root_state[ids, 0:7]
        self.qd[self.free_qd_idx[ids]] = root_state[ids, 7:13]


def shaped(t: torch.Tensor, shape: tuple, what: str) -> torch.Tensor:
    """``t`` viewed as ``shape``: like Isaac Gym, any tensor with the right number of elements."""
    if tuple(t.shape) == shape:
        return t
    if t.numel() != int(np.prod(shape)):
        raise ValueError(f"{what} tensor has shape {tuple(t.shape)} ({t.numel()} elements), expected {shape}")
    return t.reshape(shape)


def _ids(handle, count: int | None = None) -> torch.Tensor:
    t = _tensor(handle)
    return t if count is None else t[:count]


class TensorCalls:
    """Isaac Gym's ``acquire_*``, ``refresh_*`` and ``set_*`` tensor calls (``gym.Gym`` mixes them in)."""

    def _tensors(self, sim: Sim):
        return self._world(sim).tensors

    def _acquired(self, sim: Sim):
        """The world's tensors, or before prepare_sim those it will adopt (``early_tensors.py``)."""
        return early_tensors.of(sim) if sim.world is None else self._tensors(sim)

    def acquire_dof_state_tensor(self, sim: Sim) -> TensorHandle:
        return TensorHandle(self._acquired(sim).dof_state)

    def acquire_actor_root_state_tensor(self, sim: Sim) -> TensorHandle:
        return TensorHandle(self._acquired(sim).root_state)

    def acquire_rigid_body_state_tensor(self, sim: Sim) -> TensorHandle:
        return TensorHandle(self._acquired(sim).rigid_body_state)

    def acquire_net_contact_force_tensor(self, sim: Sim) -> TensorHandle:
        if sim.world is not None:  # else measured from prepare_sim on (early_tensors.measure)
            self._world(sim).enable_contact_forces()
        return TensorHandle(self._acquired(sim).net_contact_force)

    def acquire_dof_force_tensor(self, sim: Sim) -> TensorHandle:
        if sim.world is not None:
            self._world(sim).enable_dof_forces()
        return TensorHandle(self._acquired(sim).dof_force)

    def refresh_dof_state_tensor(self, sim: Sim) -> None:
        self._tensors(sim).refresh_dof_state()

    def refresh_actor_root_state_tensor(self, sim: Sim) -> None:
        self._tensors(sim).refresh_root_state()

    def refresh_rigid_body_state_tensor(self, sim: Sim) -> None:
        self._tensors(sim).refresh_rigid_body_state()

    def refresh_net_contact_force_tensor(self, sim: Sim) -> None:
        self._tensors(sim).refresh_net_contact_force()

    def refresh_dof_force_tensor(self, sim: Sim) -> None:
        self._tensors(sim).refresh_dof_force()

    def set_dof_state_tensor(self, sim: Sim, state) -> bool:
        self._tensors(sim).set_dof_state(_tensor(state))
        return True

    def set_dof_state_tensor_indexed(self, sim: Sim, state, actor_ids, count: int) -> bool:
        self._tensors(sim).set_dof_state(_tensor(state), _ids(actor_ids, count))
        return True

    def set_actor_root_state_tensor(self, sim: Sim, root) -> bool:
        self._tensors(sim).set_root_state(_tensor(root))
        return True

    def set_actor_root_state_tensor_indexed(self, sim: Sim, root, actor_ids, count: int) -> bool:
        self._tensors(sim).set_root_state(_tensor(root), _ids(actor_ids, count))
        return True

    def set_dof_actuation_force_tensor(self, sim: Sim, forces) -> bool:
        self._tensors(sim).set_dof_actuation_force(_tensor(forces))
        return True

    def set_dof_position_target_tensor(self, sim: Sim, targets) -> bool:
        self._tensors(sim).set_dof_position_target(_tensor(targets))
        return True

    def set_dof_velocity_target_tensor(self, sim: Sim, targets) -> bool:
        self._tensors(sim).set_dof_velocity_target(_tensor(targets))
        return True

    def set_dof_position_target_tensor_indexed(self, sim: Sim, targets, actor_ids, count: int) -> bool:
        self._tensors(sim).set_dof_position_target(_tensor(targets), _ids(actor_ids, count))
        return True

    def set_dof_velocity_target_tensor_indexed(self, sim: Sim, targets, actor_ids, count: int) -> bool:
        self._tensors(sim).set_dof_velocity_target(_tensor(targets), _ids(actor_ids, count))
        return True

    def set_dof_actuation_force_tensor_indexed(self, sim: Sim, forces, actor_ids, count: int) -> bool:
        self._tensors(sim).set_dof_actuation_force(_tensor(forces), _ids(actor_ids, count))
        return True

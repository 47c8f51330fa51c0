"""Isaac Gym's Jacobian and mass-matrix tensors on Newton (``newton.eval_jacobian``,
``newton.eval_mass_matrix``), which operational-space and inverse-kinematics control of arms use,
and the Gym's calls for them (a mixin of ``gym.Gym``).

``acquire_jacobian_tensor(sim, actor_name)``: the Jacobian of the actor of that name in every
env, (envs, links, 6, DOFs). With a fixed base: the links below its root and the actor's DOFs,
so that link ``i`` is the child of joint ``i`` (``get_actor_joint_dict``); with a floating base:
every link, and the root's 6 DOFs (linear, angular) before the actor's. Row block ``i`` maps DOF
velocities to link ``i``'s velocity as the rigid-body state reports it: the linear velocity of
its centre of mass, then its angular velocity, both in the world frame.

``acquire_mass_matrix_tensor(sim, actor_name)``: the joint-space inertia, (envs, DOFs, DOFs)
(6 more with a floating base), armature included. ``refresh_jacobian_tensors`` and
``refresh_mass_matrix_tensors`` fill them from the current state.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mytasks.sim.newton_backend import early_tensors
from mytasks.sim.newton_backend.early_tensors import adopt
from mytasks.sim.newton_backend.gymtorch import TensorHandle


@dataclass
class _View:
    tensor: torch.Tensor
    articulations: torch.Tensor  # one per env
    first_link: int
    links: int
    columns: int


class Dynamics:
    def __init__(self, world):
        self.world = world
        self.jacobians: dict[str, _View] = {}
        self.mass_matrices: dict[str, _View] = {}
        self._J = self._H = None
        for kind, name in world.sim.early.dynamics if world.sim.early is not None else ():  # acquired before
            (self.jacobian if kind == "jacobian" else self.mass_matrix)(name)

    def _view(self, name: str, what: str, square: bool) -> _View:
        w = self.world
        env0 = w.sim.envs[0].actors
        actor = next((a for a in env0 if a.name == name), None)
        if actor is None:
            raise KeyError(f"{what}: no actor named '{name}' (env 0 holds {', '.join(a.name for a in env0)})")
        of_joint = w.model.joint_articulation.numpy()
        arts = [int(of_joint[w.actor_root_joint(env.actors[actor.handle])]) for env in w.sim.envs]
        if min(arts) < 0:
            raise ValueError(f"{what}: actor '{name}' is not an articulation")
        floating = actor.asset.floating
        first, links = (0 if floating else 1), actor.asset.body_count
        cols = actor.asset.dof_count + (6 if floating else 0)
        shape = (w.num_envs, cols, cols) if square else (w.num_envs, links - first, 6, cols)
        device = w.tensors.device
        kind = "mass_matrix" if square else "jacobian"
        early = w.sim.early.dynamics.get((kind, name)) if w.sim.early is not None else None
        tensor = adopt(early, shape, f"{kind.replace('_', ' ')} of '{name}'")
        tensor = tensor if tensor is not None else torch.zeros(shape, device=device)
        return _View(tensor, torch.tensor(arts, device=device), first, links, cols)

    def jacobian(self, name: str) -> torch.Tensor:
        if name not in self.jacobians:
            self.jacobians[name] = self._view(name, "acquire_jacobian_tensor", square=False)
        return self.jacobians[name].tensor

    def mass_matrix(self, name: str) -> torch.Tensor:
        if name not in self.mass_matrices:
            self.mass_matrices[name] = self._view(name, "acquire_mass_matrix_tensor", square=True)
        return self.mass_matrices[name].tensor

    def refresh_jacobians(self) -> None:
        if not self.jacobians:
            return
        import newton
        import warp as wp

        w = self.world
        w.tensors.update_bodies()
        self._J = newton.eval_jacobian(w.model, w.state, J=self._J)
        J = wp.to_torch(self._J)
        J = J.view(J.shape[0], -1, 6, J.shape[-1])  # (articulations, links, 6, DOFs)
        for v in self.jacobians.values():
            v.tensor.copy_(J[v.articulations, v.first_link : v.links, :, : v.columns])

    def refresh_mass_matrices(self) -> None:
        if not self.mass_matrices:
            return
        import newton
        import warp as wp

        w = self.world
        w.tensors.update_bodies()
        self._H = newton.eval_mass_matrix(w.model, w.state, H=self._H)
        H = wp.to_torch(self._H)
        for v in self.mass_matrices.values():
            v.tensor.copy_(H[v.articulations, : v.columns, : v.columns])


class DynamicsCalls:
    def acquire_jacobian_tensor(self, sim, actor_name: str) -> TensorHandle:
        if sim.world is None:  # before prepare_sim, as Isaac Gym allows (early_tensors.py)
            return TensorHandle(early_tensors.of(sim).dynamics_tensor("jacobian", str(actor_name)))
        return TensorHandle(self._world(sim).dynamics.jacobian(str(actor_name)))

    def acquire_mass_matrix_tensor(self, sim, actor_name: str) -> TensorHandle:
        if sim.world is None:
            return TensorHandle(early_tensors.of(sim).dynamics_tensor("mass_matrix", str(actor_name)))
        return TensorHandle(self._world(sim).dynamics.mass_matrix(str(actor_name)))

    def refresh_jacobian_tensors(self, sim) -> None:
        self._world(sim).dynamics.refresh_jacobians()

    def refresh_mass_matrix_tensors(self, sim) -> None:
        self._world(sim).dynamics.refresh_mass_matrices()


"""State tensors acquired before ``prepare_sim``, as Isaac Gym allows.

Isaac Gym hands out a tensor as soon as the scene holds its actors; its memory becomes the
live buffer when ``prepare_sim`` builds the simulation (upstream FrankaCubeStack acquires its
state, Jacobian and mass-matrix tensors while it still creates envs, and takes views and
shapes of them there). Here such a tensor is allocated with the shape the scene gives, kept on
the ``Sim``, and adopted by the world that ``prepare_sim`` builds (``StateTensors``,
``Dynamics``), which checks the shape. Until then the tensor holds zeros.
"""

from __future__ import annotations

import torch


class EarlyTensors:
    def __init__(self, sim):
        self.sim = sim
        self.state: dict[str, torch.Tensor] = {}
        self.dynamics: dict[tuple[str, str], torch.Tensor] = {}
        self.contact_forces = self.dof_forces = False  # measured once the world exists (``measure``)

    def _sizes(self) -> tuple[int, int, int]:
        actors = list(self.sim.all_actors())
        return (sum(a.asset.dof_count for a in actors), len(actors), sum(a.asset.body_count for a in actors))

    def _tensor(self, name: str, *shape: int) -> torch.Tensor:
        if name not in self.state:
            self.state[name] = torch.zeros(shape, dtype=torch.float32, device=self.sim.device)
        return self.state[name]

    @property
    def dof_state(self) -> torch.Tensor:
        return self._tensor("dof_state", self._sizes()[0], 2)

    @property
    def root_state(self) -> torch.Tensor:
        return self._tensor("root_state", self._sizes()[1], 13)

    @property
    def rigid_body_state(self) -> torch.Tensor:
        return self._tensor("rigid_body_state", self._sizes()[2], 13)

    @property
    def net_contact_force(self) -> torch.Tensor:
        self.contact_forces = True
        return self._tensor("net_contact_force", self._sizes()[2], 3)

    @property
    def dof_force(self) -> torch.Tensor:
        self.dof_forces = True
        return self._tensor("dof_force", self._sizes()[0])

    def dynamics_tensor(self, kind: str, actor_name: str) -> torch.Tensor:
        """A Jacobian (``kind`` "jacobian") or mass matrix of the actor of that name in every env."""
        key = (kind, actor_name)
        if key not in self.dynamics:
            env0 = self.sim.envs[0].actors if self.sim.envs else []
            actor = next((a for a in env0 if a.name == actor_name), None)
            if actor is None:
                raise KeyError(f"acquire_{kind}_tensor: no actor named '{actor_name}' (env 0 holds "
                               f"{', '.join(a.name for a in env0)})")  # fmt: skip
            floating = actor.asset.floating
            cols = actor.asset.dof_count + (6 if floating else 0)
            links = actor.asset.body_count - (0 if floating else 1)
            envs = len(self.sim.envs)
            shape = (envs, cols, cols) if kind == "mass_matrix" else (envs, links, 6, cols)
            self.dynamics[key] = torch.zeros(shape, dtype=torch.float32, device=self.sim.device)
        return self.dynamics[key]


def of(sim) -> EarlyTensors:
    """The tensors of ``sim`` acquired before prepare_sim (created on first use)."""
    if sim.early is None:
        sim.early = EarlyTensors(sim)
    return sim.early


def measure(sim) -> None:
    """When ``prepare_sim`` has built the world: it measures the contact and DOF forces whose
    tensors were acquired before."""
    if sim.early is None:
        return
    if sim.early.contact_forces:
        sim.world.enable_contact_forces()
    if sim.early.dof_forces:
        sim.world.enable_dof_forces()


def adopt(early: torch.Tensor | None, shape: tuple[int, ...], what: str) -> torch.Tensor | None:
    """The tensor acquired before prepare_sim, if any, once its shape is the world's."""
    if early is not None and tuple(early.shape) != tuple(shape):
        raise RuntimeError(f"the {what} tensor acquired before prepare_sim has shape {tuple(early.shape)}, but the "
                           f"built simulation's is {tuple(shape)}; acquire it after prepare_sim")  # fmt: skip
    return early

"""A legged robot's observations and critic states, composed from named terms (a mixin of
``LeggedRobot``).

Each term of ``OBS_TERMS`` has a size (or one per joint), the ``obsScales`` key(s) of its scale
and the ``noise`` key of its uniform noise; a robot lists its terms in ``obs_terms`` (and the
critic's in ``state_terms``), in order. Noise is added after scaling, in observation units,
times ``noise.noiseLevel``; the states get none.
"""

from __future__ import annotations

import torch

# name: (size, or "dof" for one per joint; obsScales key, a list of keys, or None for 1; noise key or None)
OBS_TERMS = {
    "base_lin_vel": (3, "linVel", "linVel"),
    "base_ang_vel": (3, "angVel", "angVel"),
    "projected_gravity": (3, None, "gravity"),
    "commands": (3, ["linVel", "linVel", "angVel"], None),
    "dof_pos": ("dof", "dofPos", "dofPos"),
    "dof_vel": ("dof", "dofVel", "dofVel"),
    "actions": ("dof", None, None),
    "gait_phase": (2, None, None),
}


class LeggedObservations:
    obs_terms: tuple[str, ...] = ("base_lin_vel", "base_ang_vel", "projected_gravity", "commands", "dof_pos",
                                  "dof_vel", "actions")  # fmt: skip
    state_terms: tuple[str, ...] = ()

    def _term_sizes(self, terms):
        for t in terms:
            size = OBS_TERMS[t][0]
            yield t, self.num_dof_expected if size == "dof" else size

    def _terms_size(self, terms) -> int:
        return sum(size for _, size in self._term_sizes(terms))

    def _term_scale(self, term: str) -> float | list[float]:
        """A term's scale: one number, or one per element where the term lists its keys."""
        key = OBS_TERMS[term][1]
        if isinstance(key, list):
            return [float(self.obs_scales[k]) for k in key]
        return 1.0 if key is None else float(self.obs_scales[key])

    def _scale_vector(self, terms) -> torch.Tensor:
        """Each observation's scale (``obsScales``), in the order of ``terms``."""
        parts = []
        for t, size in self._term_sizes(terms):
            scale = self._term_scale(t)
            parts.append(torch.tensor(scale if isinstance(scale, list) else [scale] * size))
        return torch.cat(parts).to(self.device) if parts else torch.zeros(0, device=self.device)

    def _noise_vector(self) -> torch.Tensor:
        nz = self.noise_cfg
        parts = []
        for t, size in self._term_sizes(self.obs_terms):
            key = OBS_TERMS[t][2]
            parts.append(torch.full((size,), 0.0 if key is None else float(nz[key])))
        vec = torch.cat(parts).to(self.device)
        return vec * float(nz["noiseLevel"]) if nz["addNoise"] else vec.zero_()

    def _obs_term(self, name: str) -> torch.Tensor:
        """One observation term, unscaled."""
        if name == "commands":
            return self.commands[:, :3]
        if name == "dof_pos":
            return self.dof_pos - self.default_dof_pos
        return getattr(self, name)

    def compute_observations(self):
        self.obs_buf[:] = torch.cat([self._obs_term(t) for t in self.obs_terms], dim=-1) * self.obs_scale_vec
        if self.noise_cfg["addNoise"]:
            self.obs_buf += (2.0 * torch.rand_like(self.obs_buf) - 1.0) * self.noise_scale_vec
        if self.state_terms:
            self.states_buf[:] = torch.cat([self._obs_term(t) for t in self.state_terms], dim=-1) * self.state_scale_vec
        return self.obs_buf

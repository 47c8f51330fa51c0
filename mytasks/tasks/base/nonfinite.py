"""Containing non-finite physics: an env whose observations, states or reward turn NaN/Inf.

After each ``post_physics_step`` the guard finds such envs, zeroes their observations and
reward, flags them done (their episode ends now; the task resets them at the start of the
next step, as any done env) and counts them, all on the device: no step waits on the GPU.
The learner reads the counts once per epoch through :meth:`NonFiniteGuard.take`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

QUANTITIES = ("observations", "states", "reward")


@dataclass
class BlowUps:
    """What blew up since the last ``take``: env-steps, distinct envs, the first quantity and
    env seen (lowest index), and the fraction of envs."""

    events: int
    envs: int
    fraction: float
    quantity: str
    env_index: int


class NonFiniteGuard:
    def __init__(self, num_envs: int, device: str):
        self.num_envs = num_envs
        self.events = torch.zeros((), dtype=torch.long, device=device)
        self.blown = torch.zeros(num_envs, dtype=torch.bool, device=device)
        # per quantity: whether any env showed it since the last take
        self.seen = torch.zeros(len(QUANTITIES), dtype=torch.bool, device=device)

    def apply(
        self, obs: torch.Tensor, states: torch.Tensor | None, rew: torch.Tensor, reset: torch.Tensor
    ) -> torch.Tensor:
        """Zeroes and flags done the envs with non-finite values (in place); returns their mask (N,)."""
        bad_obs = ~torch.isfinite(obs).all(dim=1)
        bad_rew = ~torch.isfinite(rew)
        bad = bad_obs | bad_rew
        bad_states = None
        if states is not None and states.shape[1] > 0:
            bad_states = ~torch.isfinite(states).all(dim=1)
            bad = bad | bad_states
            states.masked_fill_(bad.unsqueeze(1), 0.0)
        obs.masked_fill_(bad.unsqueeze(1), 0.0)
        rew.masked_fill_(bad, 0.0)
        reset.masked_fill_(bad, 1)
        self.events += bad.sum()
        self.blown |= bad
        self.seen[0] |= bad_obs.any()
        if bad_states is not None:
            self.seen[1] |= bad_states.any()
        self.seen[2] |= bad_rew.any()
        return bad

    def take(self) -> BlowUps:
        """The counts since the last call (one host sync), then zeroed."""
        envs = int(self.blown.sum())
        events = int(self.events)
        seen = self.seen.tolist()
        index = int(torch.argmax(self.blown.to(torch.uint8))) if envs else -1
        quantity = next((q for q, s in zip(QUANTITIES, seen, strict=True) if s), "")
        self.events.zero_()
        self.blown.zero_()
        self.seen.zero_()
        return BlowUps(events, envs, envs / self.num_envs, quantity, index)

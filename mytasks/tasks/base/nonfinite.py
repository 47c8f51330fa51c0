"""Containing blown-up physics: an env whose observations, states or reward turn NaN/Inf, or stay
finite but absurd (an observation beyond ``nan_guard.max_observation``, a body faster than
``nan_guard.max_body_speed``: bodies can reach 1e16 m/s without turning NaN).

After each ``post_physics_step`` the guard finds such envs, zeroes their observations and
reward, flags them done (their episode ends now; the task resets them at the start of the
next step, as any done env) and counts them, all on the device: no step waits on the GPU.
The learner reads the counts once per epoch through :meth:`NonFiniteGuard.take`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

QUANTITIES = (
    "non-finite observations",
    "non-finite states",
    "non-finite reward",
    "observations beyond nan_guard.max_observation",
    "bodies faster than nan_guard.max_body_speed",
)


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
    def __init__(self, num_envs: int, device: str, max_observation: float = math.inf, max_body_speed: float = math.inf):
        self.num_envs = num_envs
        self.max_observation, self.max_body_speed = max_observation, max_body_speed
        self.events = torch.zeros((), dtype=torch.long, device=device)
        self.blown = torch.zeros(num_envs, dtype=torch.bool, device=device)
        # per quantity: whether any env showed it since the last take
        self.seen = torch.zeros(len(QUANTITIES), dtype=torch.bool, device=device)

    def apply(self, obs: torch.Tensor, states: torch.Tensor | None, rew: torch.Tensor, reset: torch.Tensor,
              body_speed: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """Zeroes and flags done the envs that blew up (in place); returns their mask (N,).
        ``body_speed`` (N,) is each env's fastest body, checked when given."""
        found = [~torch.isfinite(obs).all(dim=1), None, ~torch.isfinite(rew), None, None]
        if states is not None and states.shape[1] > 0:
            found[1] = ~torch.isfinite(states).all(dim=1)
        if math.isfinite(self.max_observation):
            found[3] = (obs.abs() > self.max_observation).any(dim=1)
        if body_speed is not None:
            found[4] = body_speed > self.max_body_speed  # NaN speeds are the states' to report
        bad = torch.zeros_like(found[0])
        for k, mask in enumerate(found):
            if mask is not None:
                bad |= mask
                self.seen[k] |= mask.any()
        if found[1] is not None:
            states.masked_fill_(bad.unsqueeze(1), 0.0)
        obs.masked_fill_(bad.unsqueeze(1), 0.0)
        rew.masked_fill_(bad, 0.0)
        reset.masked_fill_(bad, 1)
        self.events += bad.sum()
        self.blown |= bad
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

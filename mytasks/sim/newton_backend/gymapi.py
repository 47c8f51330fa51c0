"""``gymapi`` on Newton: Isaac Gym's value types plus ``acquire_gym``."""

from mytasks.sim import types as _types
from mytasks.sim.types import *  # noqa: F403  (the module's public surface is Isaac Gym's)


def acquire_gym():
    from mytasks.sim.newton_backend.gym import Gym

    return Gym.instance()


__all__ = [k for k in vars(_types) if not k.startswith("_") and k != "annotations"] + ["acquire_gym"]

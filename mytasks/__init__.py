"""mytasks: IsaacGymEnvs-style GPU-parallel RL tasks on Newton."""

__version__ = "0.1.0"

"""Isaac Gym's ``gymapi`` types, engine-independent, as one namespace: the value types and
constants (``values.py``) and the parameter and property structs (``properties.py``).

These mirror Isaac Gym's names and defaults so that task code written for Isaac Gym reads the
same here. Only what tasks of the IsaacGymEnvs family use is provided.
"""

from mytasks.sim.properties import *  # noqa: F403
from mytasks.sim.values import *  # noqa: F403

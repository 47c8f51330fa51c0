"""The tasks: ``isaacgym_task_map`` (IsaacGymEnvs' name -> class map), the registry of task
specs and ``make_task``, which builds every task (``registry.py``).

Task modules are imported on first use, so listing the tasks, composing configs and
reporting bad input stay instant, and the physics backend can be chosen before any task
module imports ``gymapi``. Your own tasks: an entry point of your package (README, "Write your
own task"), or in a script ``register_task("MyTask", MyTask, config_dir=...)``.
"""

from mytasks.tasks.registry import (
    TaskSpec,
    catalog,
    catalog_of,
    compose_config,
    isaacgym_task_map,
    make_task,
    register_task,
)

__all__ = ["TaskSpec", "catalog", "catalog_of", "compose_config", "isaacgym_task_map", "make_task", "register_task"]

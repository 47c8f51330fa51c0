"""The run's random seed, set for Python, NumPy and torch."""

from __future__ import annotations

import os
import random


def set_seed(seed: int, deterministic: bool) -> int:
    import numpy as np
    import torch

    if seed == -1:
        seed = 42 if deterministic else random.randint(0, 10000)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    if deterministic:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True)
    return seed

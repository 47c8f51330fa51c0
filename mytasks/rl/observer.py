"""Training observer: episode statistics to TensorBoard (``Episode/<key>``)."""

from __future__ import annotations

import torch
from rl_games.common.algo_observer import IsaacAlgoObserver


class RLGPUAlgoObserver(IsaacAlgoObserver):
    """rl-games' Isaac observer, plus the last epoch's ``Episode/<key>`` means kept for the
    console (``last_episode_means``)."""

    def __init__(self):
        super().__init__()
        self.last_episode_means: dict[str, float] = {}

    def after_print_stats(self, frame, epoch_num, total_time):
        if self.ep_infos:
            means = {}
            for key in self.ep_infos[0]:
                values = [torch.as_tensor(info[key], dtype=torch.float32).reshape(-1).cpu() for info in self.ep_infos]
                means[key] = float(torch.cat(values).mean())
            self.last_episode_means = means
        super().after_print_stats(frame, epoch_num, total_time)

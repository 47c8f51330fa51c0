"""Training observer: episode statistics to TensorBoard (``Episode/<key>``), wandb when asked."""

from __future__ import annotations

import torch
from rl_games.common.algo_observer import IsaacAlgoObserver


class RLGPUAlgoObserver(IsaacAlgoObserver):
    """rl-games' Isaac observer, plus wandb started before rl-games opens its writer, and the
    last epoch's ``Episode/<key>`` means kept for the console (``last_episode_means``)."""

    def __init__(self, wandb_cfg: dict | None = None, run_config: dict | None = None):
        super().__init__()
        self.wandb_cfg = wandb_cfg
        self.run_config = run_config
        self.last_episode_means: dict[str, float] = {}

    def before_init(self, base_name, config, experiment_name):
        if not self.wandb_cfg:
            return
        import wandb

        c = self.wandb_cfg
        wandb.init(
            project=c["project"],
            entity=c.get("entity") or None,
            group=c.get("group") or None,
            name=c.get("name") or experiment_name,
            tags=list(c.get("tags") or []),
            config=self.run_config,
            sync_tensorboard=True,
            resume="allow",
        )

    def after_print_stats(self, frame, epoch_num, total_time):
        if self.ep_infos:
            means = {}
            for key in self.ep_infos[0]:
                values = [torch.as_tensor(info[key], dtype=torch.float32).reshape(-1).cpu() for info in self.ep_infos]
                means[key] = float(torch.cat(values).mean())
            self.last_episode_means = means
        super().after_print_stats(frame, epoch_num, total_time)

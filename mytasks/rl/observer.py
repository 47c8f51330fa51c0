"""Training observer: episode statistics to TensorBoard (``Episode/<key>``), wandb when asked."""

from __future__ import annotations

from rl_games.common.algo_observer import IsaacAlgoObserver


class RLGPUAlgoObserver(IsaacAlgoObserver):
    """rl-games' Isaac observer, plus wandb started before rl-games opens its writer."""

    def __init__(self, wandb_cfg: dict | None = None, run_config: dict | None = None):
        super().__init__()
        self.wandb_cfg = wandb_cfg
        self.run_config = run_config

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

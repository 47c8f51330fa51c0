"""The rl-games agents an IsaacGymEnvs checkout brings in ``isaacgymenvs/learning/``, registered
as upstream's ``train.py`` registers them: ``amp_continuous`` (HumanoidAMP's Adversarial Motion
Priors agent and player) with its ``continuous_amp`` model and ``amp`` network.

The agent's own epoch (``train_epoch``: its rollout with the discriminator's reward, its update)
runs in mytasks' loop (``loop.py``: one line per epoch, checkpoints that resume, Ctrl-C, the
blow-up guard) where upstream runs its own ``train()``; the epoch's dict of statistics is handed
to the loop in rl-games' tuple, and its TensorBoard scalars (the discriminator's among them) are
the agent's own.
"""

from __future__ import annotations

import importlib
import math

from mytasks.utils.errors import UserError

ALGOS = ("amp_continuous",)


def _learning(module: str):
    try:
        return importlib.import_module(f"isaacgymenvs.learning.{module}")
    except ImportError as e:
        raise UserError(f"train.params.algo.name amp_continuous is the agent of an IsaacGymEnvs checkout's "
                        f"isaacgymenvs/learning/ ({e}); run the task with ige_root=<checkout>") from None  # fmt: skip


def _register_models() -> None:
    from rl_games.algos_torch import model_builder

    models, networks = _learning("amp_models"), _learning("amp_network_builder")
    model_builder.register_model("continuous_amp", models.ModelAMPContinuous)
    model_builder.register_network("amp", networks.AMPBuilder)


class _EpochOfADict:
    """An agent whose ``train_epoch`` returns a dict of statistics (IsaacGymEnvs' CommonAgent),
    run in mytasks' loop, which takes rl-games' tuple."""

    @property
    def seq_len(self) -> int:
        """rl-games' name of the RNN sequence length when IsaacGymEnvs' agents were written
        (``seq_length`` since)."""
        return self.seq_length

    def init_tensors(self):
        super().init_tensors()
        self._init_train()  # the agent's own set-up before its first epoch (AMP's demo buffer)

    def train_epoch(self):
        info = super().train_epoch()
        self._epoch_info = info
        return (info["play_time"], info["play_time"], info["update_time"], info["total_time"], info["actor_loss"],
                info["critic_loss"], info.get("b_loss", []), info["entropy"], info["kl"], info["last_lr"][-1],
                info["lr_mul"][-1])  # fmt: skip

    def write_stats(self, total_time, epoch_num, step_time, play_time, update_time, a_losses, c_losses, entropies,
                    kls, last_lr, lr_mul, frame, scaled_time, scaled_play_time, curr_frames):  # fmt: skip
        self.writer.add_scalar("performance/total_fps", curr_frames / max(scaled_time, 1e-9), frame)
        self.writer.add_scalar("info/epochs", epoch_num, frame)
        self._log_train_info(self._epoch_info, frame)


def check(config: dict) -> None:
    """What the AMP agent asserts of its config, said in one line before it is built."""
    amp, minibatch = config.get("amp_minibatch_size"), config["minibatch_size"]
    if amp is not None and int(amp) > minibatch:
        horizon = int(config["horizon_length"])
        raise UserError(f"train.params.config.amp_minibatch_size {amp} is larger than the minibatch of {minibatch} "
                        f"({config['num_actors']} envs x horizon_length {horizon}); train at least "
                        f"{math.ceil(int(amp) / horizon)} envs or lower amp_minibatch_size")  # fmt: skip


def agent_class():
    # rl-games' modules are imported once mytasks.rl.env has imported its env registry (dynamo.py)
    from mytasks.rl.loop import TrainLoop

    _register_models()
    amp = _learning("amp_continuous")
    return type("AMPAgent", (_EpochOfADict, TrainLoop, amp.AMPAgent), {})


class _PlayerOfADict:
    """IsaacGymEnvs' CommonPlayer takes an observation dict (and rl-games' older spelling of
    ``is_deterministic``); rl-games' players and mytasks' play take the tensor."""

    def get_action(self, obs, is_deterministic=False):
        return super().get_action({"obs": obs}, is_deterministic)


def player_class():
    _register_models()
    return type("AMPPlayer", (_PlayerOfADict, _learning("amp_players").AMPPlayerContinuous), {})

"""rl-games' continuous PPO agent, without its host syncs and with its update as a CUDA graph.

rl-games 1.6.5 waits on the device in both inner loops. After every env step it finds the
envs that finished (``dones.nonzero()``) for its episode statistics; after every minibatch it
reads the KL divergence (``.item()``) to adapt the learning rate on the host. Each wait stops
the CPU from queueing work until the GPU has caught up. And a minibatch update of a small
MLP is hundreds of kernels of a few microseconds each: Python, not the GPU, sets its pace.

Here:

- the returns and lengths of finished episodes are recorded in device buffers during the
  rollout and handed to the same statistics once at its end, in the same order;
- the KL-adaptive learning rate (``lr_schedule: adaptive`` with rl-games' default
  per-minibatch "legacy" schedule) is a device tensor that the fused Adam step reads, changed
  by the scheduler's rule on the device, and read back once per epoch;
- so one minibatch update (rl-games' own ``calc_gradients``: forward, losses, backward,
  gradient clipping, Adam step) plus the learning-rate rule never waits on the device, and on
  a GPU it is captured once as a CUDA graph and replayed for every later minibatch;
- with ``multi_gpu`` the update's all-reduces (rl-games' of the gradients, and the KL's that
  the learning-rate rule reads) are part of the same graph, so every rank computes the same
  rate and no broadcast is needed.

A critic of its own (rl-games' central value, on the task's states) keeps rl-games' eager
update, run once per epoch before the policy's, as rl-games runs it. The experience, the
advantages, the losses and the update are rl-games' own; configurations this does not cover
(RNNs, mixed precision, other schedules, diagnostics) run rl-games' code unchanged.
``update_graph: False`` in the train config's ``params.config`` keeps the update eager.
"""

from __future__ import annotations

import time

import torch
import torch.distributed as dist
from rl_games.algos_torch import a2c_continuous, torch_ext
from rl_games.common.a2c_common import swap_and_flatten01
from rl_games.common.algo_observer import IsaacAlgoObserver
from rl_games.common.diagnostics import DefaultDiagnostics
from rl_games.common.schedulers import AdaptiveScheduler, IdentityScheduler

from mytasks.rl import checkpoints, distributed
from mytasks.rl.loop import TrainLoop
from mytasks.utils.cuda_graph import GraphedCall

# What rl-games' calc_gradients reads from a minibatch.
_MINIBATCH_KEYS = ("obs", "actions", "old_values", "old_logp_actions", "advantages", "returns", "mu", "sigma")


class A2CAgent(TrainLoop, a2c_continuous.A2CAgent):
    def __init__(self, base_name, params):
        super().__init__(base_name, params)
        ranks = distributed.current()
        if ranks is not None:
            self._join(ranks)
        # The update's state: the learning rate Adam reads, the minibatch inputs a graph reads.
        self._lr = torch.zeros((), dtype=torch.float32, device=self.ppo_device)
        self._minibatch: dict | None = None
        on_gpu = str(self.ppo_device).startswith("cuda") and bool(self.config.get("update_graph", True))
        self._update_graph = GraphedCall("the PPO minibatch update", enabled=on_gpu, side_stream=True)

    def _join(self, ranks: distributed.Ranks) -> None:
        """rl-games' multi-GPU state (gradient and KL all-reduce, the learning rate's broadcast), for
        the policy and a central value, and normalisers fed by every rank (``distributed.py``)."""
        for algo in (self, getattr(self, "central_value_net", None)):
            if algo is not None:
                algo.multi_gpu = True
                algo.local_rank, algo.global_rank, algo.world_size = ranks.local_rank, ranks.rank, ranks.world_size
        distributed.sync_normalisers(*self._networks(), holders=(self,))

    def _sync_free(self) -> bool:
        # The per-episode bookkeeping below covers one agent per env, no action masks, and
        # observers that read infos rather than finished-env indices.
        return (
            self.num_agents == 1 and not self.use_action_masks and isinstance(self.algo_observer, IsaacAlgoObserver)
        )

    def play_steps(self):
        if not self._sync_free():
            return super().play_steps()
        steps, dev = self.horizon_length, self.ppo_device
        ended = torch.zeros(steps, self.num_actors, dtype=torch.bool, device=dev)
        returns = torch.zeros(steps, *self.current_rewards.shape, device=dev)
        shaped_returns = torch.zeros_like(returns)
        lengths = torch.zeros(steps, *self.current_lengths.shape, device=dev)
        step_time = 0.0
        for n in range(steps):
            res_dict = self.get_action_values(self.obs)
            self.experience_buffer.update_data("obses", n, self.obs["obs"])
            self.experience_buffer.update_data("dones", n, self.dones)
            for k in self.update_list:
                self.experience_buffer.update_data(k, n, res_dict[k])
            if self.has_central_value:
                self.experience_buffer.update_data("states", n, self.obs["states"])

            t0 = time.perf_counter()
            self.obs, rewards, self.dones, infos = self.env_step(res_dict["actions"])
            step_time += time.perf_counter() - t0

            shaped = self.rewards_shaper(rewards)
            if self.value_bootstrap and "time_outs" in infos:
                time_outs = self.cast_obs(infos["time_outs"]).unsqueeze(1).float()
                shaped.add_(self.gamma * res_dict["values"] * time_outs)
            self.experience_buffer.update_data("rewards", n, shaped)
            self.current_rewards.add_(rewards)
            self.current_shaped_rewards.add_(shaped)
            self.current_lengths.add_(1)

            ended[n] = self.dones.bool()
            returns[n] = self.current_rewards
            shaped_returns[n] = self.current_shaped_rewards
            lengths[n] = self.current_lengths
            self.algo_observer.process_infos(infos, None)

            not_dones = (1.0 - self.dones.float()).unsqueeze(1)
            self.current_rewards.mul_(not_dones)
            self.current_shaped_rewards.mul_(not_dones)
            self.current_lengths.mul_(not_dones.squeeze(1))

        # Once per rollout: the finished episodes, step by step, as rl-games would have seen them
        # (its meters keep a moving window, so the order and grouping matter).
        counts = ended.sum(dim=1).tolist()
        if sum(counts):
            for meter, values in (
                (self.game_rewards, returns[ended]),
                (self.game_shaped_rewards, shaped_returns[ended]),
                (self.game_lengths, lengths[ended]),
            ):
                for chunk in values.unsqueeze(1).split(counts):
                    meter.update(chunk)
        return self._rollout_batch(step_time)

    def _rollout_batch(self, step_time: float) -> dict:
        """Advantages, returns and the flattened batch, as rl-games' ``play_steps`` ends."""
        last_values = self.get_values(self.obs)
        fdones = self.dones.float()
        buf = self.experience_buffer.tensor_dict
        mb_advs = self.discount_values(fdones, last_values, buf["dones"].float(), buf["values"], buf["rewards"])
        mb_returns = mb_advs + buf["values"]
        batch_dict = self.experience_buffer.get_transformed_list(swap_and_flatten01, self.tensor_list)
        batch_dict["returns"] = swap_and_flatten01(mb_returns)
        batch_dict["played_frames"] = self.batch_size
        batch_dict["step_time"] = step_time
        return batch_dict

    # ------------------------------------------------------------------ the update
    def _update_on_device(self) -> bool:
        return (
            self.schedule_type == "legacy"
            and type(self.scheduler) in (AdaptiveScheduler, IdentityScheduler)
            and type(self.diagnostics) is DefaultDiagnostics
            and self.bounds_loss_coef is not None
            and not (self.is_rnn or self.mixed_precision)
        )

    def train_epoch(self):
        if not self._update_on_device():
            return super().train_epoch()
        self.vec_env.set_train_info(self.frame, self)
        self.set_eval()
        play_start = time.perf_counter()
        with torch.no_grad():
            batch_dict = self.play_steps()
        play_end = time.perf_counter()
        self.set_train()
        self.curr_frames = batch_dict.pop("played_frames")
        self.prepare_dataset(batch_dict)
        self.algo_observer.after_steps()
        if self.has_central_value:
            self.train_central_value()  # rl-games' own update of the critic network, eager
        self._link_lr()
        stats, kls = [], []
        for _ in range(self.mini_epochs_num):
            first = len(stats)
            for i in range(len(self.dataset)):
                out, mu, sigma = self._minibatch_update(self.dataset[i])
                stats.append(out.clone())  # the graph refills its outputs at the next replay
                self.dataset.update_mu_sigma(mu, sigma)
            kls.append(torch_ext.mean_list([s[3] for s in stats[first:]]))
        a_losses, c_losses, entropies, _, b_losses = (list(column) for column in torch.stack(stats).unbind(1))
        self.last_lr = float(self._lr)  # the one wait of the update
        update_end = time.perf_counter()
        return (batch_dict["step_time"], play_end - play_start, update_end - play_end, update_end - play_start,
                a_losses, c_losses, b_losses, entropies, kls, self.last_lr, 1.0)  # fmt: skip

    def _link_lr(self) -> None:
        """Makes the learning rate a device tensor that every Adam step reads."""
        self._lr.fill_(self.last_lr)  # picks up a change made on the host (a restored checkpoint)
        for group in self.optimizer.param_groups:
            group["lr"] = self._lr
            group["capturable"] = self._update_graph.enabled  # Adam's step may then be captured

    def restore(self, fn, set_epoch=True):
        self.restore_state(checkpoints.load(fn))

    def get_full_state_weights(self, with_env: bool = True):
        state = super().get_full_state_weights(with_env)
        for group in state["optimizer"]["param_groups"]:  # copies: the optimizer keeps its tensor
            group["lr"] = float(group["lr"])  # saved as rl-games saves it
        return state

    def _minibatch_update(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One minibatch: its inputs copied into fixed buffers, then the update, eager or replayed.

        Returns (a_loss, c_loss, entropy, kl, b_loss) stacked, and the new mu and sigma.
        """
        if self._minibatch is None:
            self._minibatch = {k: batch[k].clone() for k in _MINIBATCH_KEYS}
        else:
            for k in _MINIBATCH_KEYS:
                self._minibatch[k].copy_(batch[k])
        self.set_train()  # as rl-games' train_actor_critic: the input statistics update in every minibatch
        return self._update_graph(self._update_step)

    def _update_step(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        buffers = dict(self.model.named_buffers())
        self.calc_gradients(self._minibatch)
        # rl-games' RunningMeanStd assigns new tensors to its statistics; a replayed graph would
        # read the first ones again. Write the new values back into the buffers the graph reads.
        for name, old in buffers.items():
            owner, _, attr = name.rpartition(".")
            module = self.model.get_submodule(owner)
            if module._buffers[attr] is not old:
                old.copy_(module._buffers[attr])
                module._buffers[attr] = old
        a_loss, c_loss, entropy, kl, _, _, mu, sigma, b_loss = self.train_result
        if self.multi_gpu:  # every rank adapts the rate to the ranks' mean KL, as rl-games' multi-GPU epoch does
            dist.all_reduce(kl)
            kl = kl / self.world_size
        self.train_result = None  # holds the losses' autograd graph, which must not outlive the step
        if isinstance(self.scheduler, AdaptiveScheduler):
            # rl-games' AdaptiveScheduler.update: divide by 1.5 above twice the KL threshold,
            # multiply by 1.5 below half of it, within [min_lr, max_lr].
            s, lr = self.scheduler, self._lr
            lower = torch.clamp(lr / 1.5, min=s.min_lr)
            higher = torch.clamp(lr * 1.5, max=s.max_lr)
            lr.copy_(torch.where(kl > 2.0 * s.kl_threshold, lower, torch.where(kl < 0.5 * s.kl_threshold, higher, lr)))
        return torch.stack([a_loss, c_loss, entropy, kl, b_loss]).detach(), mu, sigma

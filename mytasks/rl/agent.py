"""rl-games' continuous PPO agent, without its host syncs per env step and per minibatch.

rl-games 1.6.5 waits on the device twice in its inner loops: after every env step it finds the
finished envs (``dones.nonzero()``) for its episode statistics, and after every minibatch it
reads the KL divergence (``.item()``) to adapt the learning rate on the host. Each wait stops
the CPU from queueing work until the GPU has caught up, so Python and GPU time add up instead
of overlapping.

Here the returns and lengths of finished episodes are recorded in device buffers during the
rollout and handed to the same statistics once at its end, in the same order; and the
KL-adaptive learning rate (``lr_schedule: adaptive``, rl-games' default per-minibatch
"legacy" schedule) is a device tensor that the fused Adam step reads, updated by the same
rule, and copied to the host once per epoch. The experience, the advantages, the losses and the
update are rl-games' own; other configurations fall back to rl-games' code unchanged.
"""

from __future__ import annotations

import time

import torch
from rl_games.algos_torch import a2c_continuous, torch_ext
from rl_games.common.a2c_common import swap_and_flatten01
from rl_games.common.algo_observer import IsaacAlgoObserver
from rl_games.common.schedulers import AdaptiveScheduler


class A2CAgent(a2c_continuous.A2CAgent):
    def _sync_free(self) -> bool:
        # The per-episode bookkeeping below covers one agent per env, no action masks, no
        # central value, and observers that read infos rather than finished-env indices.
        return (
            self.num_agents == 1
            and not self.use_action_masks
            and not self.has_central_value
            and isinstance(self.algo_observer, IsaacAlgoObserver)
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
    def _lr_on_device(self) -> bool:
        return (
            self.schedule_type == "legacy"
            and isinstance(self.scheduler, AdaptiveScheduler)
            and not self.multi_gpu
            and not self.is_rnn
            and not self.has_central_value
        )

    def _link_lr(self) -> torch.Tensor:
        """The learning rate as a device tensor that every optimizer step reads."""
        if getattr(self, "_lr", None) is None:
            self._lr = torch.zeros((), dtype=torch.float32, device=self.ppo_device)
        self._lr.fill_(self.last_lr)  # picks up any change made on the host (a restore)
        for group in self.optimizer.param_groups:
            group["lr"] = self._lr
        return self._lr

    def _adapt_lr(self, kl: torch.Tensor) -> None:
        """rl-games' AdaptiveScheduler rule, on the device: divide by 1.5 when the KL is above
        twice the threshold, multiply by 1.5 below half of it, within [min_lr, max_lr]."""
        s, lr = self.scheduler, self._lr
        lower = torch.clamp(lr / 1.5, min=s.min_lr)
        higher = torch.clamp(lr * 1.5, max=s.max_lr)
        lr.copy_(torch.where(kl > 2.0 * s.kl_threshold, lower, torch.where(kl < 0.5 * s.kl_threshold, higher, lr)))

    def train_actor_critic(self, input_dict):
        if not self._lr_on_device():
            return super().train_actor_critic(input_dict)
        self.set_train()
        self.calc_gradients(input_dict)  # the optimizer reads the linked learning-rate tensor
        return self.train_result

    def train_epoch(self):
        if not self._lr_on_device():
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
        self._link_lr()
        a_losses, c_losses, b_losses, entropies, kls = [], [], [], [], []
        lr_mul = 1.0
        for mini_ep in range(self.mini_epochs_num):
            ep_kls = []
            for i in range(len(self.dataset)):
                a_loss, c_loss, entropy, kl, _, lr_mul, cmu, csigma, b_loss = self.train_actor_critic(self.dataset[i])
                a_losses.append(a_loss)
                c_losses.append(c_loss)
                ep_kls.append(kl)
                entropies.append(entropy)
                if self.bounds_loss_coef is not None:
                    b_losses.append(b_loss)
                self.dataset.update_mu_sigma(cmu, csigma)
                self._adapt_lr(kl)
            kls.append(torch_ext.mean_list(ep_kls))
            self.diagnostics.mini_epoch(self, mini_ep)
            if self.normalize_input:
                self.model.running_mean_std.eval()  # statistics are updated in the first mini-epoch only
        self.last_lr = float(self._lr)  # the one wait of the update
        update_end = time.perf_counter()
        play_time, update_time = play_end - play_start, update_end - play_end
        return (batch_dict["step_time"], play_time, update_time, update_end - play_start, a_losses, c_losses,
                b_losses, entropies, kls, self.last_lr, lr_mul)  # fmt: skip

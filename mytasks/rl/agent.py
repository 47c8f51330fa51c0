"""rl-games' continuous PPO agent with a rollout that never waits on the device.

rl-games 1.6.5 finds the envs that finished after every env step (``dones.nonzero()``) to
update its episode statistics. That is a host sync per step: the CPU stops queueing work
until the GPU has caught up, so policy inference and bookkeeping never overlap the physics.
Here the returns and lengths of finished episodes are recorded in device buffers during the
rollout and handed to the same statistics once at its end, in the same order. The experience
collected, the advantages and the update are rl-games' own.
"""

from __future__ import annotations

import time

import torch
from rl_games.algos_torch import a2c_continuous
from rl_games.common.a2c_common import swap_and_flatten01
from rl_games.common.algo_observer import IsaacAlgoObserver


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

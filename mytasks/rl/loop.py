"""The training loop around rl-games' PPO epoch: saving, resuming, signals, blow-ups, console.

rl-games 1.6.5's own ``train()`` is replaced (its epoch, ``train_epoch``, is kept) so that:

- every checkpoint is written atomically and holds what an exact resume needs: besides
  rl-games' weights, optimizer, epoch and frame counters, the learning rate and entropy
  coefficient the schedule reached, the torch/CUDA/numpy/python RNG states, the rollout
  state (last observations, dones, running episode sums), the episode-statistics windows and
  a snapshot of the task and its sim (restored when the task config is unchanged; left out
  of the best checkpoint, which is saved often and played rather than resumed);
- SIGINT and SIGTERM end the current epoch, save a checkpoint and print the command that
  resumes it; a second signal exits at once; closing the task's viewer ends training the same
  way after the epoch, with exit code 0;
- envs whose physics blew up (NaN/Inf; see ``tasks/base/nonfinite.py``) are counted every
  epoch; when more than ``nan_guard.max_fraction`` of them blow up for ``nan_guard.epochs``
  epochs in a row, the last good state is saved and training stops with one line;
- the console shows one line per epoch (rl-games' own lines with ``verbose=True``);
- a TensorBoard file that cannot be written (``summaries.py``) ends training with one line,
  after saving a checkpoint if the disk still takes one.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch
from rl_games.common.a2c_common import print_statistics

from mytasks.rl import checkpoints, distributed
from mytasks.rl.learners import Progress, Signals, blew_up, viewer_closed_line
from mytasks.rl.summaries import SummariesFailed
from mytasks.tasks.base.nonfinite import BlowUps
from mytasks.utils.errors import Interrupted, WriteFailed

_METERS = ("game_rewards", "game_shaped_rewards", "game_lengths")
_ROLLOUT = ("dones", "current_rewards", "current_shaped_rewards", "current_lengths")


@dataclass
class LoopOptions:
    task_name: str = "task"
    verbose: bool = False
    nan_max_fraction: float = 0.5
    nan_epochs: int = 3
    terms_every: int = 10  # epochs between the per-term reward lines


def _rng_state() -> dict:
    kind, key, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": (str(kind), torch.from_numpy(key.astype(np.int64)), int(pos), int(has_gauss), float(gauss)),
        "python": random.getstate(),
    }


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, key, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, key.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))


class TrainLoop:
    """Mixin for rl-games' continuous A2C agent (see the module docstring)."""

    loop_options = LoopOptions()

    # ------------------------------------------------------------------ checkpoints
    def get_full_state_weights(self, with_env: bool = True):
        state = super().get_full_state_weights()
        state["last_mean_rewards"] = float(state["last_mean_rewards"])
        task = getattr(self.vec_env, "env", None)
        state["resume"] = {
            "last_lr": float(self.last_lr),
            "entropy_coef": float(self.entropy_coef),
            "rng": _rng_state(),
            "obs": {k: v.detach().cpu() for k, v in self.obs.items()} if isinstance(self.obs, dict) else None,
            "rollout": {k: getattr(self, k).detach().cpu() for k in _ROLLOUT if hasattr(self, k)},
            "meters": {k: (getattr(self, k).mean.cpu(), int(getattr(self, k).current_size)) for k in _METERS},
            "env": task.snapshot() if with_env and hasattr(task, "snapshot") else None,
        }
        return checkpoints.stamp(state, "rl_games", int(state["epoch"]), task) if task is not None else state

    def save(self, fn: str, with_env: bool = True) -> str:
        """Writes a checkpoint atomically; ``with_env=False`` leaves out the task snapshot (the
        best checkpoint, saved often and played rather than resumed)."""
        path = fn if fn.endswith(".pth") else fn + ".pth"
        checkpoints.save(self.get_full_state_weights(with_env), path)
        if self.loop_options.verbose:
            print(f"=> saved checkpoint '{path}'")
        self.last_saved = path
        return path

    def restore_state(self, state: dict) -> None:
        """rl-games' ``set_full_state_weights`` plus what it leaves out (see the module docstring);
        the rollout state, RNGs and task snapshot are put back when training starts."""
        self.set_full_state_weights(state, set_epoch=True)
        extra = state.get("resume")
        if extra is None:  # a checkpoint written by rl-games itself or an older mytasks
            print("mytasks: this checkpoint has weights, optimizer and counters but no learning-rate, RNG or "
                  "env state; those start afresh")  # fmt: skip
            lr = state.get("optimizer", {}).get("param_groups", [{}])[0].get("lr")
            if lr is not None:
                self.last_lr = float(lr)
        else:
            self.last_lr = extra["last_lr"]
            self.entropy_coef = extra["entropy_coef"]
        self.update_lr(self.last_lr)
        self._pending_resume = extra

    def _resume_rollout(self) -> None:
        extra = getattr(self, "_pending_resume", None)
        self._pending_resume = None
        ranks = distributed.current()
        if not extra or (ranks and not ranks.main):
            return  # rank 0's envs and RNGs are in the checkpoint: the others start afresh from their seeds
        task = getattr(self.vec_env, "env", None)
        why = "the checkpoint holds no env snapshot"
        if extra.get("env") is not None and hasattr(task, "restore_snapshot"):
            why = task.restore_snapshot(extra["env"])
        if why is None and extra.get("obs") is not None:
            for k, v in extra["obs"].items():
                self.obs[k].copy_(v.to(self.obs[k].device))
            for k, v in extra["rollout"].items():
                getattr(self, k).copy_(v.to(self.ppo_device))
        elif why is not None:
            print(f"mytasks: env state not restored ({why}); the envs start new episodes")
        for k, (mean, size) in extra["meters"].items():
            meter = getattr(self, k)
            meter.mean = mean.to(meter.mean.device)  # rl-games reassigns it too (its shape may change)
            meter.current_size = size
        _set_rng_state(extra["rng"])

    # ------------------------------------------------------------------ the loop
    def train(self):
        opts = self.loop_options
        ranks = distributed.current()
        self.init_tensors()
        self.obs = self.env_reset()
        self.curr_frames = self.batch_size_envs
        self.last_saved = None
        self._resume_rollout()
        if ranks:
            distributed.broadcast_from_main(*self._networks())
        main = ranks is None or ranks.main
        world = ranks.world_size if ranks else 1
        progress = Progress(self.max_epochs, self.epoch_num)
        try:
            return self._epochs(opts, ranks, main, world, progress)
        except SummariesFailed as e:  # the checkpoints may still fit: keep the epochs trained
            try:
                path = self._save_last(self.epoch_num, main, "_interrupted")
            except WriteFailed:
                raise e from None
            raise SummariesFailed(f"{e}; checkpoint saved: {path}") from None

    def _epochs(self, opts, ranks, main: bool, world: int, progress: Progress):
        total_time, blown_streak = 0.0, 0
        with Signals() as signals:
            while True:
                epoch_num = self.update_epoch()
                (step_time, play_time, update_time, sum_time, a_losses, c_losses, b_losses, entropies, kls, last_lr,
                 lr_mul) = self.train_epoch()  # fmt: skip
                total_time += sum_time
                frame = self.frame // self.num_agents
                self.dataset.update_values_dict(None)
                self.diagnostics.epoch(self, current_epoch=epoch_num)
                curr_frames = self.curr_frames * world  # every rank's env steps
                self.frame += curr_frames
                if opts.verbose and main:
                    print_statistics(True, curr_frames, step_time, play_time, sum_time, epoch_num, self.max_epochs,
                                     frame, self.max_frames)  # fmt: skip
                if main:
                    self.write_stats(total_time, epoch_num, step_time, play_time, update_time, a_losses, c_losses,
                                     entropies, kls, last_lr, lr_mul, frame, sum_time, play_time,
                                     curr_frames)  # fmt: skip
                    if b_losses:
                        self.writer.add_scalar("losses/bounds_loss", torch.stack(b_losses).mean().item(), frame)
                blown = self._count_blow_ups(frame if main else None)
                blown_streak = blown_streak + 1 if blown.fraction > opts.nan_max_fraction else 0
                should_exit = self._log_and_save(epoch_num, frame, total_time) if main else False
                self._print_epoch(progress, epoch_num, curr_frames / max(sum_time, 1e-9), blown)
                viewer_closed = getattr(getattr(self.vec_env, "env", None), "viewer_closed", False)
                signum = signals.requested or 0
                blown_up = blown_streak >= opts.nan_epochs
                if ranks:  # every rank stops where any one stops, holding rank 0's weights
                    signum, viewer_closed, blown_up, should_exit = distributed.agree(
                        signum, viewer_closed, ranks.rank + 1 if blown_up else 0, should_exit)  # fmt: skip
                    signum = int(signum)
                    if blown_up:  # rank 0 reports what the highest rank that blew up saw
                        blown = distributed.from_rank(int(blown_up) - 1, blown)
                    self._check_same_weights(epoch_num)
                if blown_up:
                    self._stop_blown_up(epoch_num, blown, main)
                if signum:
                    path = self._save_last(epoch_num, main, "_interrupted")
                    if main:
                        self.writer.flush()  # the process ends by the signal, past the writer's own flush
                    raise Interrupted(path, signum)
                if viewer_closed:
                    path = self._save_last(epoch_num, main)
                    if main:
                        print(viewer_closed_line(epoch_num, path), flush=True)
                    return self._finish(ranks, epoch_num, progress.first_epoch)
                if (self.max_epochs != -1 and epoch_num >= self.max_epochs) or (
                    self.max_frames != -1 and self.frame >= self.max_frames
                ):
                    self._save_last(epoch_num, main)
                    should_exit = True
                if should_exit:
                    return self._finish(ranks, epoch_num, progress.first_epoch)

    def _networks(self) -> list[torch.nn.Module]:
        return [self.model, *([self.central_value_net] if self.has_central_value else [])]

    def _save_last(self, epoch_num: int, main: bool = True, suffix: str = "") -> str | None:
        """``nn/last_<name>_ep_<epoch><suffix>.pth``, written by rank 0 alone (None elsewhere)."""
        if not main:
            return None
        return self.save(os.path.join(self.nn_dir, f"last_{self.config['name']}_ep_{epoch_num}{suffix}"))

    def _check_same_weights(self, epoch_num: int) -> None:
        differ = distributed.weights_differ(*self._networks())
        if differ:
            raise RuntimeError(f"after epoch {epoch_num} the ranks hold different {', '.join(differ[:5])}")

    def _finish(self, ranks, epoch_num: int, first_epoch: int):
        if ranks and ranks.main:  # every epoch of this run was checked
            print(f"multi_gpu: {ranks.world_size} ranks ({ranks.backend}) held the same weights after each of "
                  f"{epoch_num - first_epoch} epochs", flush=True)  # fmt: skip
        return self.last_mean_rewards, epoch_num

    def _log_and_save(self, epoch_num: int, frame: int, total_time: float) -> bool:
        """rl-games' episode scalars and its periodic and best-reward saves; True once the
        reward passes ``score_to_win``."""
        if self.game_rewards.current_size == 0:
            return False
        mean_rewards = self.game_rewards.get_mean()
        mean_lengths = self.game_lengths.get_mean()
        shaped = self.game_shaped_rewards  # an agent older than rl-games 1.6.5 (IsaacGymEnvs' AMP) keeps none
        mean_shaped = shaped.get_mean() if shaped.current_size > 0 else mean_rewards
        self.mean_rewards = float(mean_rewards[0])
        for name, value in (("rewards", mean_rewards[0]), ("shaped_rewards", mean_shaped[0]),
                            ("episode_lengths", mean_lengths)):  # fmt: skip
            self.writer.add_scalar(f"{name}/step", value, frame)
            self.writer.add_scalar(f"{name}/iter", value, epoch_num)
            self.writer.add_scalar(f"{name}/time", value, total_time)
        name = self.config["name"]
        if self.save_freq > 0 and epoch_num % self.save_freq == 0 and epoch_num != self.max_epochs:
            self.save(os.path.join(self.nn_dir, f"last_{name}_ep_{epoch_num}_rew_{self.mean_rewards:.2f}"))
        if self.mean_rewards > self.last_mean_rewards and epoch_num >= self.save_best_after:
            self.last_mean_rewards = self.mean_rewards
            self.save(os.path.join(self.nn_dir, name), with_env=False)
            if self.last_mean_rewards > self.config.get("score_to_win", float("inf")):
                print(f"mean reward {self.last_mean_rewards:.2f} passed score_to_win: done")
                return True
        return False

    def _count_blow_ups(self, frame: int | None):
        """This rank's blown-up envs of the epoch, written to TensorBoard at ``frame`` (rank 0's)."""
        guard = getattr(getattr(self.vec_env, "env", None), "nonfinite", None)
        if guard is None:
            return BlowUps(events=0, envs=0, fraction=0.0, quantity="", env_index=-1)  # an env without the guard
        blown = guard.take()
        if frame is not None:
            self.writer.add_scalar("nonfinite/envs", blown.envs, frame)
            self.writer.add_scalar("nonfinite/env_steps", blown.events, frame)
        return blown

    def _stop_blown_up(self, epoch_num: int, blown, main: bool = True) -> None:
        if not main:
            raise SystemExit(2)  # rank 0 says why
        opts = self.loop_options
        finite = all(torch.isfinite(p).all() for p in self.model.parameters())
        saved = self._save_last(epoch_num) if finite else None
        raise blew_up(opts.task_name, blown, opts.nan_epochs, saved or self.last_saved or "none was saved")

    def _print_epoch(self, progress: Progress, epoch_num: int, rate: float, blown) -> None:
        """The epoch line (rl-games' own timing of the epoch for the rate; the ETA from the epochs
        after the first, which also compiles) and every ``terms_every`` epochs the reward terms."""
        reward = length = None
        if self.game_rewards.current_size > 0:
            reward, length = float(self.game_rewards.get_mean()[0]), float(self.game_lengths.get_mean())
        print(progress.line(epoch_num, 0, reward, length, blown, rate=rate), flush=True)
        terms = getattr(self.algo_observer, "last_episode_means", None)
        every = self.loop_options.terms_every
        if terms and (epoch_num % every == 0 or epoch_num == self.max_epochs):
            print("  episode terms: " + "  ".join(f"{k} {v:.3f}" for k, v in terms.items()), flush=True)


"""One train/play interface over the RL libraries that ``learner=`` names.

Each learner is one module under ``mytasks/rl/`` with the same three functions, called by the
CLI on a built task:

- ``train(task, cfg, run_dir, state)``: trains from ``state`` (a loaded checkpoint, or None)
  and writes the run directory's ``nn/`` checkpoints and ``summaries/`` (TensorBoard); returns
  a ``Trained``. Ctrl-C (or SIGTERM) ends the epoch, saves ``last_<name>_ep_<k>_interrupted.pth``
  and raises ``Interrupted``, as for rl-games.
- ``player(task, cfg, state, path)``: a ``Player``, the checkpoint's deterministic policy.
- ``load(path, trust)``: the checkpoint at ``path``, refused unless that learner wrote it.

Checkpoints of every learner are plain dicts loaded without running code from them
(``checkpoints.load``); besides the library's own entries they hold ``learner``, ``epoch``
and ``spaces`` (observations and actions), which say on load whether they fit the task.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from mytasks.rl import checkpoints
from mytasks.utils.errors import STOP_REQUESTED, Interrupted, UserError, end_by_signal

# learner -> (module, the package it imports, its distribution, the version its module was
# written against: the pin in pyproject.toml)
LEARNERS = {
    "rl_games": ("mytasks.rl.rl_games_learner", "rl_games", "rl-games", "1.6.5"),
    "rsl_rl": ("mytasks.rl.rsl_rl_learner", "rsl_rl", "rsl-rl-lib", "5.4.2"),
    "skrl": ("mytasks.rl.skrl_learner", "skrl", "skrl", "2.1.1"),
    "sb3": ("mytasks.rl.sb3_learner", "stable_baselines3", "stable-baselines3", "2.9.2"),
}
INSTALL = 'pip install -e ".[learners]" (from the mytasks checkout)'


def get(name: str):
    """The module of learner ``name``, or one line that names the install command (also for a
    release other than the one its module was written against, whose internals may differ)."""
    from importlib.metadata import version

    module, package, dist, checked = LEARNERS[name]
    if importlib.util.find_spec(package) is None:
        raise UserError(f"learner={name} needs {dist}, which is not installed: {INSTALL}")
    if version(dist) != checked:
        raise UserError(f"learner={name} is written against {dist} {checked}, and {version(dist)} is installed: "
                        f"{INSTALL}")  # fmt: skip
    return importlib.import_module(module)


@dataclass
class Trained:
    """What a training ended with: its last mean episode reward (None before any episode
    ended), the checkpoint to play (the best where the learner keeps one, else the last) and
    the best mean reward where the learner tracks it."""

    mean_reward: float | None
    checkpoint: str
    best_reward: float | None = None


@dataclass
class Player:
    """A checkpoint's deterministic policy for ``runner.evaluate``: ``act(obs)`` maps the task's
    observation tensor to actions; ``actor`` is what export takes (an ``nn.Module`` of the same
    map on the CPU, or rl-games' player); ``episodes_ended(env_ids)``, for a policy with memory
    (a recurrent network), clears it for the envs whose episodes ended."""

    act: Callable
    actor: object = None
    episodes_ended: Callable | None = None


def start_wandb(cfg, name: str) -> None:
    """With ``wandb_activate``: a wandb run that syncs the learner's TensorBoard scalars (started
    before the learner opens its writer), with the ``wandb_*`` keys and the resolved config."""
    if not cfg.wandb_activate:
        return
    import wandb
    from omegaconf import OmegaConf

    wandb.init(project=cfg.wandb_project, entity=cfg.wandb_entity or None, group=cfg.wandb_group or None,
               name=cfg.wandb_name or name, tags=list(cfg.wandb_tags or []),
               config=OmegaConf.to_container(cfg, resolve=True), sync_tensorboard=True, resume="allow")  # fmt: skip


def checkpoint_path(run_dir: str, name: str, epoch: int, interrupted: bool = False) -> str:
    """``nn/last_<name>_ep_<epoch>[_interrupted].pth``: the names rl-games' saves have, which
    ``checkpoints.resolve`` orders by epoch; ``nn/`` is made when missing."""
    os.makedirs(os.path.join(run_dir, "nn"), exist_ok=True)
    return os.path.join(run_dir, "nn", f"last_{name}_ep_{epoch}" + ("_interrupted" if interrupted else "") + ".pth")


def check_state(state: dict, path: str, learner: str, expected_key: str) -> dict:
    """``state`` if learner ``learner`` wrote it, else one line that says which learner did."""
    wrote = checkpoints.writer(state)
    if wrote != learner or expected_key not in state:
        hint = f"; play or resume it with learner={wrote}" if wrote else ""
        raise UserError(f"{path} is not a {learner} checkpoint{hint}")
    return state


def named_settings(tree, where: str):
    """Every (key, text, path) of a learner's settings ``tree`` (dicts and lists, at any depth)
    whose value is text: where a library may read a class name or an expression."""
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else ()
    for k, v in items:
        here = f"{where}.{k}" if isinstance(tree, dict) else f"{where}[{k}]"
        if isinstance(v, str):
            yield k, v, here
        else:
            yield from named_settings(v, here)


def saves_at(epoch: int, every: int, last: bool) -> bool:
    """Whether a periodic checkpoint is due: every ``every`` epochs, and at the last one;
    ``every`` 0 saves only the last (rl-games' meaning of save_frequency 0)."""
    return last or (every > 0 and epoch % every == 0)


def check_spaces(state: dict, path: str, task) -> None:
    spaces = state.get("spaces", {})
    obs, actions = spaces.get("obs"), spaces.get("actions")
    if (obs is not None and obs != task.num_obs) or (actions is not None and actions != task.num_actions):
        raise UserError(f"checkpoint {path} has {obs} observations and {actions} actions, but the task has "
                        f"{task.num_obs} and {task.num_actions}; pick a checkpoint trained on this task")  # fmt: skip


class Signals:
    """Within the block, the first SIGINT/SIGTERM sets ``requested``; a second ends the process
    at once by that signal, also after the block, on the way out."""

    def __enter__(self):
        self.requested = None
        self._old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested is not None:
            end_by_signal(signum, cleanup=False)
        self.requested = signum
        STOP_REQUESTED.set()
        name = signal.Signals(signum).name
        # to the process's stdout, also while a learner's own console output is redirected
        print(f"\n{name}: saving a checkpoint at the end of this epoch (again to quit at once)",
              file=sys.__stdout__ or sys.stdout, flush=True)  # fmt: skip

    def __exit__(self, *exc):
        # After a first signal the run is on its way out (checkpoint, resume line): a second one
        # still quits at once there, so the handler stays; otherwise the old ones come back.
        if self.requested is None:
            for sig, old in self._old.items():
                signal.signal(sig, old)
        return False


class ViewerClosed(Exception):
    """The task's viewer closed during training: the learner saved ``checkpoint`` and stops."""

    def __init__(self, checkpoint: str):
        super().__init__(checkpoint)
        self.checkpoint = checkpoint


class EpochEnd:
    """What every learner other than rl-games (whose loop does the same) does after an epoch's
    update, in this order: print the epoch line (with the envs that blew up,
    ``tasks/base/nonfinite.py``); after ``nan_guard.epochs`` epochs in a row above
    ``nan_guard.max_fraction`` of the envs blown up, save and stop with one line naming it; after a
    Ctrl-C, ``save(epoch, interrupted=True)`` and raise ``Interrupted``; when the task's viewer
    closed, ``save(epoch)`` and raise ``ViewerClosed``, which the learner's ``train`` turns
    into its end. ``save(epoch, interrupted=False)`` returns the path it wrote."""

    def __init__(self, task, cfg, signals: Signals, save: Callable[..., str], first_epoch: int = 0):
        self.task, self.task_name, self.signals, self.save = task, cfg.task.name, signals, save
        self.progress = Progress(int(cfg.train.params.config.max_epochs), first_epoch)
        self.max_fraction, self.nan_epochs = float(cfg.nan_guard.max_fraction), int(cfg.nan_guard.epochs)
        self.streak = 0

    def __call__(self, epoch: int, steps: int, reward: float | None, length: float | None, console=None) -> None:
        guard = getattr(self.task, "nonfinite", None)
        blown = guard.take() if guard is not None else None
        print(self.progress.line(epoch, steps, reward, length, blown), file=console or sys.stdout, flush=True)
        self.streak = self.streak + 1 if blown is not None and blown.fraction > self.max_fraction else 0
        if self.streak >= self.nan_epochs:  # the learner never saw the non-finite values: the task zeroed them
            raise blew_up(self.task_name, blown, self.nan_epochs, self.save(epoch))
        if self.signals.requested:
            raise Interrupted(self.save(epoch, interrupted=True), self.signals.requested)
        if getattr(self.task, "viewer_closed", False):
            path = self.save(epoch)
            print(viewer_closed_line(epoch, path), file=console or sys.stdout, flush=True)
            raise ViewerClosed(path)


class Progress:
    """mytasks' one line per epoch, for the learners whose own console output is off: the
    epoch, the mean episode reward and length, env steps per second over the epoch, the
    elapsed time and an ETA from the epochs after the first (which also compiles)."""

    def __init__(self, max_epochs: int, first_epoch: int = 0):
        self.max_epochs, self.first_epoch = max_epochs, first_epoch
        self.start = self.last = time.perf_counter()
        self.first_end = None

    def line(self, epoch: int, steps: int, reward: float | None, length: float | None, blown=None,
             rate: float | None = None) -> str:  # fmt: skip
        """The line every learner prints (benchmarks read it); ``rate`` defaults to ``steps`` over
        the wall clock since the last line; ``blown`` (``BlowUps``) adds the envs that blew up."""
        now = time.perf_counter()
        rate, self.last = (steps / max(now - self.last, 1e-9) if rate is None else rate), now
        if self.first_end is None:
            self.first_end = now
        later = epoch - self.first_epoch - 1
        per_epoch = (now - self.first_end) / later if later > 0 else now - self.start
        eta = per_epoch * (self.max_epochs - epoch)
        shown = "reward      n/a  length    n/a" if reward is None else f"reward {reward:8.2f}  length {length:6.1f}"
        width = len(str(self.max_epochs))
        out = (f"epoch {epoch:{width}d}/{self.max_epochs}  {shown}  {rate:9,.0f} steps/s  "
               f"elapsed {_clock(now - self.start)}  ETA {_clock(eta)}")  # fmt: skip
        if blown is not None and blown.envs:
            out += f"  blown up: {blown.envs} envs ({blown.quantity})"
        return out


def blew_up(task_name: str, blown, epochs: int, saved: str) -> UserError:
    """The one line that ends a training whose envs kept blowing up (``nan_guard``)."""
    return UserError(
        f"task {task_name} blew up: {blown.quantity} (env {blown.env_index} first) in "
        f"{blown.fraction:.0%} of the envs for {epochs} epochs in a row; last good checkpoint: {saved}. "
        "Check the task's forces, gains and sim.dt, or raise nan_guard.max_fraction"
    )


def viewer_closed_line(epoch: int, path: str) -> str:
    """What training prints when the viewer closed and ``path`` was saved."""
    run = os.path.dirname(os.path.dirname(path))
    return (f"the viewer closed: training stopped after epoch {epoch}; checkpoint saved: {path} "
            f"(checkpoint={run} trains on from it)")  # fmt: skip


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"

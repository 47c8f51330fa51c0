"""Training and play with rl-games 1.6.5, corrected for what that release changed.

``train_params`` turns the composed ``train`` config into rl-games parameters: torch.compile
off unless asked, the device from ``rl_device``, CPU threads sized to the machine, minibatches
(the policy's and a central value's) that divide the batch. ``train`` runs rl-games' PPO
epochs in mytasks' loop (``loop.py``).
Checkpoints arrive loaded (``checkpoints.load``: safely, on the CPU, whichever device wrote
them). ``load_player`` restores one into rl-games' player; ``evaluate`` is the bounded,
deterministic play loop of every learner, which reports per-episode statistics.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import os
import time

import torch

from mytasks.rl import checkout_agents, checkpoints
from mytasks.rl.env import hand_over
from mytasks.utils.errors import UserError


def torch_threads(setting) -> int:
    """Threads for torch on the CPU: ``auto`` (or none) takes the rule below, a number is kept."""
    if setting not in (None, "auto"):
        return int(setting)
    cores = os.cpu_count() or 1
    # One thread is fastest (and deterministic) for small MLPs on <= 2 cores; rl-games'
    # own default of min(4, cores) stalls there.
    return 1 if cores <= 2 else min(4, cores)


def train_params(train_cfg: dict, rl_device: str) -> dict:
    """rl-games' ``params`` from the composed train config (a plain dict, modified in place)."""
    params = train_cfg["params"]
    params["torch_threads"] = torch_threads(params.get("torch_threads"))
    config = params["config"]
    config.setdefault("torch_compile", False)
    config["device"] = rl_device
    config["device_name"] = rl_device
    # Under torchrun rl-games would start its own NCCL group and move to cuda:<LOCAL_RANK>; mytasks
    # has joined the group on the device it runs on (distributed.start), and its agent takes part
    # (agent.A2CAgent._join). Every rank keeps the learning-rate schedule: it reads the ranks' mean
    # KL, so each computes the same rate (rl-games' broadcast of rank 0's then changes nothing).
    config.pop("multi_gpu", None)
    config["minibatch_size"] = fit_minibatch(
        int(config["minibatch_size"]), int(config["horizon_length"]), int(config["num_actors"])
    )
    central = config.get("central_value_config")
    if central and "minibatch_size" in central:  # the critic's own network trains on the same batch
        central["minibatch_size"] = fit_minibatch(int(central["minibatch_size"]), int(config["horizon_length"]),
                                                  int(config["num_actors"]), "central_value_config.minibatch_size")
    return params


def fit_minibatch(minibatch: int, horizon: int, num_envs: int, key: str = "minibatch_size") -> int:
    """A minibatch size that divides the batch (horizon_length x num_envs): the configured one,
    the whole batch when that is smaller, else the nearest divisor no smaller than half the
    configured size; with none, a UserError that lists the valid sizes."""
    batch = horizon * num_envs
    if batch % minibatch == 0:
        return minibatch
    about = f"the batch of {batch} (horizon_length {horizon} x {num_envs} envs)"
    if minibatch > batch:
        print(f"mytasks: {key} {minibatch} is larger than {about}; using the whole batch")
        return batch
    divisors = [d for d in range(1, batch + 1) if batch % d == 0]
    best = min((d for d in divisors if 2 * d >= minibatch), key=lambda d: (abs(d - minibatch), d))
    if best > 2 * minibatch:
        valid = ", ".join(str(d) for d in sorted(sorted(divisors, key=lambda d: abs(d - minibatch))[:4]))
        raise UserError(f"{key} {minibatch} does not divide {about}, and no divisor lies between "
                        f"{(minibatch + 1) // 2} and {2 * minibatch}; set train.params.config.{key} to one "
                        f"of the nearest ({valid}), or change num_envs")  # fmt: skip
    print(f"mytasks: {key} {minibatch} does not divide {about}; using {best}")
    return best


@contextlib.contextmanager
def quiet(verbose: bool):
    """rl-games' own start-up lines, shown only with ``verbose``."""
    if verbose:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _agent_class(algo: str):
    if algo == "a2c_continuous":
        from mytasks.rl.agent import A2CAgent

        return A2CAgent
    if algo == "a2c_discrete":
        from rl_games.algos_torch.a2c_discrete import DiscreteA2CAgent

        return DiscreteA2CAgent
    if algo == "sac":
        from rl_games.algos_torch.sac_agent import SACAgent

        return SACAgent
    if algo in checkout_agents.ALGOS:
        return checkout_agents.agent_class()
    raise UserError(f"train.params.algo.name {algo!r} is not an rl-games algorithm mytasks builds; use "
                    f"a2c_continuous, a2c_discrete or sac (or, from an IsaacGymEnvs checkout, "
                    f"{', '.join(checkout_agents.ALGOS)})")  # fmt: skip


def _player_class(algo: str):
    from rl_games.algos_torch import players

    classes = {"a2c_continuous": players.PpoPlayerContinuous, "a2c_discrete": players.PpoPlayerDiscrete,
               "sac": players.SACPlayer}  # fmt: skip
    if algo in checkout_agents.ALGOS:
        return checkout_agents.player_class()
    _agent_class(algo)  # an unknown name is the same line as in training
    return classes[algo]


class Setup:
    """What rl-games' ``Runner`` does before it builds an agent or a player, and the two builds;
    mytasks does not import ``rl_games.torch_runner``, whose first line imports torch._dynamo.

    From ``params`` (copied): the seed (a time-based one when none is given; none at all when it
    is 0, as rl-games has it) for torch, NumPy and Python; the reward shaper and the observer in
    the agent's config; torch's CPU threads; TF32 matmuls and cuDNN's autotuner, which rl-games
    turns on for the whole process. ``task``, when given, is handed to the agent (or, with
    ``player``, the player) built here (``env.hand_over``); without one the caller hands a task
    over to ``self.params["config"]`` before building."""

    def __init__(self, params: dict, observer, *, task=None, player: bool = False):
        import random

        import numpy as np
        from rl_games.algos_torch import torch_ext
        from rl_games.common import a2c_common
        from rl_games.common.algo_observer import DefaultAlgoObserver
        from rl_games.common.tr_helpers import DefaultRewardsShaper

        from mytasks.rl.summaries import Summaries

        self.params = params = copy.deepcopy(params)
        self.algo_name = params["algo"]["name"]
        seed = params.get("seed")
        seed = int(time.time()) if seed is None else seed
        if seed:
            torch.manual_seed(seed)
            torch.cuda.manual_seed_all(seed)
            np.random.seed(seed)
            random.seed(seed)
        config = params["config"]
        config["reward_shaper"] = DefaultRewardsShaper(**config["reward_shaper"])
        config.setdefault("features", {})["observer"] = observer or DefaultAlgoObserver()
        if params.get("torch_threads"):
            torch.set_num_threads(int(params["torch_threads"]))
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
        torch_ext.safe_load = checkpoints.load  # any checkpoint rl-games reads itself loads safely too
        # rl-games opens tensorboardX's threaded writer, which hangs training for ever once its
        # thread dies on a full disk; the agent writes in its own thread instead (summaries.py).
        a2c_common.SummaryWriter = Summaries
        if task is not None:
            hand_over(config, task, player)

    def create_agent(self):
        return _agent_class(self.algo_name)(base_name="run", params=self.params)

    def create_player(self):
        return _player_class(self.algo_name)(params=self.params)


def _set_sigma(model, sigma) -> None:
    """A fixed exploration std (``sigma=``), when one is given."""
    if sigma not in ("", None):
        with torch.no_grad():
            model.a2c_network.sigma.fill_(float(sigma))


def train(task, params: dict, observer, options, state: dict | None = None, sigma: str = ""):
    """Trains on ``task`` with rl-games' PPO in mytasks' loop (``loop.py``), from ``state`` (a
    loaded checkpoint) when given; returns the agent."""
    if params["algo"]["name"] in checkout_agents.ALGOS:
        checkout_agents.check(params["config"])
    with quiet(options.verbose):
        agent = Setup(params, observer, task=task).create_agent()
        if state is not None:
            with checkpoints.restoring("the checkpoint"):
                agent.restore_state(state)
        _set_sigma(agent.model, sigma)
        if params["config"].get("torch_compile"):
            agent.model = torch.compile(agent.model)
    agent.loop_options = options
    agent.train()
    return agent


def load_player(task, params: dict, state: dict, path: str, task_name: str, sigma: str = "", verbose: bool = False):
    """rl-games' player of ``task`` for ``params``, with the checkpoint ``state`` (read from ``path``) restored."""
    with quiet(verbose):
        player = Setup(params, None, task=task, player=True).create_player()
    env = player.env
    checkpoints.check_matches(state, path, task_name, env.num_obs, env.num_actions)
    with checkpoints.restoring(path):
        player.model.load_state_dict(state["model"])
        if player.normalize_input and "running_mean_std" in state:
            player.model.running_mean_std.load_state_dict(state["running_mean_std"])
    _set_sigma(player.model, sigma)
    player.has_batch_dimension = True
    return player


def _play_step(env, policy, obs, ret, length, returns: list, lengths: list, extra: dict, episodes_ended):
    """One step of play: the episodes that ended are added to ``returns``, ``lengths`` and
    ``extra`` (those a blow-up ended only counted); returns the next observation, that count
    and whether the viewer closed."""
    obs_dict, rew, done, _ = env.step(policy(obs))
    if getattr(env, "viewer_closed", False):
        return obs, 0, True
    ret += rew
    length += 1.0
    ended, blown_up = done != 0, 0
    blown = getattr(env, "nonfinite_buf", None)
    if blown is not None and bool(blown.any()):  # ended by a blow-up: counted apart, as training counts them
        blown = blown.to(ended.device)
        blown_up = int((ended & blown).sum())
        ended = ended & ~blown
    ids = ended.nonzero(as_tuple=False).flatten()
    if len(ids):
        if episodes_ended is not None:
            episodes_ended(ids)
        returns += ret[ids].tolist()
        lengths += length[ids].tolist()
        for k, v in (env.play_metrics(ids) if hasattr(env, "play_metrics") else {}).items():
            extra.setdefault(k, []).extend(v)
    ids = (done != 0).nonzero(as_tuple=False).flatten()
    ret[ids] = 0.0
    length[ids] = 0.0
    return obs_dict["obs"], blown_up, False


def _blow_up_line(guard, blown_up: int, total: int) -> str:
    seen = guard.take() if guard is not None else None
    what = f"{seen.quantity}, env {seen.env_index} first" if seen is not None and seen.envs else "blown up"
    return f"{blown_up} of {total} episodes ended in a blow-up ({what})"


@torch.no_grad()
def evaluate(env, policy, episodes: int | None, episodes_ended=None, max_blown: float = 1.0) -> dict:
    """Steps ``env`` with ``policy`` until ``episodes`` episodes ended (bounded in steps too) or
    its viewer closed; with ``episodes=None`` until the viewer closes or Ctrl-C.
    ``episodes_ended(env_ids)`` is called after each step in which some episodes ended (a
    recurrent policy clears their state).

    Every env resets on the first step (``reset_buf`` starts at ones), so returns and lengths
    count from the first step. Episodes that a blow-up ended (non-finite or absurd values, which the task
    zeroes and ends: ``nonfinite_buf``) are counted apart and left out of the averages; when more
    than ``max_blown`` of them (or all) blew up, play ends with one line. Tasks may add their own
    per-episode metrics through ``env.play_metrics(done_env_ids)`` (a dict of lists), named in
    print by ``env.play_metric_labels`` (a dict of strings).
    """
    n = env.num_envs
    dev = env.rl_device
    ret = torch.zeros(n, device=dev)
    length = torch.zeros(n, device=dev)
    returns, lengths, extra, blown_up = [], [], {}, 0
    guard = getattr(env, "nonfinite", None)
    if guard is not None:
        guard.take()  # counts from here
    obs = env.reset()["obs"]
    max_steps = math.inf if episodes is None else (math.ceil(episodes / n) + 1) * int(env.max_episode_length) + 1
    t0 = time.time()
    steps, stopped = 0, False
    while steps < max_steps:
        steps += 1
        try:  # Ctrl-C ends a watched play wherever in the step it lands
            obs, blown_now, viewer_closed = _play_step(env, policy, obs, ret, length, returns, lengths, extra,
                                                      episodes_ended)  # fmt: skip
        except KeyboardInterrupt:
            if episodes is not None:
                raise
            print("\ninterrupted", flush=True)
            stopped = True
            break
        blown_up += blown_now
        if viewer_closed:
            stopped = True
            break
        if episodes is not None and len(returns) + blown_up >= episodes:
            break
    where = _blow_up_line(guard, blown_up, len(returns) + blown_up) if blown_up else ""
    too_many = blown_up and blown_up / (len(returns) + blown_up) > max_blown
    if blown_up and (not returns or too_many):
        beyond = f", more than nan_guard.max_fraction {max_blown:g}" if returns else ""
        raise UserError(f"play blew up: {where}{beyond}. Check the checkpoint against the task (its forces, gains "
                        "and sim.dt)")  # fmt: skip
    if not returns and stopped:
        print(f"play ended after {steps} steps, before any episode ended")
        return {"episodes": 0, "seconds": time.time() - t0}
    if not returns:
        raise UserError("no episode ended during play; raise the episode count or check the task")
    r = torch.tensor(returns)
    stats = {
        "episodes": len(returns),
        "blown_up": blown_up,
        "mean_return": float(r.mean()),
        "std_return": float(r.std()) if len(returns) > 1 else 0.0,
        "mean_length": float(torch.tensor(lengths).mean()),
        "seconds": time.time() - t0,
    }
    stats.update({k: float(torch.tensor(v, dtype=torch.float).mean()) for k, v in extra.items()})
    print(f"played {stats['episodes']} episodes in {stats['seconds']:.1f} s: "
          f"average reward {stats['mean_return']:.2f} (std {stats['std_return']:.2f}), "
          f"average length {stats['mean_length']:.1f} steps")  # fmt: skip
    if blown_up:
        print(f"  {where} (left out of the averages above)")
    labels = getattr(env, "play_metric_labels", {})
    for k in extra:
        print(f"  {labels.get(k, k)} ({k}): {stats[k]:.4f}")
    return stats

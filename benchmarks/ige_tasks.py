"""Upstream IsaacGymEnvs tasks, unmodified, trained with their own YAML defaults and played.

For each task: ``python train.py task=<T> ige_root=<checkout> headless=True [--train-args]`` as
a user would (wall clock from the command, the reward curve from the epoch lines), then the
run's checkpoint is played on ``--play-envs`` envs for ``--play-seconds`` of simulated time,
measuring the behaviour IsaacGymEnvs documents for the task:

    Cartpole      mean episode length (500 = balanced to the time limit)
    Ant/Humanoid  mean forward speed of the torso along +x (the target direction) [m/s]
    BallBalance   share of envs whose first episode kept the ball on the tray to the time limit
    Quadcopter    mean distance to the target (0, 0, 1) over the second half of play [m]
    Anymal        mean planar velocity tracking error |cmd_xy - v_xy| (base frame) [m/s]
    FrankaCabinet over each env's first episode: the drawer's widest opening [m], and the share
                  of episodes that opened it past 0.39 m (upstream's success, which ends one)

    python benchmarks/ige_tasks.py --ige-root ../shared/ige-upstream --tasks Cartpole Ant --out results.json

Shares are over each env's first episode (every env starts one at the first step): counting
every episode that ends in the window would over-count the short, failed ones. ``--baseline``
plays zero actions instead of a policy, the figure a trained policy must beat.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.common import ROOT, TRAIN, run  # noqa: E402

OPENED = 0.39  # m: FrankaCabinet ends an episode, a success, once its drawer is open this far


def train(task: str, ige_root: str, extra: list[str], seconds: float | None = None, echo: bool = False) -> dict:
    """Trains as a user would; with ``seconds``, stops it then as Ctrl-C does (train.py saves a
    checkpoint and exits), for a training cut short on purpose; ``echo`` prints its output."""
    cmd = [*TRAIN, f"task={task}", f"ige_root={ige_root}", "headless=True", f"experiment=ige_{task}", *extra]
    r = run(cmd, seconds=seconds, echo=echo)
    run_dir = r.run_dir()
    if not r.ok or run_dir is None:
        return {"task": task, "error": r.tail(), "returncode": r.returncode}
    curve = [(epoch, round(t, 1), reward) for t, epoch, reward, _ in r.epochs() if reward is not None]
    sampled = curve[:: max(1, len(curve) // 25)] + curve[-1:]
    return {
        "task": task,
        "run_dir": run_dir,
        "wall_s": round(r.wall, 1),
        "curve": sampled,
        "final_reward": curve[-1][2] if curve else None,
        "steps_per_s": r.steps_per_s(),
        "epochs": curve[-1][0] if curve else 0,
        "stopped_at_s": seconds if r.stopped else None,
    }


def behaviour(task: str, env, steps: int, policy) -> dict:
    import torch

    from mytasks.utils.torch_jit_utils import quat_rotate_inverse

    n = env.num_envs
    obs = env.reset()["obs"]
    acc, count, ended, lengths = 0.0, 0, 0, []
    length = torch.zeros(n, device=env.device)
    first = torch.full((n,), -1.0, device=env.device)  # length of each env's first episode
    widest = torch.zeros(n, device=env.device)  # FrankaCabinet: the drawer's widest opening in it
    for step in range(steps):
        with torch.no_grad():
            obs_dict, _, done, _ = env.step(policy(obs))
        obs = obs_dict["obs"]
        if task == "FrankaCabinet":  # the step that ends an episode still shows its last state
            widest = torch.where(first < 0, torch.maximum(widest, env.cabinet_dof_pos[:, 3]), widest)
        length += 1
        ids = (done != 0).nonzero(as_tuple=False).flatten()
        if len(ids):
            lengths += length[ids].tolist()
            ended += len(ids)
            first[ids] = torch.where(first[ids] < 0, length[ids], first[ids])
            length[ids] = 0
        if task in ("Ant", "Humanoid"):
            acc += float(env.root_states[:, 7].mean()) if env.root_states.dim() == 2 else 0.0
            count += 1
        elif task == "Quadcopter" and step >= steps // 2:
            target = torch.tensor([0.0, 0.0, 1.0], device=env.device)
            acc += float((env.root_positions - target).norm(dim=-1).mean())
            count += 1
        elif task == "Anymal" and step >= 50:
            v = quat_rotate_inverse(env.root_states[:, 3:7], env.root_states[:, 7:10])[:, 0:2]
            acc += float((env.commands[:, 0:2] - v).norm(dim=-1).mean())
            count += 1
    done_first = first[first >= 0]
    out = {"play_envs": n, "play_steps": steps, "episodes_ended": ended,
           "first_episodes_ended": len(done_first),
           "first_episode_mean_length": float(done_first.mean()) if len(done_first) else None}  # fmt: skip
    if task == "Cartpole":
        out["mean_episode_length"] = sum(lengths) / len(lengths) if lengths else float(steps)
    elif task in ("Ant", "Humanoid"):
        out["forward_speed_mps"] = acc / max(count, 1)
    elif task == "BallBalance":
        full = done_first >= env.max_episode_length - 1
        out["ball_kept_share"] = float(full.float().mean()) if len(done_first) else None
    elif task == "Quadcopter":
        out["distance_to_target_m"] = acc / max(count, 1)
    elif task == "Anymal":
        out["tracking_error_mps"] = acc / max(count, 1)
    elif task == "FrankaCabinet":
        out["drawer_widest_opening_m"] = float(widest.mean())
        out["drawer_opened_share"] = float((widest > OPENED).float().mean())
    return out


def play(task: str, ige_root: str, run_dir: str | None, envs: int, seconds: float, extra: tuple = ()) -> dict:
    """Plays the run's checkpoint; with ``run_dir`` None, zero actions (the baseline)."""
    import torch
    from omegaconf import OmegaConf

    from mytasks.cli import config_dirs
    from mytasks.rl import checkpoints, runner
    from mytasks.tasks import compose_config as compose
    from mytasks.tasks import make_task
    from mytasks.utils.config import resolved
    from mytasks.utils.run_config import load_config

    common = [f"task={task}", f"ige_root={ige_root}", f"num_envs={envs}", "headless=True", *extra]
    if run_dir is None:
        res = resolved(compose(common))
        env = make_task(res, headless=True)
        policy = lambda obs: torch.zeros((obs.shape[0], env.num_actions), device=obs.device)  # noqa: E731
    else:
        res = resolved(load_config([*common, "test=True", f"checkpoint={run_dir}"], config_dirs))
        params = runner.train_params(OmegaConf.to_container(res.train, resolve=True), res.rl_device)
        path = checkpoints.resolve(run_dir, res.train.params.config.name, last=False)
        state = checkpoints.load(path, trust=False)
        env = make_task(res, headless=True)
        player = runner.load_player(env, params, state, path, res.task.name)
        policy = lambda obs: player.get_action(obs, is_deterministic=True)  # noqa: E731
    steps = int(seconds / (env.dt if hasattr(env, "dt") else res.task.sim.dt))
    return behaviour(task, env, steps, policy)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ige-root", required=True)
    ap.add_argument("--tasks", nargs="+", default=["Cartpole", "Ant", "Humanoid", "Anymal", "BallBalance",
                                                   "Quadcopter", "FrankaCabinet"])  # fmt: skip
    ap.add_argument("--train-args", nargs="*", default=[], help="extra train.py overrides for every task")
    ap.add_argument("--task-args", nargs="*", default=[], help="Task:key=value overrides for one task")
    ap.add_argument("--train-seconds", type=float, default=None,
                    help="stop each training after this many seconds from the command (as Ctrl-C does)")
    ap.add_argument("--echo", action="store_true", help="print train.py's output as it comes")
    ap.add_argument("--play-envs", type=int, default=1024)
    ap.add_argument("--play-seconds", type=float, default=10.0)
    ap.add_argument("--play-args", nargs="*", default=[], help="extra overrides for play (e.g. sim_device=cpu)")
    ap.add_argument("--play-only", nargs="*", default=[], help="Task=run_dir: play an existing run")
    ap.add_argument("--baseline", action="store_true", help="play zero actions, no training")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    root = os.path.abspath(args.ige_root)
    runs = dict(a.split("=", 1) for a in args.play_only)
    results = []
    for task in args.tasks:
        extra = args.train_args + [a.split(":", 1)[1] for a in args.task_args if a.split(":", 1)[0] == task]
        if args.baseline:
            r = {"task": task, "run_dir": None, "baseline": "zero actions"}
        elif task in runs:
            r = {"task": task, "run_dir": runs[task]}
        else:
            r = train(task, root, extra, args.train_seconds, args.echo)
        r["train_args"] = extra
        r["play_args"] = list(args.play_args)
        if "error" not in r:
            # Play in a fresh process: the engine's kernels are per process anyway.
            where = (task, root, r["run_dir"], args.play_envs, args.play_seconds, tuple(args.play_args))
            call = f"play(*{where!r})"
            code = f"import json,sys; sys.path.insert(0, {ROOT!r}); from benchmarks.ige_tasks import play; "
            code += f"print('RESULT', json.dumps({call}))"
            p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
            line = next((x for x in p.stdout.splitlines() if x.startswith("RESULT ")), None)
            r["play"] = json.loads(line[7:]) if line else {"error": (p.stdout + p.stderr)[-1500:]}
        results.append(r)
        print(json.dumps(r), flush=True)
        if args.out:
            with open(args.out, "w") as f:
                json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()

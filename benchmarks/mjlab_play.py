"""Plays an mjlab velocity checkpoint and measures it as mytasks' play measures a legged policy:
per episode the mean planar velocity tracking error (|command_xy - base velocity_xy| in the
base frame), the mean yaw-rate error, whether it ended in a fall; then the means over episodes.

Runs with mjlab's own Python path (it pins another MuJoCo), started by ``vs_mjlab.py``:

    PYTHONPATH=<mjlab site>:<stubs> MUJOCO_GL=disable python benchmarks/mjlab_play.py \\
        Mjlab-Velocity-Flat-Unitree-G1 <log dir or model_*.pt> --num-envs 1024

Each env plays one episode of 20 s (mytasks' G1 episode) from mjlab's play configuration
(no observation noise, no pushes, no curriculum), with commands drawn from the task's training
ranges rather than its wider play ranges, as mytasks' play draws them; episodes that time out
count as kept, any other termination as a fall. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
from dataclasses import asdict


def latest_checkpoint(path: str) -> str:
    if os.path.isfile(path):
        return path
    found = glob.glob(os.path.join(path, "**", "model_*.pt"), recursive=True)
    if not found:
        raise SystemExit(f"error: no model_*.pt under {path}")
    return max(found, key=lambda p: int(re.search(r"model_(\d+)\.pt$", p).group(1)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("task")
    ap.add_argument("checkpoint", help="a model_*.pt, or a folder whose latest model_*.pt is played")
    ap.add_argument("--num-envs", type=int, default=1024)
    ap.add_argument("--seconds", type=float, default=20.0, help="episode length")
    ap.add_argument("--device", default=None)
    args = ap.parse_args()

    import torch
    from mjlab.envs import ManagerBasedRlEnv
    from mjlab.rl import MjlabOnPolicyRunner, RslRlVecEnvWrapper
    from mjlab.tasks.registry import load_env_cfg, load_rl_cfg, load_runner_cls

    device = args.device or ("cuda:0" if torch.cuda.is_available() else "cpu")
    checkpoint = latest_checkpoint(args.checkpoint)
    cfg = load_env_cfg(args.task, play=True)
    cfg.commands["twist"].ranges = load_env_cfg(args.task).commands["twist"].ranges  # the training ranges
    cfg.scene.num_envs = args.num_envs
    cfg.episode_length_s = args.seconds
    agent_cfg = load_rl_cfg(args.task)
    env = RslRlVecEnvWrapper(ManagerBasedRlEnv(cfg=cfg, device=device), clip_actions=agent_cfg.clip_actions)
    runner = (load_runner_cls(args.task) or MjlabOnPolicyRunner)(env, asdict(agent_cfg), device=device)
    runner.load(checkpoint, load_cfg={"actor": True}, strict=True, map_location=device)
    policy = runner.get_inference_policy(device=device)

    base = env.unwrapped
    robot, twist = base.scene["robot"], base.command_manager.get_term("twist")
    n = args.num_envs
    lin, yaw, steps = (torch.zeros(n, device=device) for _ in range(3))
    running = torch.ones(n, dtype=torch.bool, device=device)  # still in its first episode
    fell = torch.zeros(n, dtype=torch.bool, device=device)
    obs = env.get_observations()
    with torch.inference_mode():
        while running.any():
            obs, _, dones, extras = env.step(policy(obs))
            ended = dones.bool() & running
            fell |= ended & ~extras["time_outs"].bool()
            running &= ~ended
            cmd = twist.command
            live = running.float()
            lin += live * torch.norm(cmd[:, :2] - robot.data.root_link_lin_vel_b[:, :2], dim=1)
            yaw += live * (cmd[:, 2] - robot.data.root_link_ang_vel_b[:, 2]).abs()
            steps += live
    steps = steps.clamp(min=1.0)
    print(json.dumps({
        "checkpoint": checkpoint,
        "episodes": n,
        "lin_vel_error": round(float((lin / steps).mean()), 4),
        "yaw_rate_error": round(float((yaw / steps).mean()), 4),
        "fall": round(float(fell.float().mean()), 4),
    }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()

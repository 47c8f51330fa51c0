"""The exported policy's figures: ONNX and TorchScript latency at batch 1 on the CPU, and
velocity tracking of the same ONNX policy in plain MuJoCo (sim2sim) and in Newton.

Newton: 8 envs, the command fixed from the first step (``headingCommand`` off, no zeroing of
slow commands, no observation noise, every env started at the default pose at rest), means of
the base-frame velocities over seconds 2-6. MuJoCo: ``mytasks.deploy.sim2sim.run`` (the
command ramps up over the first second; means over seconds 2-10).

    python train.py task=Go2 test=True checkpoint=assets/checkpoints/Go2.pth export=True play_episodes=0 \\
        sim_device=cpu rl_device=cpu pipeline=cpu viewer=none
    python benchmarks/deploy_figures.py runs/exported/Go2_Go2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
COMMANDS = [(0.5, 0.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.3, 0.0), (0.0, 0.0, 0.5), (1.0, 0.0, 0.0)]


def latency(export_dir: str, repeats: int = 5000) -> dict:
    import numpy as np
    import onnxruntime
    import torch

    onnx = onnxruntime.InferenceSession(os.path.join(export_dir, "policy.onnx"), providers=["CPUExecutionProvider"])
    script = torch.jit.load(os.path.join(export_dir, "policy.pt"))
    obs = np.random.default_rng(0).standard_normal((1, onnx.get_inputs()[0].shape[1])).astype(np.float32)
    out = {}
    for name, fn in (("onnxruntime", lambda: onnx.run(None, {"obs": obs})),
                     ("torchscript", lambda: script(torch.from_numpy(obs)))):  # fmt: skip
        with torch.no_grad():
            for _ in range(200):
                fn()
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
        times.sort()
        median, p99 = times[len(times) // 2], times[int(0.99 * len(times))]
        out[name] = {"median_us": round(1e6 * median, 1), "p99_us": round(1e6 * p99, 1)}
    return out


def newton_tracking(export_dir: str, command) -> dict:
    import numpy as np
    import onnxruntime
    import torch

    from mytasks.tasks import make_task
    from mytasks.utils.config import compose

    vx, vy, yaw = command
    r = "task.env.commands.ranges"
    cfg = compose(["task=Go2", "num_envs=8", "sim_device=cpu", "rl_device=cpu", "pipeline=cpu", "headless=True",
                   f"{r}.linVelX=[{vx},{vx}]", f"{r}.linVelY=[{vy},{vy}]", f"{r}.angVelYaw=[{yaw},{yaw}]",
                   "task.env.commands.headingCommand=False", "task.env.commands.zeroBelow=0.0",
                   "task.env.noise.addNoise=False", "task.env.reset.dofPosScale=[1.0,1.0]",
                   "task.env.reset.rootVelocity=0.0", "task.env.randomization.pushRobots=False"])  # fmt: skip
    task = make_task(cfg)
    policy = onnxruntime.InferenceSession(os.path.join(export_dir, "policy.onnx"), providers=["CPUExecutionProvider"])
    obs = task.step(torch.zeros(8, 12))[0]["obs"]
    speeds, fell = [], 0
    for i in range(300):
        obs = task.step(torch.from_numpy(policy.run(None, {"obs": obs.numpy()})[0]))[0]["obs"]
        fell += int(task.terminated.sum())
        if i >= 100:
            speeds.append(torch.cat([task.base_lin_vel[:, :2], task.base_ang_vel[:, 2:3]], 1).mean(0).numpy())
    task.close()
    v = np.mean(speeds, 0)
    return {"mean_vx": round(float(v[0]), 3), "mean_vy": round(float(v[1]), 3), "mean_yaw_rate": round(float(v[2]), 3),
            "falls": fell}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("export_dir")
    args = ap.parse_args()
    from mytasks.deploy.sim2sim import run

    print(json.dumps({"latency_batch_1": latency(args.export_dir)}))
    for command in COMMANDS:
        mujoco = run(args.export_dir, command, 10.0)
        mujoco = {k: round(float(v), 3) for k, v in mujoco.items()}
        print(json.dumps({"command": command, "mujoco": mujoco, "newton": newton_tracking(args.export_dir, command)}))


if __name__ == "__main__":
    main()

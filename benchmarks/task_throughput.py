"""Policy steps per second of a task without learning: physics alone, and the whole env step.

physics: the task's position targets or efforts written once, then ``controlFrequencyInv``
``simulate`` calls (what one policy step costs the engine). env step: ``task.step(actions)``
with random actions, i.e. physics plus the task's own tensor work (refresh, rewards,
resets, observations). Median of 5 repeats after a warm-up; GPU memory in use on the device
after the env steps (nvidia-smi's view, which includes Warp's and torch's pools).

    python benchmarks/task_throughput.py --task Go2 --device cuda:0 --num-envs 4096 8192
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402


def make_task(name: str, num_envs: int, device: str):
    from mytasks.tasks import make_task
    from mytasks.utils.config import compose

    pipeline = "gpu" if device.startswith("cuda") else "cpu"
    cfg = compose([f"task={name}", f"num_envs={num_envs}", f"sim_device={device}", f"rl_device={device}",
                   f"pipeline={pipeline}", "headless=True"])  # fmt: skip
    return make_task(cfg)


def timed(fn, steps: int, num_envs: int, sync) -> float:
    rates = []
    for _ in range(5):
        sync()
        t = time.perf_counter()
        for _ in range(steps):
            fn()
        sync()
        rates.append(num_envs * steps / (time.perf_counter() - t))
    return sorted(rates)[2]


def measure(name: str, num_envs: int, device: str, steps: int) -> dict:
    t0 = time.time()
    task = make_task(name, num_envs, device)
    build_s = time.time() - t0
    cuda = device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    actions = torch.zeros(num_envs, task.num_actions, device=task.rl_device)

    def env_step():
        actions.uniform_(-1.0, 1.0)
        task.step(actions)

    def physics():
        for _ in range(task.control_freq_inv):
            task.gym.simulate(task.sim)

    for _ in range(30):  # warm-up: kernel loads, graph capture, first resets
        env_step()
    physics_rate = timed(physics, steps, num_envs, sync)
    step_rate = timed(env_step, steps, num_envs, sync)
    used_mib = None
    if cuda:
        free, total = torch.cuda.mem_get_info()
        used_mib = (total - free) // 2**20
    return {"task": name, "num_envs": num_envs, "device": device, "physics_steps_per_s": physics_rate,
            "env_steps_per_s": step_rate, "gpu_memory_used_mib": used_mib, "build_s": build_s}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="Go2")
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--num-envs", type=int, nargs="+", default=[4096])
    ap.add_argument("--steps", type=int, default=100, help="policy steps per timed repeat")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    results = [measure(args.task, n, args.device, args.steps) for n in args.num_envs]
    machine = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"| task | envs | physics policy steps/s | env steps/s | GPU memory MiB | build s |   ({machine})")
    for r in results:
        print(f"| {r['task']} | {r['num_envs']} | {r['physics_steps_per_s']:,.0f} | {r['env_steps_per_s']:,.0f} | "
              f"{r['gpu_memory_used_mib']} | {r['build_s']:.1f} |")  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()

"""Env steps per second of the sim layer alone (no policy, no PPO), Cartpole scene.

One env step = write the cart forces, ``simulate`` (dt 1/60 s, 2 substeps, as in Cartpole.yaml),
refresh the DOF state tensor: what a task does per policy step, minus its own tensor math.

    python benchmarks/sim_throughput.py --device cpu --num-envs 512 4096
    python benchmarks/sim_throughput.py --device cuda:0 --num-envs 512 16384
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from mytasks.sim import gymapi, gymtorch  # noqa: E402
from mytasks.utils.paths import ASSETS_DIR  # noqa: E402


def build(num_envs: int, device: str):
    gym = gymapi.acquire_gym()
    sp = gymapi.SimParams()
    sp.dt, sp.substeps = 1 / 60, 2
    sp.use_gpu_pipeline = device.startswith("cuda")
    sp.newton.iterations, sp.newton.ls_iterations, sp.newton.nconmax, sp.newton.njmax = 10, 10, 4, 8
    compute = int(device.partition(":")[2] or 0) if sp.use_gpu_pipeline else -1
    sim = gym.create_sim(compute, -1, gymapi.SIM_NEWTON, sp)
    gym.add_ground(sim, gymapi.PlaneParams())
    opts = gymapi.AssetOptions()
    opts.fix_base_link = True
    asset = gym.load_asset(sim, ASSETS_DIR, "urdf/cartpole.urdf", opts)
    for _ in range(num_envs):
        env = gym.create_env(sim, gymapi.Vec3(-4, -4, 0), gymapi.Vec3(4, 4, 4), 64)
        h = gym.create_actor(env, asset, gymapi.Transform(gymapi.Vec3(0, 0, 2)), "cartpole", 0, 1, 0)
        props = gym.get_actor_dof_properties(env, h)
        props["driveMode"][0], props["driveMode"][1] = gymapi.DOF_MODE_EFFORT, gymapi.DOF_MODE_NONE
        gym.set_actor_dof_properties(env, h, props)
    gym.prepare_sim(sim)
    return gym, sim


def measure(num_envs: int, device: str, steps: int) -> dict:
    t0 = time.time()
    gym, sim = build(num_envs, device)
    build_s = time.time() - t0
    dof = gymtorch.wrap_tensor(gym.acquire_dof_state_tensor(sim))
    forces = torch.zeros(dof.shape[0], device=dof.device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def one_step():
        forces[0::2] = 400.0 * (2 * torch.rand(num_envs, device=dof.device) - 1)
        gym.set_dof_actuation_force_tensor(sim, gymtorch.unwrap_tensor(forces))
        gym.simulate(sim)
        gym.refresh_dof_state_tensor(sim)

    for _ in range(20):  # warm-up: kernel loads and graph capture
        one_step()
    sync()
    rates = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(steps):
            one_step()
        sync()
        rates.append(num_envs * steps / (time.perf_counter() - t))
    rates.sort()
    gym.destroy_sim(sim)
    return {"num_envs": num_envs, "device": device, "env_steps_per_s": rates[len(rates) // 2], "build_s": build_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--num-envs", type=int, nargs="+", default=[512])
    ap.add_argument("--steps", type=int, default=200, help="policy steps per timed repeat (5 repeats, median)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    machine = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    results = [measure(n, args.device, args.steps) for n in args.num_envs]
    print(f"| envs | device | env steps/s | build s |   ({machine}, {os.cpu_count()} cores)")
    for r in results:
        print(f"| {r['num_envs']} | {r['device']} | {r['env_steps_per_s']:,.0f} | {r['build_s']:.1f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()

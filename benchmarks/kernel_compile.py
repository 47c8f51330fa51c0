"""Where a cold start's compile time goes: builds a task on a device with an empty Warp kernel
cache (CUDA's own compute cache off), steps it three times, and prints each Warp module that
was compiled, with its block size and seconds, then the wall-clock total.

    python benchmarks/kernel_compile.py --task Go2 --device cuda:0
    python benchmarks/kernel_compile.py --task Cartpole --device cpu --num-envs 64 --variants serial background

``serial`` leaves every module to its first launch (no compiling beside the scene building),
``background`` is what train.py does. Each variant runs in a process of its own with a fresh
cache.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINE = re.compile(
    r"Module (\S+) (?:[0-9a-f]+ )?load on device '([^']+)'(?: \(block_dim=(\d+)\))? "
    r"took ([0-9.]+) ms +\((\w+)\)"
)


def build_and_step(task: str, device: str, num_envs: int, serial: bool) -> None:
    sys.path.insert(0, ROOT)
    import torch
    import warp as wp

    from mytasks.sim import select_backend
    from mytasks.sim.newton_backend import runtime
    from mytasks.tasks import make_task
    from mytasks.utils.config import compose, resolved

    runtime.init_warp()
    wp.config.log_level = wp.LOG_INFO
    if serial:
        runtime._compile = lambda device: None  # nothing compiled beside the build
    pipeline = "cpu" if device == "cpu" else "gpu"
    cfg = resolved(compose([f"task={task}", f"num_envs={num_envs}", f"sim_device={device}", f"rl_device={device}",
                            f"pipeline={pipeline}", "headless=True"]))  # fmt: skip
    select_backend(cfg.physics_engine)
    start = time.perf_counter()
    env = make_task(cfg)
    built = time.perf_counter() - start
    actions = torch.zeros((env.num_envs, env.num_actions), device=env.rl_device)
    env.reset()
    for _ in range(3):
        env.step(actions)
    wp.synchronize()
    print(json.dumps({"build_s": built, "build_and_steps_s": time.perf_counter() - start}))


def variant(task: str, device: str, num_envs: int, serial: bool) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, WARP_CACHE_PATH=cache, CUDA_CACHE_DISABLE="1")
        cmd = [sys.executable, __file__, "--task", task, "--device", device, "--num-envs", str(num_envs), "--child",
               *(["--serial"] if serial else [])]  # fmt: skip
        start = time.perf_counter()
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
    text = out.stdout + out.stderr
    if out.returncode != 0:
        raise SystemExit(f"failed:\n{text[-3000:]}")
    modules = [(m[1], int(m[3] or 0), float(m[4]) / 1000.0) for m in LINE.finditer(text) if m[5] == "compiled"]
    result = json.loads([line for line in text.splitlines() if line.startswith("{")][-1])
    result.update(wall_s=wall, compiled=len(modules), compile_s=sum(s for *_, s in modules), serial=serial,
                  modules=sorted(modules, key=lambda m: -m[2]))  # fmt: skip
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="Go2")
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--num-envs", type=int, default=4096)
    ap.add_argument("--serial", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--variants", nargs="*", default=["background"], choices=("serial", "background"))
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        build_and_step(args.task, args.device, args.num_envs, args.serial)
        return
    rows = []
    for how in args.variants:
        r = variant(args.task, args.device, args.num_envs, how == "serial")
        rows.append(r)
        print(f"\n{args.task} on {args.device}, {how}: "
              f"build {r['build_s']:.1f} s, build + 3 steps {r['build_and_steps_s']:.1f} s, "
              f"process {r['wall_s']:.1f} s; "
              f"{r['compiled']} modules compiled, {r['compile_s']:.1f} s summed over threads", flush=True)  # fmt: skip
        for name, dim, s in r["modules"][: args.top]:
            print(f"  {s:6.2f} s  {name[:70]}{f' (block_dim {dim})' if dim else ''}")
    print(json.dumps([{k: v for k, v in r.items() if k != "modules"} for r in rows]))


if __name__ == "__main__":
    main()

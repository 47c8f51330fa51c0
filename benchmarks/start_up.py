"""Seconds from ``python train.py task=<T> headless=True`` to its first epoch line, cold (an
empty Warp kernel cache, and CUDA's compute cache off) and warm (the cache that cold run left).

    python benchmarks/start_up.py --task Go2 --warm 2            # on a GPU: 4096 envs
    python benchmarks/start_up.py --task Cartpole --warm 3 --train-args sim_device=cpu
    python benchmarks/start_up.py --task Go2 --warm 3 --no-cold   # warm runs on the cache there is

Prints one line per run and a JSON summary (medians) last; ``--root`` runs another checkout's
train.py (an earlier commit, for a before/after on one machine).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def first_epoch(root: str, task: str, args: list[str], env: dict) -> tuple[float, float]:
    """(seconds to the first epoch line, seconds to the end) of one run of 3 epochs."""
    cmd = [sys.executable, os.path.join(root, "train.py"), f"task={task}", "headless=True", "max_iterations=3", *args]
    with tempfile.TemporaryDirectory() as cwd:
        start = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        first, tail = None, []
        for line in p.stdout:
            tail = (tail + [line])[-20:]
            if first is None and line.startswith("epoch "):
                first = time.perf_counter() - start
        p.wait()
        end = time.perf_counter() - start
    if p.returncode != 0 or first is None:
        raise SystemExit(f"train.py failed ({p.returncode}):\n{''.join(tail)}")
    return first, end


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="Go2")
    ap.add_argument("--root", default=ROOT, help="the checkout whose train.py runs")
    ap.add_argument("--warm", type=int, default=2, help="warm runs after the cold one")
    ap.add_argument("--train-args", nargs="*", default=[])
    ap.add_argument("--no-cold", action="store_true", help="warm runs only, on the kernel cache there is")
    args = ap.parse_args()
    cold = None
    # the cold run's own empty kernel cache (warm runs then reuse it), or with --no-cold the one there is
    with contextlib.nullcontext(None) if args.no_cold else tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, PYTHONUNBUFFERED="1", **({"WARP_CACHE_PATH": cache} if cache else {}))
        if cache:
            cold = first_epoch(args.root, args.task, args.train_args, dict(env, CUDA_CACHE_DISABLE="1"))
            print(f"cold: first epoch {cold[0]:.1f} s, end {cold[1]:.1f} s", flush=True)
        warm = []
        for _ in range(args.warm):
            warm.append(first_epoch(args.root, args.task, args.train_args, env))
            print(f"warm: first epoch {warm[-1][0]:.1f} s, end {warm[-1][1]:.1f} s", flush=True)
    summary = {"task": args.task, "root": args.root, "train_args": args.train_args,
               "cold_first_epoch_s": cold[0] if cold else None,
               "warm_first_epoch_s": statistics.median(w[0] for w in warm) if warm else None}  # fmt: skip
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

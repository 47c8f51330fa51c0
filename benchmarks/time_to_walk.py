"""Wall clock from ``python train.py task=<T> headless=True`` to a policy that walks (``--task``:
Go2, G1, H1, any legged task).

Runs training as a user would (a subprocess, cold or warm kernel cache as found), reads when
each checkpoint was written (its file's time), then plays chosen checkpoints on many envs
(from the run directory, so with the run's own config recomposed for play) and prints, per
checkpoint: the epoch, seconds since the command started, the planar velocity tracking error,
the yaw-rate error, the fraction of episodes that ended in a fall, and the average return.
GPU memory in use (nvidia-smi) is sampled once a second during training, and the training
throughput is the epoch line's steps/s (env steps per second, PPO update included: rl-games'
``fps total``), the median over the epochs after the fifth.

    python benchmarks/time_to_walk.py --train-args max_iterations=600 --play-epochs 200 300 400 600
    python benchmarks/time_to_walk.py --task G1 --play-epochs 500 1000 1500
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = [sys.executable, "-u", os.path.join(ROOT, "train.py")]


def sample_gpu_memory(stop: threading.Event, out: list) -> None:
    if shutil.which("nvidia-smi") is None:
        return
    while not stop.is_set():
        r = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                           capture_output=True, text=True)  # fmt: skip
        if r.returncode == 0 and r.stdout.strip():
            out.append(int(r.stdout.split()[0]))
        stop.wait(1.0)


def train(args, log_path: str) -> tuple[str, float, dict, list, list]:
    """Runs training; returns the run directory, the wall clock, {epoch: (seconds, path)} of each
    checkpoint, the GPU memory samples [MiB] and each epoch's env steps/s."""
    cmd = [*TRAIN, f"task={args.task}", "headless=True", *args.train_args]
    print("$", " ".join(cmd[2:]), flush=True)
    mem, stop = [], threading.Event()
    sampler = threading.Thread(target=sample_gpu_memory, args=(stop, mem), daemon=True)
    sampler.start()
    t0 = time.time()
    run_dir, seen, fps = None, {}, []
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=args.cwd)
        for line in iter(proc.stdout.readline, ""):
            now = time.time() - t0
            log.write(f"{now:8.2f} {line}")
            m = re.match(r"run directory: (\S+)", line)
            if m:
                run_dir = os.path.join(args.cwd, m.group(1))
            m = re.match(r"epoch +\d+/\d+ .* ([\d,]+) steps/s", line)
            if m:
                fps.append(float(m.group(1).replace(",", "")))
        proc.wait()
    wall = time.time() - t0
    stop.set()
    if proc.returncode != 0 or run_dir is None:
        raise SystemExit(f"training failed (exit {proc.returncode}); see {log_path}")
    for path in glob.glob(os.path.join(run_dir, "nn", "last_*_ep_*.pth")):  # the periodic and final saves
        epoch = int(re.search(r"_ep_(\d+)", os.path.basename(path)).group(1))
        seen[epoch] = (os.path.getmtime(path) - t0, path)
    return run_dir, wall, seen, mem, fps


def play(checkpoint: str, args) -> dict:
    cmd = [*TRAIN, f"task={args.task}", "test=True", f"checkpoint={checkpoint}", f"num_envs={args.play_envs}",
           f"play_episodes={args.play_envs}", *args.play_args]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=args.cwd)
    if r.returncode != 0:
        return {"error": (r.stdout + r.stderr)[-400:]}
    out = {}
    m = re.search(r"played (\d+) episodes in ([\d.]+) s: average reward ([-\d.]+)", r.stdout)
    if m:
        out.update(episodes=int(m.group(1)), play_s=float(m.group(2)), mean_return=float(m.group(3)))
    for key in ("lin_vel_error", "yaw_rate_error", "fall"):
        m = re.search(rf"\({key}\): ([-\d.]+)", r.stdout)
        if m:
            out[key] = float(m.group(1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="Go2", help="the legged task to train")
    ap.add_argument("--train-args", nargs="*", default=[], help="extra train.py overrides")
    ap.add_argument("--play-epochs", type=int, nargs="*", default=[], help="checkpoints to play (default: last)")
    ap.add_argument("--play-envs", type=int, default=1024)
    ap.add_argument("--play-args", nargs="*", default=[])
    ap.add_argument("--cwd", default=ROOT)
    ap.add_argument("--out", default=".", help="folder for the training log and results.json")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    run_dir, wall, ckpts, mem, fps = train(args, os.path.join(args.out, "train.log"))
    steady = sorted(fps[5:])
    last = max(ckpts)
    epochs = [e for e in (args.play_epochs or [last]) if e in ckpts]
    rows = []
    for e in epochs:
        t, path = ckpts[e]
        row = {"epoch": e, "seconds": round(t, 1), "checkpoint": os.path.relpath(path, args.cwd)}
        rows.append({**row, **play(path, args)})
        print(json.dumps(rows[-1]), flush=True)
    final = sorted(glob.glob(os.path.join(run_dir, "nn", "*.pth")))
    result = {
        "wall_s": round(wall, 1),
        "run_dir": run_dir,
        "checkpoints": {e: round(t, 1) for e, (t, _) in ckpts.items()},
        "gpu_memory_mib_max": max(mem) if mem else None,
        "fps_total_median": steady[len(steady) // 2] if steady else None,
        "rows": rows,
        "files": final,
    }
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(
        f"training: {wall:.1f} s wall clock, peak GPU memory {result['gpu_memory_mib_max']} MiB, "
        f"median env steps/s {result['fps_total_median']}"
    )
    print("| epoch | s since start | tracking error m/s | yaw-rate error rad/s | falls | return |")
    for r in rows:
        print(f"| {r['epoch']} | {r['seconds']} | {r.get('lin_vel_error', '?')} | {r.get('yaw_rate_error', '?')} | "
              f"{r.get('fall', '?')} | {r.get('mean_return', '?')} |")  # fmt: skip


if __name__ == "__main__":
    main()

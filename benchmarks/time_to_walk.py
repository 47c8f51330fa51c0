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
    python benchmarks/time_to_walk.py --task G1 --train-seconds 545 --skip-play --out g1
    python benchmarks/time_to_walk.py --replay g1/results.json --play-epochs 800
    python benchmarks/time_to_walk.py --gpus 2 --out go2x2     # torchrun, one process per GPU

``--train-seconds`` stops training that long after the command, as Ctrl-C stops it (the run
saves its checkpoint); ``--skip-play`` and ``--replay`` split training and play in two.
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

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.common import ROOT, TRAIN, play_legged, run  # noqa: E402


def sample_gpu_memory(stop: threading.Event, out: list) -> None:
    if shutil.which("nvidia-smi") is None:
        return
    while not stop.is_set():
        r = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                           capture_output=True, text=True)  # fmt: skip
        if r.returncode == 0 and r.stdout.strip():
            out.append(max(int(x) for x in r.stdout.split()))  # the fullest GPU
        stop.wait(1.0)


def train(args, log_path: str) -> dict:
    """Runs training; returns the run directory, the wall clock, {epoch: seconds} of each
    checkpoint (its file's time since the command), the peak GPU memory and the median env
    steps/s."""
    cmd = [*TRAIN, f"task={args.task}", "headless=True", *args.train_args]
    if args.gpus > 1:  # one process per GPU, as a user starts it
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.gpus}",
               *cmd[2:], "multi_gpu=True"]  # fmt: skip
    print("$", " ".join(cmd[2:]), flush=True)
    mem, stop = [], threading.Event()
    sampler = threading.Thread(target=sample_gpu_memory, args=(stop, mem), daemon=True)
    sampler.start()
    r = run(cmd, log_path, args.train_seconds, cwd=args.cwd)
    stop.set()
    run_dir, epochs = r.run_dir(), r.epochs()
    if not r.ok or run_dir is None:
        raise SystemExit(f"training failed (exit {r.returncode}); see {log_path}:\n{r.tail()}")
    seen = {}
    for path in glob.glob(os.path.join(args.cwd, run_dir, "nn", "last_*_ep_*.pth")):  # periodic and final saves
        epoch = int(re.search(r"_ep_(\d+)", os.path.basename(path)).group(1))
        seen[epoch] = (round(os.path.getmtime(path) - r.started, 1), os.path.relpath(path, args.cwd))
    return {
        "task": args.task,
        "gpus": args.gpus,
        "train_args": args.train_args,
        "wall_s": round(r.wall, 1),
        "stopped_at_s": args.train_seconds if r.stopped else None,
        "epochs": epochs[-1][1] if epochs else 0,
        "run_dir": run_dir,
        "checkpoints": {e: seen[e][0] for e in sorted(seen)},
        "files": {e: seen[e][1] for e in sorted(seen)},
        "gpu_memory_mib_max": max(mem) if mem else None,
        "fps_total_median": r.steps_per_s(),
        "rows": [],
    }


def saved_epochs(wanted: list[int], saved: dict) -> list[int]:
    """For each wanted epoch the first saved one at or after it (rsl_rl saves after epochs 1, 51,
    101, ... where rl-games saves after 50, 100, ...), each once, in order."""
    out = []
    for e in wanted:
        at = min((s for s in saved if s >= e), default=None)
        if at is None:
            print(f"no checkpoint at or after epoch {e} (saved: {sorted(saved)})", flush=True)
        elif at not in out:
            out.append(at)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="Go2", help="the legged task to train")
    ap.add_argument("--train-args", nargs="*", default=[], help="extra train.py overrides")
    ap.add_argument("--train-seconds", type=float, default=None,
                    help="stop training this long after the command, as Ctrl-C stops it")
    ap.add_argument("--gpus", type=int, default=1, help="train on this many GPUs (torchrun, multi_gpu=True)")
    ap.add_argument("--play-epochs", type=int, nargs="*", default=[], help="checkpoints to play (default: last)")
    ap.add_argument("--play-envs", type=int, default=1024)
    ap.add_argument("--play-args", nargs="*", default=[])
    ap.add_argument("--skip-play", action="store_true", help="train only; play later with --replay")
    ap.add_argument("--replay", metavar="RESULTS_JSON", help="play the checkpoints of an earlier training")
    ap.add_argument("--cwd", default=ROOT)
    ap.add_argument("--out", default=".", help="folder for the training log and results.json")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.replay:
        with open(args.replay) as f:
            result = json.load(f)
        args.task = result["task"]
        for key in ("checkpoints", "files"):
            result[key] = {int(e): v for e, v in result[key].items()}
    else:
        result = train(args, os.path.join(args.out, "train.log"))
    ckpts = result["checkpoints"]
    for e in [] if args.skip_play else saved_epochs(args.play_epochs or [max(ckpts)], ckpts):
        row = {"epoch": e, "seconds": ckpts[e], "checkpoint": result["files"][e], "play_envs": args.play_envs}
        result["rows"].append({**row, **play_legged(args.task, result["files"][e], args.play_envs, args.play_args,
                                                    args.cwd)})
        print(json.dumps(result["rows"][-1]), flush=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(
        f"training: {result['wall_s']:.1f} s wall clock, {result['epochs']} epochs, peak GPU memory "
        f"{result['gpu_memory_mib_max']} MiB, median env steps/s {result['fps_total_median']}"
    )
    print("| epoch | s since start | tracking error m/s | yaw-rate error rad/s | falls | return |")
    for r in result["rows"]:
        print(f"| {r['epoch']} | {r['seconds']} | {r.get('lin_vel_error', '?')} | {r.get('yaw_rate_error', '?')} | "
              f"{r.get('fall', '?')} | {r.get('mean_return', '?')} |")  # fmt: skip


if __name__ == "__main__":
    main()

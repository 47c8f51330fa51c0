"""Each learner on one task, one after the other in one run: the wall clock of
``python train.py task=<T> learner=<L> headless=True`` from the command to its end (start-up,
kernel compilation and saves included), the epochs, the median env steps/s of its epoch lines,
and the average reward of a deterministic play of the run's last checkpoint
(``test=True checkpoint=<run>``, the train file's ``games_num`` episodes).

    python benchmarks/learners.py --task Cartpole [--learners rl_games,rsl_rl,skrl,sb3] [--train-args k=v ...]
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
EPOCH = re.compile(r"^epoch +(\d+)/\d+  reward +([-\d.]+|n/a) .* ([\d,]+) steps/s", re.M)
PLAYED = re.compile(r"played (\d+) episodes in [\d.]+ s: average reward ([-\d.]+)")


def _run(cmd: list[str], cwd: str) -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.time()
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {p.returncode}):\n{p.stdout[-1500:]}{p.stderr[-1500:]}")
    return p, time.time() - t0


def measure(task: str, learner: str, train_args: list[str], cwd: str) -> dict:
    train = [sys.executable, os.path.join(ROOT, "train.py"), f"task={task}", f"learner={learner}", "headless=True",
             f"experiment=bench_{learner}", *train_args]  # fmt: skip
    p, wall = _run(train, cwd)
    epochs = EPOCH.findall(p.stdout)
    rates = sorted(int(r.replace(",", "")) for _, _, r in epochs[1:]) or [0]
    run_dir = re.search(r"^run directory: (\S+)", p.stdout, re.M)[1]
    play, play_wall = _run([sys.executable, os.path.join(ROOT, "train.py"), f"task={task}", "test=True",
                            f"checkpoint={run_dir}", "headless=True"], cwd)  # fmt: skip
    m = PLAYED.search(play.stdout)
    rewards = [float(r) for _, r, _ in epochs if r != "n/a"]
    return {"learner": learner, "train_wall_s": round(wall, 1), "epochs": int(epochs[-1][0]) if epochs else 0,
            "env_steps_per_s": rates[len(rates) // 2], "train_reward_first": rewards[0] if rewards else None,
            "train_reward_last": rewards[-1] if rewards else None, "play_episodes": int(m[1]),
            "play_average_reward": float(m[2]), "play_wall_s": round(play_wall, 1)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="Cartpole")
    ap.add_argument("--learners", default="rl_games,rsl_rl,skrl,sb3")
    ap.add_argument("--train-args", nargs="*", default=[])
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as cwd:
        for learner in args.learners.split(","):
            results.append(measure(args.task, learner, args.train_args, cwd))
            print(json.dumps(results[-1]), flush=True)
    print(f"\n| learner | epochs | train wall clock | env steps/s | play average reward ({args.task}) |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r['learner']} | {r['epochs']} | {r['train_wall_s']} s | {r['env_steps_per_s']:,} | "
              f"{r['play_average_reward']:.1f} ({r['play_episodes']} episodes) |")  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"task": args.task, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()

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
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.common import TRAIN, median_after, run  # noqa: E402

PLAYED = re.compile(r"played (\d+) episodes in [\d.]+ s: average reward ([-\d.]+)")


def _run(cmd: list[str], cwd: str):
    r = run(cmd, cwd=cwd)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {r.returncode}):\n{r.tail(40)}")
    return r


def measure(task: str, learner: str, train_args: list[str], cwd: str) -> dict:
    r = _run([*TRAIN, f"task={task}", f"learner={learner}", "headless=True", f"experiment=bench_{learner}",
              *train_args], cwd)  # fmt: skip
    epochs = r.epochs()
    play = _run([*TRAIN, f"task={task}", "test=True", f"checkpoint={r.run_dir()}", "headless=True"], cwd)
    m = PLAYED.search("".join(line for _, line in play.lines))
    rewards = [e[2] for e in epochs if e[2] is not None]
    return {"learner": learner, "train_wall_s": round(r.wall, 1), "epochs": epochs[-1][1] if epochs else 0,
            "env_steps_per_s": median_after([e[3] for e in epochs], skip=1),
            "train_reward_first": rewards[0] if rewards else None,
            "train_reward_last": rewards[-1] if rewards else None, "play_episodes": int(m[1]),
            "play_average_reward": float(m[2]), "play_wall_s": round(play.wall, 1)}  # fmt: skip


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

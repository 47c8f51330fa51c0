"""mytasks and mjlab side by side on one GPU: the same wall clock of training for each, then
each one's throughput and velocity tracking error.

    python benchmarks/vs_mjlab.py --seconds 600 --mjlab-site /root/mjsite            # G1
    python benchmarks/vs_mjlab.py --task Go2 --mjlab-task Mjlab-Velocity-Flat-Unitree-Go1 ...
    python benchmarks/vs_mjlab.py --seconds 90 --num-envs 32 --play-envs 16 --mjlab-site <site> \
        --mjlab-args "--gpu-ids None" --train-args sim_device=cpu rl_device=cpu pipeline=cpu \
        --play-args sim_device=cpu rl_device=cpu pipeline=cpu     # both on the CPU, to try it

Each training runs as its user would start it, one after the other (never both at once), and
is stopped ``--seconds`` after its command as Ctrl-C stops it:

- mytasks: ``python train.py task=<task> headless=True``; throughput is the epoch lines'
  env steps/s (PPO included), median over the epochs after the fifth; the tracking errors and
  falls come from playing the checkpoint on ``--play-envs`` envs with commands drawn from the
  training ranges (``test=True``).
- mjlab (installed in a folder of its own, ``--mjlab-site``: it pins another MuJoCo): its
  ``train`` script with the rsl_rl runner; throughput is rsl_rl's "Steps per second" per
  iteration (collection and learning), median after the fifth. It saves every 10 iterations;
  its latest checkpoint is played by ``mjlab_play.py`` on ``--play-envs`` envs, measured as
  mytasks' play measures (per-episode mean planar and yaw-rate errors, falls), with commands
  from its training ranges. Its own ``Metrics/twist/error_vel_xy`` of the last iteration is
  kept too, but it is not comparable: it sums each step's error over the longest command
  period (8 s), so an episode that falls early reads small.

mjlab's G1 task drives all 29 joints of the G1 (arms and waist too) where mytasks' drives the
12 leg joints, as unitree_rl_gym's does; both follow planar velocity and yaw-rate commands.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.common import ROOT, TRAIN, median_after, play_legged, run  # noqa: E402

MJLAB_MAIN = "import sys; from mjlab.scripts.train import main; sys.argv = ['train'] + sys.argv[1:]; main()"


def run_mytasks(args) -> dict:
    cmd = [*TRAIN, f"task={args.task}", "headless=True", f"experiment=vs_mjlab_{args.task}", *args.train_args]
    r = run(cmd, os.path.join(args.out, "mytasks.log"), args.seconds)
    epochs = r.epochs()
    run_dir = r.run_dir()
    out = {"wall_s": round(r.wall, 1), "epochs": epochs[-1][1] if epochs else 0, "env_steps_per_s": r.steps_per_s(),
           "run_dir": run_dir}  # fmt: skip
    if run_dir is None:
        return {**out, "error": r.tail()}
    return {**out, **play_legged(args.task, run_dir, args.play_envs, args.play_args)}


def _stubs() -> str:
    """mjlab imports wandb and imageio_ffmpeg at start-up; neither is used with tensorboard."""
    d = tempfile.mkdtemp(prefix="mjlab-stubs-")
    open(os.path.join(d, "wandb.py"), "w").close()
    with open(os.path.join(d, "imageio_ffmpeg.py"), "w") as f:
        f.write("def get_ffmpeg_exe():\n    return 'ffmpeg'\n")
    return d


def run_mjlab(args) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{args.mjlab_site}:{_stubs()}", "MUJOCO_GL": "disable"}
    cmd = [sys.executable, "-u", "-c", MJLAB_MAIN, args.mjlab_task, "--env.scene.num-envs", str(args.num_envs),
           "--agent.max-iterations", "100000", "--agent.logger", "tensorboard", "--agent.save-interval", "10",
           *args.mjlab_args]  # fmt: skip
    # its logs/ (checkpoints, TensorBoard) in a folder of its own, not among the results
    logs = tempfile.mkdtemp(prefix="mjlab-run-")
    r = run(cmd, os.path.join(args.out, "mjlab.log"), args.seconds, cwd=logs, env=env)
    lines = [line for _, line in r.lines]
    fps = [float(m.group(1)) for x in lines if (m := re.search(r"Steps per second:\s*([\d.]+)", x))]
    iters = [int(m.group(1)) for x in lines if (m := re.search(r"Learning iteration (\d+)/", x))]
    err = [float(m.group(1)) for x in lines if (m := re.search(r"Metrics/twist/error_vel_xy:\s*([-\d.]+)", x))]
    yaw = [float(m.group(1)) for x in lines if (m := re.search(r"Metrics/twist/error_vel_yaw:\s*([-\d.]+)", x))]
    out = {"wall_s": round(r.wall, 1), "iterations": iters[-1] if iters else 0, "env_steps_per_s": median_after(fps),
           "error_vel_xy": err[-1] if err else None, "error_vel_yaw": yaw[-1] if yaw else None}  # fmt: skip
    if not fps:
        return {**out, "error": r.tail()}
    # its latest checkpoint played as mytasks' play measures (mjlab_play.py), with mjlab's Python path
    play = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "mjlab_play.py"), args.mjlab_task, logs,
                           "--num-envs", str(args.play_envs)], capture_output=True, text=True, env=env)  # fmt: skip
    lines = [x for x in play.stdout.splitlines() if x.startswith("{")]
    out["play"] = json.loads(lines[-1]) if lines else {"error": (play.stdout + play.stderr)[-400:]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="G1")
    ap.add_argument("--mjlab-task", default="Mjlab-Velocity-Flat-Unitree-G1")
    ap.add_argument("--mjlab-site", required=True, help="the folder mjlab and its pins are installed in")
    ap.add_argument("--seconds", type=float, default=600.0, help="training wall clock for each")
    ap.add_argument("--num-envs", type=int, default=4096)
    ap.add_argument("--play-envs", type=int, default=1024)
    ap.add_argument("--train-args", nargs="*", default=[], help="extra train.py overrides for mytasks")
    ap.add_argument("--play-args", nargs="*", default=[], help="extra train.py overrides for mytasks' play")
    ap.add_argument("--mjlab-args", type=shlex.split, default=[],
                    help="extra options for mjlab's train, one quoted string (e.g. \"--gpu-ids None\" for the CPU)")
    ap.add_argument("--only", choices=["mytasks", "mjlab"], default=None)
    ap.add_argument("--out", default=".", help="folder for both logs and results.json")
    args = ap.parse_args()
    args.out = os.path.abspath(args.out)
    os.makedirs(args.out, exist_ok=True)
    if f"num_envs={args.num_envs}" not in args.train_args:
        args.train_args.append(f"num_envs={args.num_envs}")
    result = {"seconds": args.seconds, "num_envs": args.num_envs}
    if args.only in (None, "mytasks"):
        result["mytasks"] = run_mytasks(args)
        print(json.dumps({"mytasks": result["mytasks"]}), flush=True)
    if args.only in (None, "mjlab"):
        result["mjlab"] = run_mjlab(args)
        print(json.dumps({"mjlab": result["mjlab"]}), flush=True)
    a, b = result.get("mytasks", {}), result.get("mjlab", {})
    if a.get("env_steps_per_s") and b.get("env_steps_per_s"):
        result["throughput_ratio"] = round(a["env_steps_per_s"] / b["env_steps_per_s"], 2)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Is resumed training the same as training straight through? Trains ``--epochs`` in one run,
again in a second run (how far two identical runs differ on this device), and ``--epochs / 2``
then resumed from that run directory to ``--epochs``, all with ``python train.py`` as a user
would, and compares the final checkpoints: weights, normaliser statistics, optimizer moments,
learning rate and RNG state (largest absolute difference).

    python benchmarks/resume_exactness.py --task Go2 --epochs 40 --train-args num_envs=4096
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import tempfile

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from mytasks.rl import checkpoints  # noqa: E402


def _train(cwd: str, *args: str) -> None:
    cmd = [sys.executable, os.path.join(ROOT, "train.py"), *args]
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stdout[-1500:]}{r.stderr[-1500:]}")


def _diff(a, b) -> float:
    return float((a.double() - b.double()).abs().max()) if a.numel() else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="Cartpole")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--train-args", nargs="*", default=[])
    args = ap.parse_args()
    half = args.epochs // 2
    common = [f"task={args.task}", "headless=True", *args.train_args]
    with tempfile.TemporaryDirectory() as cwd:
        _train(cwd, *common, f"max_iterations={args.epochs}", "experiment=straight")
        _train(cwd, *common, f"max_iterations={args.epochs}", "experiment=again")
        _train(cwd, *common, f"max_iterations={half}", "experiment=half")
        (half_dir,) = glob.glob(os.path.join(cwd, "runs", "half_*"))
        _train(cwd, f"checkpoint={half_dir}", f"max_iterations={args.epochs}")
        (straight,) = glob.glob(os.path.join(cwd, "runs", "straight_*", "nn", f"last_straight_ep_{args.epochs}.pth"))
        resumed = [p for p in glob.glob(os.path.join(cwd, "runs", "half_*", "nn", f"last_half_ep_{args.epochs}.pth"))]
        (again,) = glob.glob(os.path.join(cwd, "runs", "again_*", "nn", f"last_again_ep_{args.epochs}.pth"))
        a = checkpoints.load(straight)
        rows = {"a second straight run": checkpoints.load(again), f"{half} + resumed": checkpoints.load(resumed[0])}
        size = os.path.getsize(straight) / 2**20
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"{args.task}, {args.epochs} epochs on {device}; checkpoint {size:.1f} MiB. Largest difference from the "
          "straight run:")  # fmt: skip
    for label, b in rows.items():
        weights = max(_diff(v, b["model"][k]) for k, v in a["model"].items())
        moments = max(max(_diff(sa[m], sb[m]) for m in ("exp_avg", "exp_avg_sq"))
                      for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values(),
                                        strict=True))  # fmt: skip
        lr = abs(a["resume"]["last_lr"] - b["resume"]["last_lr"])
        rng = _diff(a["resume"]["rng"]["torch"].float(), b["resume"]["rng"]["torch"].float())
        print(f"  {label}: weights and normalisers {weights:.3g}, Adam moments {moments:.3g}, "
              f"learning rate {lr:.3g}, CPU RNG state {rng:.3g}")  # fmt: skip


if __name__ == "__main__":
    main()

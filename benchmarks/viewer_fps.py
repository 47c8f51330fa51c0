"""Frames per second of play with a viewer: the shipped Go2 policy, every env, on the CPU.

Builds the task as ``train.py task=Go2 test=True checkpoint=assets/checkpoints/Go2.pth``
does, with ``viewer=native`` (a window: needs a display, e.g. Xvfb with Mesa's software
OpenGL on a machine without a GPU) or ``viewer=web`` (then a headless Chromium opens the page
through Selenium, since the web viewer draws only while a browser is connected), or
``viewer=none`` for the cost of play itself. Play paces itself to real time; the figures are
what it reaches: policy steps per second, the frames the viewer drew per second, and the
fraction of real time.

    DISPLAY=:99 python benchmarks/viewer_fps.py --viewer native --num-envs 64
    python benchmarks/viewer_fps.py --viewer web --num-envs 64
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _browser(url: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1200,800"):  # fmt: skip
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    browser.get(url)
    return browser


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--viewer", choices=("native", "web", "none"), default="native")
    ap.add_argument("--num-envs", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=30.0, help="wall time measured, after a warm-up")
    args = ap.parse_args()

    import torch
    from omegaconf import OmegaConf

    from mytasks.rl import checkpoints, runner
    from mytasks.tasks import make_task
    from mytasks.utils.config import compose, resolved

    ckpt = os.path.join(ROOT, "assets", "checkpoints", "Go2.pth")
    cfg = resolved(compose(["task=Go2", "test=True", f"checkpoint={ckpt}", f"num_envs={args.num_envs}",
                            "sim_device=cpu", "rl_device=cpu", "pipeline=cpu", f"viewer={args.viewer}"]))  # fmt: skip
    task = make_task(cfg)
    params = runner.train_params(OmegaConf.to_container(cfg.train, resolve=True), "cpu")
    player = runner.load_player(task, params, checkpoints.load(ckpt), ckpt, "Go2")
    browser = _browser(task.viewer.url) if args.viewer == "web" else None
    obs = task.reset()["obs"]
    policy = lambda o: player.get_action(o, is_deterministic=True)  # noqa: E731

    def play(seconds: float) -> tuple[int, int, float]:
        steps, frames0, t0 = 0, task.viewer.frames if task.viewer else 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            nonlocal obs
            obs = task.step(policy(obs))[0]["obs"]
            steps += 1
        frames = (task.viewer.frames if task.viewer else 0) - frames0
        return steps, frames, time.perf_counter() - t0

    with torch.no_grad():
        play(10.0 if browser else 3.0)  # kernels, the page's first scene
        steps, frames, wall = play(args.seconds)
    if browser is not None:
        browser.quit()
    dt = task.dt
    print(json.dumps({"viewer": args.viewer, "num_envs": args.num_envs, "policy_steps_per_s": round(steps / wall, 2),
                      "frames_per_s": round(frames / wall, 2), "real_time_fraction": round(steps * dt / wall, 3),
                      "seconds": round(wall, 1)}))  # fmt: skip
    task.close()


if __name__ == "__main__":
    main()

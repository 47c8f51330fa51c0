"""What the benchmark scripts share: running ``train.py`` (or a peer's script) as a user would,
with its output timed line by line and, optionally, a stop after a wall clock as Ctrl-C stops
it; and reading the epoch lines, the run directory and the median throughput from that output.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = [sys.executable, "-u", os.path.join(ROOT, "train.py")]
# The epoch line every learner prints (mytasks.rl.learners.Progress.line).
EPOCH = re.compile(r"^epoch +(\d+)/(\d+) +reward +(\S+) .*?([\d,]+) steps/s")


def median_after(xs: list, skip: int = 5):
    """The median of ``xs`` after the first ``skip`` (start-up and compilation), or of all when
    there are no more; None for none."""
    xs = sorted(xs[skip:]) or sorted(xs)
    return xs[len(xs) // 2] if xs else None


@dataclass
class Run:
    lines: list[tuple[float, str]]  # (seconds since the command, line)
    wall: float
    returncode: int
    stopped: bool  # ended by the SIGINT sent at ``seconds``
    started: float  # time.time() at the command

    @property
    def ok(self) -> bool:
        return self.returncode == 0 or self.stopped

    def epochs(self) -> list[tuple[float, int, float | None, int]]:
        """(seconds, epoch, reward or None, env steps/s) of each epoch line."""
        out = []
        for t, line in self.lines:
            m = EPOCH.match(line)
            if m:
                reward = None if m.group(3) == "n/a" else float(m.group(3))
                out.append((t, int(m.group(1)), reward, int(m.group(4).replace(",", ""))))
        return out

    def steps_per_s(self):
        return median_after([e[3] for e in self.epochs()])

    def run_dir(self) -> str | None:
        """The run directory train.py named; a run stopped by Ctrl-C names its checkpoint
        (``runs/<run>/nn/<file>``) instead."""
        for _, line in self.lines:
            m = re.match(r"(?:run directory|checkpoint saved): (\S+)", line)
            if m:
                return m.group(1).split(os.sep + "nn" + os.sep)[0]
        return None

    def tail(self, n: int = 20) -> str:
        return "".join(line for _, line in self.lines[-n:])


def run(cmd: list[str], log_path: str | None = None, seconds: float | None = None, cwd: str = ROOT,
        env: dict | None = None, echo: bool = False) -> Run:  # fmt: skip
    """Runs ``cmd``, each output line timed (and written to ``log_path``, and printed with
    ``echo``); with ``seconds``, sends SIGINT that long after the start, as Ctrl-C would."""
    t0 = time.time()
    lines = []
    log = open(log_path, "w") if log_path else None
    try:
        env = {**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"}  # lines as they come
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd, env=env)
        stop = threading.Timer(seconds, proc.send_signal, (signal.SIGINT,)) if seconds else None
        if stop:
            stop.start()
        for line in iter(proc.stdout.readline, ""):
            now = time.time() - t0
            lines.append((now, line))
            if log:
                log.write(f"{now:8.2f} {line}")
            if echo:
                print(line, end="", flush=True)
        proc.wait()
        if stop:
            stop.cancel()
    finally:
        if log:
            log.close()
    stopped = bool(seconds) and proc.returncode == -signal.SIGINT
    return Run(lines, time.time() - t0, proc.returncode, stopped, t0)


def play_legged(task: str, checkpoint: str, envs: int, extra: list | tuple = (), cwd: str = ROOT) -> dict:
    """``train.py task=<task> test=True checkpoint=<checkpoint>`` headless on ``envs`` envs, one
    episode each: the episodes, play seconds and average return, and the legged play metrics
    (``lin_vel_error``, ``yaw_rate_error``, ``fall``) it printed; ``error`` if it failed."""
    cmd = [*TRAIN, f"task={task}", "test=True", "headless=True", f"checkpoint={checkpoint}", f"num_envs={envs}",
           f"play_episodes={envs}", *extra]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
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

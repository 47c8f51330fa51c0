"""``python train.py ...`` for the tests, without paying the imports for each run.

A run of train.py spends ~6 s of a 2-core machine importing torch, Newton, MuJoCo-Warp and
rl-games before it does anything; the suite runs train.py about a hundred times. So each test
worker starts one Python that imports those packages once (``serve``) and forks it for every
run: the child takes the run's working directory, environment, standard streams and
arguments, and runs ``train.py`` as ``__main__`` in a process of its own, which ends as
python would (exit code, atexit, threads, death by signal). ``WarmPopen`` is the test's
handle on it, with the part of ``subprocess.Popen`` the tests use. Nothing is imported or
initialised before the fork that holds state a run could see: no CUDA, no Warp runtime, no
torch thread pool (on a machine without CUDA, Warp is started and the CPU kernels of a step are
loaded, which forking keeps as they are); the random generators are seeded afresh in the
child. A run that names its own ``WARP_CACHE_PATH`` needs a new interpreter (``fresh``).
"""

from __future__ import annotations

import array
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

_PRELOAD = ("torch", "torch._dynamo", "numpy", "omegaconf", "hydra", "newton", "newton.solvers", "mujoco_warp",
            "mujoco", "warp", "rl_games.algos_torch.a2c_continuous", "rl_games.algos_torch.players", "tensorboardX",
            "yaml", "mytasks.cli", "mytasks.rl.loop", "mytasks.rl.agent", "mytasks.sim.newton_backend.gymapi",
            "mytasks.sim.newton_backend.world", "mytasks.tasks.cartpole")  # fmt: skip


def serve(path: str, root: str) -> None:
    """The warm Python: imports, then forks one child per request on the socket ``path``."""
    import ctypes
    import importlib

    try:  # ends with the test worker that started it, however that worker ends (Linux)
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (AttributeError, OSError):
        pass

    sys.path.insert(0, root)
    importlib.import_module("mytasks.rl.env")  # rl-games' registry first, as train.py imports it

    for name in _PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    _load_step_kernels()
    import gc

    gc.collect()
    gc.freeze()  # what the imports made is never collected: no child walks (and copies) it
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    print("ready", flush=True)
    while True:  # forks from the main thread, so that the child's run is the main thread's
        conn, _ = listener.accept()
        msg, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
        pid = os.fork()
        if pid == 0:
            listener.close()
            conn.close()
            _child(json.loads(msg.decode()), fds)
        for fd in fds:
            os.close(fd)
        conn.sendall(struct.pack("q", pid))
        threading.Thread(target=_report, args=(conn, pid), daemon=True).start()


def _load_step_kernels() -> None:
    """The Warp modules of a CPU step, loaded (compiled first, with an empty kernel cache) once
    here, so that no run compiles or loads them again; one test worker at a time compiles, the
    other then loads what it wrote. Not where a CUDA driver is present: Warp's start would then
    start CUDA, which a forked child cannot use."""
    import fcntl

    from mytasks.sim.newton_backend import runtime

    if runtime.cuda_driver_loads():
        return
    runtime.init_warp()
    with open(os.path.join(tempfile.gettempdir(), f"mytasks-warm-{os.getuid()}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        runtime.finish_compiling("cpu")


def _report(conn: socket.socket, pid: int) -> None:
    _, status = os.waitpid(pid, 0)
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    conn.sendall(struct.pack("q", code))
    conn.close()


def _child(request: dict, fds: list[int]) -> None:
    for fd, std in zip(fds, (0, 1, 2), strict=True):
        os.dup2(fd, std)
        os.close(fd)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    import random

    import numpy as np

    random.seed()
    np.random.seed()
    command = request["command"]  # what follows ``python``: a script and its arguments, or -c CODE ...
    # sys.path as a new interpreter sets it: the script's folder (or '' for -c), then PYTHONPATH
    sys.path[0] = "" if command[0] == "-c" else os.path.dirname(os.path.abspath(command[0]))
    sys.path[1:1] = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
    import runpy

    code = 0
    try:
        if command[0] == "-c":
            sys.argv = ["-c", *command[2:]]
            exec(compile(command[1], "<string>", "exec"), {"__name__": "__main__"})  # noqa: S102
        else:
            sys.argv = list(command)
            runpy.run_path(command[0], run_name="__main__")
    except SystemExit as e:
        code = e.code
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    raise SystemExit(code)  # up through the server's frames: the interpreter's own exit


class WarmServer:
    """One warm Python per test worker, started on first use."""

    def __init__(self, root: str):
        self.folder = tempfile.mkdtemp(prefix="mytasks-warm-")
        if len(self.folder) > 90:  # a Unix socket's path has room for about 100 bytes
            os.rmdir(self.folder)
            self.folder = tempfile.mkdtemp(prefix="mytasks-warm-", dir="/tmp")
        self.path = os.path.join(self.folder, "warm.sock")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        code = f"import sys; sys.path.insert(0, {os.path.dirname(__file__)!r}); import warm_python; " \
               f"warm_python.serve({self.path!r}, {root!r})"  # fmt: skip
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env, text=True)
        seen = []
        while (line := self.proc.stdout.readline()) and line.strip() != "ready":
            seen.append(line)
        if not line:
            raise RuntimeError(f"the warm Python did not start ({self.proc.wait()}): {''.join(seen)[-2000:]}")

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


class WarmPopen:
    """A run of train.py in a child of the warm Python, seen like a ``subprocess.Popen`` with
    ``stdout=PIPE, stderr=PIPE, text=True``."""

    def __init__(self, server: WarmServer, command: list[str], cwd: str, env: dict, stdout=None, stderr=None):
        """``command``: what follows ``python`` (a script and its arguments, or ``-c CODE ...``);
        ``stdout``: a file to write to instead of a pipe; ``stderr=subprocess.STDOUT`` joins them."""
        self.args = command
        self.returncode = None
        self.stdout = self.stderr = None
        ours = []
        if stdout is None:
            out_r, out_w = os.pipe()
            self.stdout = open(out_r, encoding="utf-8", errors="replace")
            ours.append(out_w)
        else:
            out_w = stdout.fileno()
        if stderr == subprocess.STDOUT:
            err_w = out_w
        else:
            err_r, err_w = os.pipe()
            self.stderr = open(err_r, encoding="utf-8", errors="replace")
            ours.append(err_w)
        null = os.open(os.devnull, os.O_RDONLY)
        self._conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._conn.connect(server.path)
        request = json.dumps({"command": list(command), "cwd": str(cwd), "env": dict(env)}).encode()
        socket.send_fds(self._conn, [request], array.array("i", [null, out_w, err_w]))
        for fd in (null, *ours):
            os.close(fd)
        self.pid = struct.unpack("q", self._recv(8))[0]

    def _recv(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self._conn.recv(n - len(data))
            if not chunk:
                raise RuntimeError("the warm Python went away")
            data += chunk
        return data

    def poll(self):
        if self.returncode is None:
            self._conn.setblocking(False)
            try:
                self.returncode = struct.unpack("q", self._recv(8))[0]
            except BlockingIOError:
                pass
            finally:
                self._conn.setblocking(True)
        return self.returncode

    def wait(self, timeout: float | None = None):
        if self.returncode is None:
            self._conn.settimeout(timeout)
            try:
                self.returncode = struct.unpack("q", self._recv(8))[0]
            except TimeoutError:
                raise subprocess.TimeoutExpired(self.args, timeout) from None
            finally:
                self._conn.settimeout(None)
        return self.returncode

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        deadline = None if timeout is None else time.monotonic() + timeout
        parts = {"out": None, "err": None}
        readers = [threading.Thread(target=lambda n, f: parts.__setitem__(n, f.read()), args=(n, f), daemon=True)
                   for n, f in (("out", self.stdout), ("err", self.stderr)) if f is not None]  # fmt: skip
        for r in readers:
            r.start()
        for r in readers:
            r.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if r.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout)
        self.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return parts["out"], parts["err"]

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for f in (self.stdout, self.stderr):
            if f is not None:
                f.close()
        self._conn.close()

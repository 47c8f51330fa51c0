"""Process-wide Warp set-up for the Newton backend."""

from __future__ import annotations

import contextlib
import os
import sys
import threading

_done = False


def init_warp() -> None:
    """Imports Warp quietly once: kernel-load chatter off, kernel cache where the user put it."""
    global _done
    if _done:
        return
    import warp as wp

    wp.config.quiet = True
    wp.config.verbose = False
    # mytasks never differentiates through the simulation: no adjoint kernels to generate and
    # compile (a cold start compiles about a third less code).
    wp.config.enable_backward = False
    # CUDA binaries (SASS) rather than PTX, where Warp's compiler knows the GPU: the kernel cache
    # then holds all that a warm start needs, where PTX would be compiled again by the driver at
    # every load whose own cache (~/.nv/ComputeCache) lacks it (a new container, another user).
    wp.config.cuda_output = "cubin"
    if hasattr(wp, "LOG_WARNING"):
        wp.config.log_level = wp.LOG_WARNING
    if os.environ.get("WARP_CACHE_PATH"):
        wp.config.kernel_cache_dir = os.environ["WARP_CACHE_PATH"]
    if cuda_driver_loads():
        wp.init()
    else:  # Warp's native start-up warns on stderr that there is no driver; mytasks says so itself
        with _stderr_silenced():
            wp.init()
    _done = True


def kernel_cache_dir() -> str:
    init_warp()
    import warp as wp

    return str(wp.config.kernel_cache_dir)


def cuda_driver_loads() -> bool:
    """Whether the CUDA driver library loads (without starting CUDA, which ``cuInit`` would)."""
    import ctypes

    for name in ("libcuda.so", "libcuda.so.1", "nvcuda.dll"):
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            pass
    return False


@contextlib.contextmanager
def _stderr_silenced():
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# The Warp modules whose kernels building a Newton model and stepping it with MuJoCo-Warp
# launch. Warp compiles a module the first time one of its kernels is launched, one module
# after another; with an empty kernel cache that is most of a start-up. The kernels that
# MuJoCo-Warp generates for a particular model are not listed: they only exist once the
# solver makes them.
_STEP_MODULES = (
    "newton._src.sim.articulation",
    "newton._src.geometry.bvh",
    "newton._src.sensors.sensor_contact",
    "newton._src.solvers.mujoco.kernels",
    "mujoco_warp._src.set_const",
    "mujoco_warp._src.smooth",
    "mujoco_warp._src.constraint",
    "mujoco_warp._src.forward",
    "mujoco_warp._src.passive",
    "mujoco_warp._src.support",
    "mujoco_warp._src.solver",
    "mujoco_warp._src.derivative",
)
_compiling: dict[str, threading.Thread] = {}


def start_compiling(device: str) -> None:
    """Starts compiling (or loading from the kernel cache) the modules of a step for ``device``
    in background threads, once per process and device, while the scene is recorded.

    Compiling is mostly native code that runs beside Python (NVRTC on a GPU, the LLVM
    back end on a CPU), so the modules compile at once and in parallel with the scene
    building instead of one after another at their first launch. ``finish_compiling``
    waits for them before the model is built. Modules missing from this Newton version
    are skipped; a module that fails to compile here is left to its first launch, which
    reports the error where it belongs.
    """
    if device in _compiling:
        return

    def work():
        with contextlib.suppress(Exception):  # the launch that needs the module reports it
            _compile(device)

    _compiling[device] = threading.Thread(target=work, name=f"mytasks-compile-{device}", daemon=True)
    _compiling[device].start()


def finish_compiling(device: str) -> None:
    """Waits for ``start_compiling(device)`` (starting it first if it has not been)."""
    start_compiling(device)
    _compiling[device].join()


def _compile(device: str) -> None:
    import importlib

    import newton.solvers  # noqa: F401  (imports the solver's kernel modules)
    import warp as wp

    modules = []
    for name in _STEP_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        modules.append(wp.get_module(name))
    workers = min(len(modules), os.cpu_count() or 1)
    wp.force_load(device=device, modules=modules, max_workers=workers)

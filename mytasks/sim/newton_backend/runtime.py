"""Process-wide Warp set-up for the Newton backend."""

from __future__ import annotations

import contextlib
import os
import sys

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
    if hasattr(wp, "LOG_WARNING"):
        wp.config.log_level = wp.LOG_WARNING
    if os.environ.get("WARP_CACHE_PATH"):
        wp.config.kernel_cache_dir = os.environ["WARP_CACHE_PATH"]
    if _cuda_driver_loads():
        wp.init()
    else:  # Warp's native start-up warns on stderr that there is no driver; mytasks says so itself
        with _stderr_silenced():
            wp.init()
    _done = True


def _cuda_driver_loads() -> bool:
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
# after another; with an empty kernel cache that is most of a CPU start-up. The kernels that
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
_preloaded: set = set()


def preload_step_kernels(device: str) -> None:
    """Compiles, or loads from the kernel cache, the modules of a step on a CPU in parallel.

    Once per process; modules missing from this Newton version are skipped. On 2 cores this
    took a cold Go2 build and first steps from 47 s to 30 s. CUDA devices are left to Warp's
    compilation at first launch: there, compiling in parallel measured no faster.
    """
    if device.startswith("cuda") or device in _preloaded:
        return
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
    _preloaded.add(device)

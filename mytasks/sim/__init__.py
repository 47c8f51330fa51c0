"""The isaacgym API (``gymapi``, ``gymtorch``) with a choice of physics engine.

Tasks import ``from mytasks.sim import gymapi, gymtorch`` (and ``mytasks.sim.gymutil``, which
needs no engine) and never name an engine. The
engine is chosen once per process with :func:`select_backend` before the first task module is
imported: ``newton`` (the default, Newton with the MuJoCo-Warp solver) or ``physx`` (the real
Isaac Gym, when it is installed).
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import importlib.util
import os
import sys

BACKENDS = ("newton", "physx")
_backend = "newton"
_modules: dict[str, object] = {}


class BackendUnavailable(RuntimeError):
    """The requested physics engine cannot be used in this environment."""


class ViewerUnavailable(RuntimeError):
    """The viewer asked for cannot open here; the message names the one to use instead."""


def select_backend(name: str) -> None:
    """Chooses the engine behind ``gymapi``/``gymtorch`` for this process."""
    global _backend
    name = str(name).lower()
    if name == "flex":
        raise BackendUnavailable("physics_engine=flex is not supported; use newton (default) or physx")
    if name not in BACKENDS:
        raise BackendUnavailable(f"unknown physics_engine '{name}'; choose one of: {', '.join(BACKENDS)}")
    if name == "physx" and importlib.util.find_spec("isaacgym") is None:
        raise BackendUnavailable(
            "physics_engine=physx needs NVIDIA Isaac Gym (Python 3.8, not on PyPI), which is not "
            "installed; use physics_engine=newton"
        )
    if _modules and name != _backend:
        raise BackendUnavailable(f"the {_backend} backend is already in use in this process")
    _backend = name


def has_display() -> bool:
    """Whether a window can open: on Linux an X or Wayland display must be named."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def backend() -> str:
    return _backend


# Folders a relative path inside an asset file (a mesh) is also looked for in, when it is not
# beside the file: set while an IsaacGymEnvs checkout's task builds (``asset_paths_from``).
_asset_roots: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("asset_roots", default=())


@contextlib.contextmanager
def asset_paths_from(folder: str):
    """Within the block, a relative path in an asset file that is not found beside the file is
    looked for under ``folder`` too: upstream IsaacGymEnvs writes such paths relative to the
    folder its ``train.py`` runs in (Ingenuity's meshes: ``../assets/glb/...``)."""
    token = _asset_roots.set((*_asset_roots.get(), os.path.abspath(folder)))
    try:
        yield
    finally:
        _asset_roots.reset(token)


def asset_roots() -> tuple[str, ...]:
    return _asset_roots.get()


def kernel_cache_dir() -> str:
    """Where the engine keeps its compiled kernels (Warp's kernel cache: ``WARP_CACHE_PATH``)."""
    if _backend != "newton":
        return ""
    from mytasks.sim.newton_backend import runtime

    return runtime.kernel_cache_dir()


def _load(module: str):
    if module not in _modules:
        package = "isaacgym" if _backend == "physx" else "mytasks.sim.newton_backend"
        _modules[module] = importlib.import_module(f"{package}.{module}")
    return _modules[module]


def __getattr__(name: str):
    if name in ("gymapi", "gymtorch"):
        return _load(name)
    raise AttributeError(f"module 'mytasks.sim' has no attribute '{name}'")

"""Process-wide Warp set-up for the Newton backend."""

from __future__ import annotations

import os

_done = False


def init_warp() -> None:
    """Imports Warp quietly once: kernel-load chatter off, kernel cache where the user put it."""
    global _done
    if _done:
        return
    import warp as wp

    wp.config.quiet = True
    wp.config.verbose = False
    if hasattr(wp, "LOG_WARNING"):
        wp.config.log_level = wp.LOG_WARNING
    if os.environ.get("WARP_CACHE_PATH"):
        wp.config.kernel_cache_dir = os.environ["WARP_CACHE_PATH"]
    wp.init()
    _done = True

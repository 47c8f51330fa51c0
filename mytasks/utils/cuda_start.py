"""Creating the CUDA context while the rest of a run is imported.

torch's CUDA start (driver, context, caching allocator) takes seconds on a GPU machine and
is native work that runs without Python's global interpreter lock, while importing Newton,
MuJoCo-Warp and the learner is Python work; done in a thread of its own it costs nothing
beside them. Warp, later, finds the device's primary context already made.
"""

from __future__ import annotations

import threading


def start_early(*devices: str) -> None:
    """Starts CUDA on each ``cuda:N`` of ``devices`` in a background thread; others are skipped.

    Errors are left to the run's own first use of the device, which reports them in place.
    """
    wanted = sorted({d for d in devices if d.startswith("cuda:")})
    if not wanted:
        return

    def work():
        try:
            import torch

            for device in wanted:
                torch.empty(1, device=device)
        except Exception:  # noqa: BLE001  (reported where the run uses the device)
            pass

    threading.Thread(target=work, name="mytasks-cuda-start", daemon=True).start()

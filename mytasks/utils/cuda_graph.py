"""Run a piece of device work as a replayed CUDA graph once it has warmed up.

A graph replaces the hundreds of small kernel launches of a step (or of a PPO minibatch
update) with one launch, so the time Python spends queueing them disappears. The work must
only touch tensors that outlive the graph (inputs are copied into fixed buffers beforehand)
and must never wait on the device: no ``.item()``, ``nonzero``, Python branches on tensor
values or CPU tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


class GraphedCall:
    """Calls ``fn`` eagerly ``warmup`` times, then captures the next call and replays it.

    ``enabled=False`` (a CPU pipeline, or the user's choice) always calls ``fn``. After capture
    every call returns what ``fn`` returned while captured: the same tensors, refilled by
    each replay, so read or copy them before the next call. ``side_stream`` runs the warm-up
    calls on a side stream, as autograd and optimizer steps need before they are captured. If
    capture fails, one line names ``what`` and the reason, and ``fn`` runs eagerly from then on.
    """

    def __init__(self, what: str, *, enabled: bool, warmup: int = 3, side_stream: bool = False):
        self.what = what
        self.enabled = enabled
        self.warmup = warmup
        self.side_stream = side_stream
        self.graph: torch.cuda.CUDAGraph | None = None
        self._calls = 0
        self._outputs: Any = None
        self._stream: torch.cuda.Stream | None = None

    def __call__(self, fn: Callable[[], Any]) -> Any:
        if self.graph is not None:
            self.graph.replay()
            return self._outputs
        if not self.enabled or self._calls < self.warmup:
            self._calls += 1
            return self._warm(fn) if self.enabled and self.side_stream else fn()
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                outputs = fn()
        except RuntimeError as e:  # capture refused an operation: stay eager
            text = str(e).strip()
            reason = text.splitlines()[0] if text else type(e).__name__
            print(f"mytasks: {self.what} could not run as a CUDA graph ({reason}); running it eagerly")
            self.enabled = False
            return fn()
        self.graph, self._outputs = graph, outputs
        graph.replay()
        return outputs

    def _warm(self, fn: Callable[[], Any]) -> Any:
        if self._stream is None:
            self._stream = torch.cuda.Stream()  # one stream for every warm-up call
        self._stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self._stream):
            out = fn()
        torch.cuda.current_stream().wait_stream(self._stream)
        return out

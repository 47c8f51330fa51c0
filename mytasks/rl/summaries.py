"""TensorBoard scalars written in the training thread, so that a failing disk stops the run.

tensorboardX's ``SummaryWriter`` (the one rl-games opens) hands each event to a writer thread
through a bounded queue. When the disk fills or a file-size limit is reached the thread dies,
the queue fills, and the next ``add_scalar`` blocks for ever: no line, no epoch end, and so no
Ctrl-C save. ``Summaries`` writes the same event file with tensorboardX's own synchronous
``EventsWriter`` instead, flushed at most every ``FLUSH_SECONDS``; any failure raises
``SummariesFailed``, naming the folder and the cause, in the thread that trains.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

from tensorboardX.event_file_writer import EventsWriter
from tensorboardX.proto import event_pb2
from tensorboardX.summary import scalar

from mytasks.utils.errors import WriteFailed

FLUSH_SECONDS = 2.0


class SummariesFailed(WriteFailed):
    """The TensorBoard file could not be written (the checkpoints may still be)."""


class Summaries:
    """The part of a ``SummaryWriter`` that training uses: ``add_scalar``, ``flush``, ``close``."""

    def __init__(self, log_dir: str, **_ignored):
        self.log_dir = log_dir
        self._last_flush = time.monotonic()
        with self._writing():
            os.makedirs(log_dir, exist_ok=True)
            _tell_wandb(log_dir)
            self._events = EventsWriter(os.path.join(log_dir, "events"))

    @contextlib.contextmanager
    def _writing(self):
        """An OSError within the block becomes ``SummariesFailed``, naming the folder and the cause."""
        try:
            yield
        except OSError as e:
            raise SummariesFailed(f"cannot write TensorBoard summaries to {self.log_dir}: {e.strerror or e}") from e

    def add_scalar(self, tag: str, value, global_step=None, walltime=None, **_ignored) -> None:
        event = event_pb2.Event(summary=scalar(tag, float(value)), wall_time=walltime or time.time())
        if global_step is not None:
            event.step = int(global_step)
        with self._writing():
            self._events.write_event(event)
            if time.monotonic() - self._last_flush > FLUSH_SECONDS:
                self._events.flush()
                self._last_flush = time.monotonic()

    def flush(self) -> None:
        with self._writing():
            self._events.flush()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        with self._writing():
            self._events.close()


def _tell_wandb(log_dir: str) -> None:
    """With a wandb run that syncs TensorBoard (``wandb_activate``): wandb learns which folders
    to watch when a tensorboardX ``EventFileWriter`` opens (its patch of that class), so one is
    opened and closed here, leaving a header-only event file beside the real one."""
    wandb = sys.modules.get("wandb")
    if wandb is None or getattr(wandb, "run", None) is None:
        return
    from tensorboardX import writer

    writer.EventFileWriter(log_dir, filename_suffix=".wandb").close()

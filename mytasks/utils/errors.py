"""The ways a run ends early on purpose or for want of disk; light (no torch), so the CLI can catch them cheaply."""

from __future__ import annotations

import atexit
import os
import re
import signal
import sys
import threading

# Set once SIGINT or SIGTERM has asked training to stop (``rl/learners.Signals``): loops that
# wait for a person (a paused viewer) end their wait on it, so the epoch can end and save.
STOP_REQUESTED = threading.Event()


def first_line(e: BaseException) -> str:
    """The first non-blank line of an exception's message, or its type's name."""
    text = [t.strip() for t in str(e).strip().splitlines() if t.strip()]
    return text[0] if text else type(e).__name__


def crash_line(e: BaseException) -> str:
    """The line train.py prints for an unexpected error: its message's first line, or for an
    error raised inside TorchScript (task code under ``@torch.jit.script``) the error itself and
    the script line it came from, which the message puts last."""
    text = str(e).strip()
    lines = [t.strip() for t in text.splitlines() if t.strip()]
    if not lines:
        return ""
    if lines[0].startswith("The following operation failed in the TorchScript interpreter"):
        frames = re.findall(r'File "([^"]+)", line (\d+)', text)
        where = f" (TorchScript, {frames[-1][0]}:{frames[-1][1]})" if frames else " (TorchScript)"
        return lines[-1].removeprefix(f"{type(e).__name__}: ") + where
    return lines[0]


class UserError(Exception):
    """Bad input from the user: reported as one line, with no traceback, and exit code 2."""


class WriteFailed(Exception):
    """A file of the run could not be written (a full disk, a file-size limit, a read-only
    folder): one line naming the path and the cause, exit code 1, after saving what can be."""


class Interrupted(Exception):
    """Training was stopped by signal ``signum`` after saving ``checkpoint`` (None on the ranks
    of a multi-GPU run other than 0, which save nothing); the process then ends by that signal
    (``end_by_signal``)."""

    def __init__(self, checkpoint: str | None, signum: int):
        super().__init__(checkpoint)
        self.checkpoint = checkpoint
        self.signum = signum


def end_by_signal(signum: int, *, cleanup: bool = True) -> None:
    """End the process by ``signum``'s default action, as Python ends after an uncaught
    KeyboardInterrupt: a shell shows 128 + signum, and a shell loop over runs stops with it (a
    plain exit 130 would let the loop go on). ``cleanup`` first runs the exit functions (logger
    uploads and the like); a second Ctrl-C, which means at once, skips them."""
    if cleanup:
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said there
            pass
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)

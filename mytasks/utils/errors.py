"""The two ways a run ends early on purpose; light (no torch), so the CLI can catch them cheaply."""

from __future__ import annotations


def first_line(e: BaseException) -> str:
    """The first non-blank line of an exception's message, or its type's name."""
    text = [t.strip() for t in str(e).strip().splitlines() if t.strip()]
    return text[0] if text else type(e).__name__


class UserError(Exception):
    """Bad input from the user: reported as one line, with no traceback, and exit code 2."""


class Interrupted(Exception):
    """Training was stopped by signal ``signum`` after saving ``checkpoint``; exit 128 + signum."""

    def __init__(self, checkpoint: str, signum: int):
        super().__init__(checkpoint)
        self.checkpoint = checkpoint
        self.exit_code = 128 + signum

"""How the user started mytasks, for the lines that tell them what to run next."""

from __future__ import annotations

import os
import sys


def program() -> str:
    """The command as typed: ``python train.py``, ``python -m mytasks``, ``mytasks``, ... (a
    sweep's runs say their parent's)."""
    if os.environ.get("MYTASKS_PROGRAM"):
        return os.environ["MYTASKS_PROGRAM"]
    arg0 = sys.argv[0] if sys.argv and sys.argv[0] and not sys.argv[0].startswith("-") else "mytasks"  # -c: a script
    base = os.path.basename(arg0)
    if base == "__main__.py":
        return f"python -m {os.path.basename(os.path.dirname(arg0))}"
    if base == "cli.py" and os.path.basename(os.path.dirname(arg0)) == "mytasks":
        return "python -m mytasks.cli"
    if base.endswith(".py"):
        return f"python {arg0}"
    return base

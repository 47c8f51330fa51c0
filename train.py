"""Train or play an RL task: ``python train.py task=<Name> [key=value ...]`` (see README.md)."""

import sys

from mytasks.cli import main

if __name__ == "__main__":
    sys.exit(main())

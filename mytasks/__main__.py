"""``python -m mytasks task=<Name> [key=value ...]``: the same as ``python train.py`` and ``mytasks``."""

import sys

from mytasks.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m mytasks.sim2sim <exported dir> ...``: see ``mytasks/deploy/sim2sim.py``."""

import sys

from mytasks.deploy.sim2sim import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m georisk``: the command line (same as the ``georisk`` script)."""

import sys

from georisk.cli import main

sys.exit(main())

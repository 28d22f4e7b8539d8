"""``python -m bayesglmm.cli``."""

import sys

from . import main

sys.exit(main())

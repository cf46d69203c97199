"""python -m graphsync: the graphsync command."""

import sys

from .cli import main

sys.exit(main())

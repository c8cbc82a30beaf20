"""`python -m curate.cli`: the same command line as the `curate` script."""

import sys

from curate.cli import main

sys.exit(main())

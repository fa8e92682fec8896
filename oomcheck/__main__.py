"""`python -m oomcheck` is the `oomcheck` command."""

import sys

from oomcheck.cli import main

sys.exit(main())

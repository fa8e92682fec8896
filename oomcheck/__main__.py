"""`python -m oomcheck` is the `oomcheck` command."""

import sys

from .cli import main

sys.exit(main())

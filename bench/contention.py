"""PTL contention, forward vs reverse reaper walk: the table (stdout) and contention.png/.md.

    .venv/bin/python bench/contention.py --out bench/out
    .venv/bin/python bench/contention.py --out /tmp/c --runs 20 --quick

Worst case over every interleaving (exhaustive) at small sizes, means of the seeded random and
timed schedulers at every size, next to zhongjinji's arm64 measurement (33.1 -> 1.0 ms waiting for the
PTE spinlock, 167.1 -> 132.6 ms total). Only contention.png and contention.md are written in --out.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from oomcheck.cli_simulate import contention_main

if __name__ == "__main__":
    sys.exit(contention_main())

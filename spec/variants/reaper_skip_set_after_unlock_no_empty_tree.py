"""`skip-set-after-unlock` with the second guard removed: exit_mmap does not empty the VMA tree.

With MMF_OOM_SKIP set only after the write unlock and the freed VMAs still in the tree, a reaper
that gets the read lock in between walks freed VMAs (docs/kernel-background.md §7.3 R2, §3.6:
pre-2022 and 5.17 forms).
"""

MODEL = "reaper"
BASE = "skip-set-after-unlock"
KNOBS = {"tree_emptied_under_lock": "no"}


def derive(m):
    return m

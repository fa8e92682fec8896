"""`skip-test-before-lock` with the second guard removed: exit_mmap does not empty the VMA tree.

The tree (mm->mmap before 6.1) still lists the freed VMAs after exit_mmap's write unlock, as it did
before f798a1d4f94d (Feb 2022) in 5.17 and always in the pre-2022 exit_mmap. With neither the
MMF_OOM_SKIP test under the lock nor an empty tree, a reaper that gets the read lock after the
teardown walks freed VMAs.
"""

MODEL = "reaper"
BASE = "skip-test-before-lock"
KNOBS = {"tree_emptied_under_lock": "no"}


def derive(m):
    return m

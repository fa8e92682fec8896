"""exit_mmap sets MMF_OOM_SKIP after its last write unlock: a patch on exit_mmap.

Hypothetical (docs/kernel-background.md §7.3 R2). exit_mmap() in mm/mmap.c sets MMF_OOM_SKIP
between mmap_read_unlock and mmap_write_lock (6.0+), or before the write-lock fence / teardown
lock in the older forms, "to hide this task from the oom killer/reaper because the memory has been
already freed". Here the set_bit moves after the write unlock that ends the teardown (for the
pre-2022 form, after the fence's unlock). A reaper that takes the read lock after that unlock
finds MMF_OOM_SKIP clear and walks the tree: safe today only because __mt_destroy emptied it under
the write lock (see the -no-empty-tree variant); and the OOM killer keeps waiting on the victim
during the teardown."""

from oomcheck.models.reaper import set_exit_stages

MODEL = "reaper"
BASE = "reverse"


def derive(m):
    stages = m.helpers["exit_stages"]()
    if "SET_SKIP" not in stages:  # 5.17 / pre-2022 exit_mmap of a non-victim: nothing to move
        return m
    moved = [s for s in stages if s != "SET_SKIP"]
    last_unlock = max(i for i, s in enumerate(moved) if s in ("WRITE_UNLOCK", "FENCE_HELD"))
    moved.insert(last_unlock + 1, "SET_SKIP")
    set_exit_stages(m, moved)
    return m

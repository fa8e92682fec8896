"""The OOM reaper takes mmap_lock with a blocking read lock: a patch on oom_reap_task_mm.

Hypothetical (docs/kernel-background.md §7.3 R3). oom_reap_task_mm() in mm/oom_kill.c uses
mmap_read_trylock(), and oom_reap_task() gives up after MAX_OOM_REAP_RETRIES and sets MMF_OOM_SKIP
"because somebody can't call mmap_write_unlock(mm)". Here the trylock becomes mmap_read_lock():
the single reaper kthread sleeps behind a victim thread that holds mmap_lock for write while it
waits for memory, and only the OOM killer moving on (MMF_OOM_SKIP) would give it that memory."""

from oomcheck.models.reaper import ReaperPC, Writer

MODEL = "reaper"
BASE = "reverse"


def derive(m):
    if "reaper_pc" not in m.vars:  # oom_victim=no: no OOM reaper to patch
        return m
    rpc, writer, readers = m.ref("reaper_pc"), m.ref("writer"), m.ref("readers")
    m.replace_action(
        "reaper_trylock", func="mmap_read_lock", file="include/linux/mmap_lock.h",
        actor="reaper",
        step="oom_reap_task_mm: blocking read lock, granted once no writer holds mmap_lock",
        guard=(rpc == ReaperPC.TRYLOCK) & (writer == Writer.NONE),
        updates={readers: readers + 1, rpc: ReaperPC.CHECK},
    )
    m.remove_action("reaper_trylock_fail")
    return m

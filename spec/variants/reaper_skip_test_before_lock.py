"""The OOM reaper tests MMF_OOM_SKIP before taking mmap_lock: a patch on oom_reap_task_mm.

Hypothetical (docs/kernel-background.md §7.3 R1). oom_reap_task_mm() in mm/oom_kill.c tests MMF_OOM_SKIP under
mmap_read_trylock(), with the comment that the test "must run under mmap_lock for reading because
it serializes against the mmap_write_lock();mmap_write_unlock() cycle in exit_mmap()". Here the
test_bit moves above the trylock: the reaper can read MMF_OOM_SKIP clear, be preempted while
exit_mmap sets it and tears the mm down under the write lock, then get the read lock and walk
whatever the VMA tree still holds. Today that is an empty tree (__mt_destroy under the write
lock), so this is safe only because of that second guard; see the -no-empty-tree variant.
"""

from oomcheck.lang import ite
from oomcheck.models.reaper import ReaperPC, Writer

MODEL = "reaper"
BASE = "reverse"


def derive(m):
    if "reaper_pc" not in m.vars:  # oom_victim=no: no OOM reaper to patch
        return m
    rpc, skip, writer = m.ref("reaper_pc"), m.ref("skip"), m.ref("writer")
    readers, unstable, fail = m.ref("readers"), m.ref("unstable"), m.ref("reaper_fail")
    attempts, retries = m.ref("attempts"), m.helpers["reap_attempts"]()
    waiting = m.helpers["writer_waiting"]()
    # oom_reap_task_mm's entry: the lockless test now comes first (pc TRYLOCK), the trylock
    # second (pc CHECK); the under-lock test is gone.
    m.replace_action(
        "reaper_trylock", func="oom_reap_task_mm", file="mm/oom_kill.c", actor="reaper",
        step="test_bit(MMF_OOM_SKIP) before mmap_read_trylock, without the lock: set -> return "
             "true (nothing to reap); clear -> mmap_read_trylock next",
        guard=rpc == ReaperPC.TRYLOCK,
        updates={rpc: ite(skip, ReaperPC.SET_SKIP, ReaperPC.CHECK)},
    )
    m.remove_action("reaper_check_skip")
    m.remove_action("reaper_trylock_fail")
    m.action(
        "reaper_trylock_unchecked", func="mmap_read_trylock", file="include/linux/mmap_lock.h",
        actor="reaper",
        step="the read trylock succeeds; MMF_OOM_SKIP is not tested again: __oom_reap_task_mm "
             "sets MMF_UNSTABLE and walks",
        guard=(rpc == ReaperPC.CHECK) & (writer == Writer.NONE),
        updates={readers: readers + 1, rpc: ReaperPC.ITER, unstable: 1, fail: 0},
    )
    m.action(
        "reaper_trylock_fail", func="oom_reap_task", file="mm/oom_kill.c", actor="reaper",
        step="mmap_read_trylock fails: schedule_timeout_idle and retry from the MMF_OOM_SKIP "
             "test, or give up after the last attempt",
        guard=(rpc == ReaperPC.CHECK) & ((writer != Writer.NONE) | waiting),
        updates={attempts: attempts + 1,
                 rpc: ite(attempts + 1 == retries, ReaperPC.SET_SKIP, ReaperPC.TRYLOCK)},
    )
    return m

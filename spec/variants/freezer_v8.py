"""v8 of the OOM victim thaw series, written as a patch on `pre`.

[PATCH v8 1/3] "mm/oom_kill: Introduce thaw_oom_process() for thawing OOM victims" (zhongjinji,
2025-09-09) adds thaw_oom_process() to kernel/freezer.c: for each thread of the victim, set
TIF_MEMDIE, then __thaw_task(). [PATCH v8 2/3] calls it from mark_oom_victim() in place of
__thaw_task(tsk). The freezer still exempts TIF_MEMDIE, and oom_victims is still incremented once.

The two statements of one loop iteration are one step here: a thread that re-checks freezing()
between them already sees TIF_MEMDIE, exactly as it does after the thaw.
"""

from oomcheck.models.freezer import THREAD, OomPC, thaw_done

MODEL = "freezer"
BASE = "pre"


def derive(m):
    memdie, frozen, thawed = m.ref("memdie"), m.ref("frozen"), m.ref("thawed")
    oom_pc, oom_victims = m.ref("oom_pc"), m.ref("oom_victims")
    m.replace_action(
        "thaw", func="thaw_oom_process", file="kernel/freezer.c", actor="oom",
        params={"t": THREAD},
        step="for_each_thread: set_tsk_thread_flag(t, TIF_MEMDIE); __thaw_task(t)",
        guard=lambda t: (oom_pc == OomPC.THAW) & ~thawed[t],
        updates=lambda t: {memdie[t]: 1, frozen[t]: 0, thawed[t]: 1},
    )
    m.replace_action(
        "oom_victims_inc", func="mark_oom_victim", file="mm/oom_kill.c", actor="oom",
        step="atomic_inc(&oom_victims), once for the whole group; then task_unlock(victim)",
        guard=(oom_pc == OomPC.THAW) & thaw_done(m),
        updates={oom_victims: oom_victims + 1, oom_pc: OomPC.DONE},
    )
    return m

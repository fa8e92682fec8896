"""v10 with `signal->oom_mm` published after the thaw loop: an ordering bug, written as a patch
on `v10`.

Hypothetical (docs/kernel-background.md §7.3 F4, §1.4), kept to show that v10 is right only
because mark_oom_victim() publishes the exemption (cmpxchg of signal->oom_mm, a full barrier)
before thaw_process(). Here the cmpxchg moves below the loop: a thread woken by __thaw_task()
that re-checks freezing() before the publish goes back to sleep, and no thaw follows.
"""

from oomcheck.models.freezer import OomPC, thaw_done

MODEL = "freezer"
BASE = "v10"


def derive(m):
    memdie, oom_mm = m.ref("memdie"), m.ref("oom_mm")
    oom_pc, oom_victims = m.ref("oom_pc"), m.ref("oom_victims")
    m.replace_action(
        "mark_oom_victim", func="mark_oom_victim", file="mm/oom_kill.c", actor="oom",
        step="test_and_set TIF_MEMDIE on the victim thread (oom_mm not published yet)",
        guard=oom_pc == OomPC.MARK,
        updates={memdie[0]: 1, oom_pc: OomPC.THAW},
    )
    m.action(
        "publish_oom_mm", func="mark_oom_victim", file="mm/oom_kill.c", actor="oom",
        step="cmpxchg(&signal->oom_mm, NULL, mm), after the thaw loop",
        guard=(oom_pc == OomPC.THAW) & thaw_done(m) & ~oom_mm,
        updates={oom_mm: 1},
    )
    m.replace_action(
        "oom_victims_inc", func="mark_oom_victim", file="mm/oom_kill.c", actor="oom",
        step="atomic_inc(&oom_victims); then task_unlock(victim)",
        guard=(oom_pc == OomPC.THAW) & thaw_done(m) & oom_mm,
        updates={oom_victims: oom_victims + 1, oom_pc: OomPC.DONE},
    )
    return m

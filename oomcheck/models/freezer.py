"""The OOM victim thaw against the freezer: one process, N threads, thread 0 picked by the OOM killer.

Kernel base: the 6.17 freezer (kernel/freezer.c after the July 2025 `__thaw_task` cleanup: no
WARN on `freezing(p)`, `frozen(p)` tested under `freezer_lock`) and mm/oom_kill.c as of 6.17, with
the 2025 thaw series (zhongjinji, v8 to v10, merged for 6.18-rc1) as knobs and derived variants.

What is abstracted, and why it is sound for the properties checked here:
- `mark_oom_victim`'s test_and_set of TIF_MEMDIE and the cmpxchg of `signal->oom_mm` are one
  step: no freezer check reads both, so no interleaving between them changes a verdict.
- `get_signal`'s `try_to_freeze()` and its SIGNAL_GROUP_EXIT test are folded into the guards of
  two steps (freeze if `freezing()`, else take the fatal path). This is exact because, for a
  thread that is still running, `freezing()` can only go from true to false in this model.
- The PM freezer and the cgroup v1 freezer share the refrigerator and `freezing()`; the knob
  `freezer=refrigerator` stands for both. `freeze_task`'s fake signal is "a running thread reaches
  a freeze point at any time".
- Sleeps other than the freezer's (I/O, coredump waits, ...) are not modeled (digest section 6).
"""

from __future__ import annotations

from ..checker.lang import (
    BOOL,
    FALSE,
    Enum,
    Expr,
    IntType,
    Model,
    Param,
    count,
    forall,
    implies,
    ite,
)

ThreadPC = Enum("thread_pc", [
    "RUNNING",          # user code, or kernel code between freeze points
    "REFRIG_PUBLISH",   # __refrigerator loop top: about to publish TASK_FROZEN
    "REFRIG_CHECK",     # TASK_FROZEN published; re-checks freezing() under freezer_lock next
    "REFRIG_SLEEP",     # freezing() was true: in schedule(), asleep while TASK_FROZEN is set
    "CGROUP2_TRAP",     # do_freezer_trap: TASK_INTERRUPTIBLE|TASK_FREEZABLE sleep (cgroup v2)
    "EXITING",          # do_group_exit -> do_exit, before exit_mm
    "EXIT_OOM_VICTIM",  # exit_mm done (mmput), exit_oom_victim still to run
    "EXITED",           # past exit_mm
])

OomPC = Enum("oom_pc", [
    "IDLE",      # out_of_memory has not picked the victim yet
    "MARK",      # SIGKILL sent under task_lock(victim); mark_oom_victim next
    "THAW",      # mark_oom_victim's thaw loop, one thread per step (thawed)
    "DONE",      # atomic_inc(&oom_victims) done, task_unlock(victim)
])

KNOBS: dict[str, tuple[str, ...]] = {
    # which freezer holds the threads
    "freezer": ("refrigerator", "cgroup2"),
    # which threads mark_oom_victim thaws: the victim thread only (<= 6.17) or the group
    "thaw": ("victim", "group"),
    # what freezing_slow_path() exempts: TIF_MEMDIE of that thread (<= 6.17) or
    # tsk_is_oom_victim(), i.e. signal->oom_mm shared by the group (6.18+)
    "exemption": ("memdie", "oom_victim"),
}
DEFAULT_KNOBS = {"freezer": "refrigerator", "thaw": "victim", "exemption": "memdie"}
SIZES = {"threads": (3, 2, 10)}  # default, min, max

THREAD = "thread"


def thaw_done(m: Model) -> Expr:
    """The thaw loop has visited every thread (for_each_thread has ended)."""
    thawed = m.ref("thawed")
    return forall(THREAD, lambda t: thawed[t])  # type: ignore[index]


def build(sizes: dict[str, int], knobs: dict[str, str]) -> Model:
    n = sizes["threads"]
    m = Model("freezer", sizes={"threads": n}, knobs=dict(knobs))
    m.domain(THREAD, n)
    m.actor(THREAD, "thread")
    m.actor("oom", "OOM killer")
    refrigerator = knobs["freezer"] == "refrigerator"

    pc = m.array("pc", THREAD, ThreadPC,
                 init=(ThreadPC.RUNNING, ThreadPC.REFRIG_SLEEP if refrigerator
                       else ThreadPC.CGROUP2_TRAP),
                 doc="where the thread is (see ThreadPC)")
    frozen = m.array("frozen", THREAD, BOOL, init=(0, 1),
                     doc="TASK_FROZEN in __state (kernel/freezer.c frozen())")
    sigkill = m.array("sigkill", THREAD, BOOL, init=0, doc="SIGKILL pending")
    memdie = m.array("memdie", THREAD, BOOL, init=0, doc="TIF_MEMDIE")
    group_exit = m.var("group_exit", BOOL, init=0, doc="signal->flags has SIGNAL_GROUP_EXIT")
    oom_mm = m.var("oom_mm", BOOL, init=0, doc="signal->oom_mm set: tsk_is_oom_victim()")
    oom_victims = m.var("oom_victims", IntType(-n, n), init=0, doc="the oom_victims counter")
    oom_pc = m.var("oom_pc", OomPC, init=OomPC.IDLE, doc="where the OOM killer is")
    thawed = m.array("thawed", THREAD, BOOL, init=0,
                     doc="mark_oom_victim's thaw loop has visited the thread")
    m.constrain_init(forall(THREAD, lambda t: frozen[t] == (pc[t] == ThreadPC.REFRIG_SLEEP)))

    def freezing(t: Param | int) -> Expr:
        """kernel/freezer.c freezing_slow_path(): the OOM exemption comes before the freezing
        conditions; the cgroup v2 freezer is not a freezing() condition at all."""
        if not refrigerator:
            return FALSE
        exempt = memdie[t] if knobs["exemption"] == "memdie" else oom_mm
        return ~exempt

    m.helpers["freezing"] = freezing
    victim_only = knobs["thaw"] == "victim"
    holds_task_lock = (oom_pc != OomPC.IDLE) & (oom_pc != OomPC.DONE)

    # ---- the OOM killer -----------------------------------------------------------------
    m.action(
        "oom_kill", func="__oom_kill_process", file="mm/oom_kill.c", actor="oom",
        step="find_lock_task_mm(victim), then SIGKILL to the thread group: complete_signal sets "
             "SIGNAL_GROUP_EXIT and SIGKILL on each thread, signal_wake_up(t, fatal) wakes "
             "TASK_INTERRUPTIBLE/WAKEKILL sleepers but never TASK_FROZEN",
        guard=oom_pc == OomPC.IDLE,
        updates={oom_pc: OomPC.MARK, group_exit: 1},
        each=(THREAD, lambda t: {
            sigkill[t]: 1,
            pc[t]: ite(pc[t] == ThreadPC.CGROUP2_TRAP, ThreadPC.RUNNING, pc[t]),
        }),
    )
    m.action(
        "mark_oom_victim", func="mark_oom_victim", file="mm/oom_kill.c", actor="oom",
        step="test_and_set TIF_MEMDIE on the victim thread; cmpxchg signal->oom_mm",
        guard=oom_pc == OomPC.MARK,
        updates={memdie[0]: 1, oom_mm: 1, oom_pc: OomPC.THAW},
    )
    m.action(
        "thaw", func="__thaw_task", file="kernel/freezer.c", actor="oom",
        params={"t": THREAD},
        step=("the victim thread only" if victim_only else
              "thaw_process: for_each_thread, in list order (any order here: the victim "
              "thread is anywhere in the list)")
             + "; under freezer_lock: if frozen(t), wake it (TASK_FROZEN cleared)",
        guard=lambda t: (oom_pc == OomPC.THAW) & ~thawed[t] & ((t == 0) if victim_only else True),
        updates=lambda t: {frozen[t]: 0, thawed[t]: 1},
    )
    m.action(
        "oom_victims_inc", func="mark_oom_victim", file="mm/oom_kill.c", actor="oom",
        step="atomic_inc(&oom_victims); __oom_kill_process then does task_unlock(victim)",
        guard=(oom_pc == OomPC.THAW) & (thawed[0] if victim_only else thaw_done(m)),
        updates={oom_victims: oom_victims + 1, oom_pc: OomPC.DONE},
    )

    # ---- each thread of the victim --------------------------------------------------------
    m.action(
        "try_to_freeze", func="try_to_freeze", file="include/linux/freezer.h",
        actor=THREAD, params={"t": THREAD},
        step="a freeze point (get_signal calls it before the SIGNAL_GROUP_EXIT test): "
             "freezing(current) is true, enter __refrigerator",
        guard=lambda t: (pc[t] == ThreadPC.RUNNING) & freezing(t),
        updates=lambda t: {pc[t]: ThreadPC.REFRIG_PUBLISH},
    )
    m.action(
        "refrigerator_publish", func="__refrigerator", file="kernel/freezer.c",
        actor=THREAD, params={"t": THREAD},
        step="under pi_lock: __state = TASK_FROZEN, saved_state = TASK_RUNNING",
        guard=lambda t: pc[t] == ThreadPC.REFRIG_PUBLISH,
        updates=lambda t: {frozen[t]: 1, pc[t]: ThreadPC.REFRIG_CHECK},
    )
    m.action(
        "refrigerator_recheck", func="__refrigerator", file="kernel/freezer.c",
        actor=THREAD, params={"t": THREAD},
        step="under freezer_lock: freeze = freezing(current); if false leave the loop "
             "(__state = TASK_RUNNING), else schedule()",
        guard=lambda t: pc[t] == ThreadPC.REFRIG_CHECK,
        updates=lambda t: {
            pc[t]: ite(freezing(t), ThreadPC.REFRIG_SLEEP, ThreadPC.RUNNING),
            frozen[t]: ite(freezing(t), frozen[t], 0),
        },
    )
    m.action(
        "refrigerator_wakeup", func="__refrigerator", file="kernel/freezer.c",
        actor=THREAD, params={"t": THREAD},
        step="schedule() returns once a wakeup cleared TASK_FROZEN (only __thaw_task does); "
             "loop again",
        guard=lambda t: (pc[t] == ThreadPC.REFRIG_SLEEP) & ~frozen[t],
        updates=lambda t: {pc[t]: ThreadPC.REFRIG_PUBLISH},
    )
    if not refrigerator:
        m.action(
            "do_freezer_trap", func="do_freezer_trap", file="kernel/signal.c",
            actor=THREAD, params={"t": THREAD},
            step="cgroup v2 freeze trap from get_signal (no SIGNAL_GROUP_EXIT yet): sleep "
                 "TASK_INTERRUPTIBLE|TASK_FREEZABLE, which SIGKILL wakes",
            guard=lambda t: (pc[t] == ThreadPC.RUNNING) & ~group_exit,
            updates=lambda t: {pc[t]: ThreadPC.CGROUP2_TRAP},
        )
    m.action(
        "get_signal_fatal", func="get_signal", file="kernel/signal.c",
        actor=THREAD, params={"t": THREAD},
        step="try_to_freeze() found freezing() false; SIGNAL_GROUP_EXIT: fatal, "
             "do_group_exit() -> do_exit()",
        guard=lambda t: (pc[t] == ThreadPC.RUNNING) & sigkill[t] & ~freezing(t),
        updates=lambda t: {pc[t]: ThreadPC.EXITING},
    )
    m.action(
        "exit_mm", func="exit_mm", file="kernel/exit.c", actor=THREAD, params={"t": THREAD},
        step="task_lock(current) (held by the OOM killer on the victim until mark_oom_victim "
             "returns); current->mm = NULL; mmput()",
        guard=lambda t: (pc[t] == ThreadPC.EXITING) & ~((t == 0) & holds_task_lock),
        updates=lambda t: {
            pc[t]: ite(memdie[t], ThreadPC.EXIT_OOM_VICTIM, ThreadPC.EXITED),
        },
    )
    m.action(
        "exit_oom_victim", func="exit_oom_victim", file="mm/oom_kill.c",
        actor=THREAD, params={"t": THREAD},
        step="exit_mm saw TIF_MEMDIE: clear it; atomic_dec_return(&oom_victims)",
        guard=lambda t: pc[t] == ThreadPC.EXIT_OOM_VICTIM,
        updates=lambda t: {memdie[t]: 0, oom_victims: oom_victims - 1, pc[t]: ThreadPC.EXITED},
    )

    all_exited = forall(THREAD, lambda t: pc[t] == ThreadPC.EXITED)
    m.set_final(all_exited & (oom_pc == OomPC.DONE))

    # ---- properties ---------------------------------------------------------------------
    m.leads_to(
        "victim-exits", group_exit, all_exited,
        "once the OOM killer has sent SIGKILL, every thread of the victim eventually exits "
        "(weak fairness on every step)",
    )
    m.no_deadlock("no-deadlock", "some step is enabled until every thread has exited")
    m.invariant(
        "oom-victims-balance",
        (oom_victims >= 0) & implies(all_exited & (oom_pc == OomPC.DONE), oom_victims == 0),
        "oom_victims never goes negative, and is back to 0 once the victim has exited",
    )
    m.invariant(
        "oom-victims-counts-memdie",
        implies(oom_pc == OomPC.DONE,
                oom_victims == count(THREAD, lambda t: memdie[t])),
        "after mark_oom_victim, oom_victims equals the number of threads holding TIF_MEMDIE "
        "that have not yet run exit_oom_victim (what oom_killer_disable waits on)",
    )
    m.invariant(
        "memdie-single-thread",
        count(THREAD, lambda t: memdie[t]) <= 1,
        "TIF_MEMDIE marks only the thread the OOM killer picked (it denotes access to reserves)",
    )
    m.invariant(
        "no-frozen-after-thaw",
        implies(oom_pc == OomPC.DONE,
                forall(THREAD, lambda t: ~((pc[t] == ThreadPC.REFRIG_SLEEP) & frozen[t]))),
        "once mark_oom_victim has returned, no thread of the victim sleeps in the refrigerator",
    )
    m.invariant(
        "no-lost-thaw",
        implies(oom_pc == OomPC.DONE,
                forall(THREAD, lambda t: implies((pc[t] == ThreadPC.REFRIG_SLEEP) & frozen[t],
                                                 freezing(t)))),
        "once mark_oom_victim has returned, a thread asleep in the refrigerator is one the "
        "freezer still wants frozen: none is exempt yet asleep with no thaw to come",
    )
    m.invariant(
        "frozen-only-in-refrigerator",
        forall(THREAD, lambda t: implies(frozen[t], (pc[t] == ThreadPC.REFRIG_CHECK)
                                         | (pc[t] == ThreadPC.REFRIG_SLEEP))),
        "TASK_FROZEN is set only inside __refrigerator (a sanity check of the model)",
    )
    return m
